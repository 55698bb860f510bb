"""The composition root: the only place that constructs the concrete runtime, image store and
services, and hands them to the API routers (moby's ``initRouters``).

Order matters: the runtime's zygote is forked first, while the process has one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from wharf.api import Backends, make_app
from wharf.daemon.build import BuildService, DaemonBuildBackend
from wharf.daemon.config import DaemonConfig
from wharf.daemon.containers import ContainerService
from wharf.daemon.distribution import DistributionService
from wharf.daemon.events import EventBus
from wharf.daemon.exec import ExecService
from wharf.daemon.health import HealthService
from wharf.daemon.images import ImageService
from wharf.daemon.imagestore import ImageConfigReader, ImageStoreAdapter
from wharf.daemon.networks import NetworkConfig, NetworkService
from wharf.daemon.store import ContainerRecord, ContainerStore
from wharf.daemon.system import SystemService
from wharf.daemon.volumes import VolumeService
from wharf.images import ImageService as ImageStoreService
from wharf.runtime.engine import MonitoredRuntime, WharfRuntime, Zygote, start_zygote
from wharf.runtime.runc import OCIBinaryRuntime

__all__ = ["Engine", "assemble"]

# Short names: monitors' sockets live under <exec-root>/<dir>/<64-hex id>/exec/<id>/ and unix
# socket paths are limited to 108 bytes.
_STATE_DIRS = {"wharf": "rt", "runc": "rr", "crun": "rc"}


@dataclass
class Engine:
    """Everything a running daemon holds."""

    app: web.Application
    containers: ContainerService
    runtime: MonitoredRuntime
    image_store: ImageStoreService
    networks: NetworkService | None = None

    def close(self) -> None:
        """Release the runtime's sessions and zygote, and the image store. Containers keep
        running (live restore)."""
        self.runtime.close()
        self.containers.log_watcher.close()
        if self.networks is not None:
            self.networks.close()
        self.image_store.close()


def assemble(config: DaemonConfig, zygote: Zygote | None = None) -> Engine:
    """Build the engine for ``config`` (call before starting any thread).

    Args:
        config: the daemon's settings.
        zygote: a zygote the caller forked before importing the daemon (so that it, and
            every monitor it forks, shares only the runtime's pages); one is forked here
            if None.
    """
    zygote = zygote if zygote is not None else start_zygote()
    state_root = str(config.exec_root / _STATE_DIRS[config.runtime])
    runtime: MonitoredRuntime
    if config.runtime == "wharf":
        runtime = WharfRuntime(state_root, zygote=zygote)
    else:
        runtime = OCIBinaryRuntime(config.runtime, state_root, zygote=zygote)
    data_root = Path(config.data_root)
    image_store = ImageStoreService(data_root / "image")
    images = ImageStoreAdapter(image_store)
    events = EventBus()
    containers = ContainerService(
        store=ContainerStore(data_root),
        runtime=runtime,
        images=images,
        events=events,
        cgroup_parent=config.cgroup_parent,
        init_path=config.init_path,
        init_default=config.init,
    )
    networks = NetworkService(
        NetworkConfig(
            data_root=data_root,
            exec_root=Path(config.exec_root),
            bridge=config.bridge,
            bip=config.bip,
        ),
        containers.store,
    )
    volumes = VolumeService(data_root / "volumes", containers.store, ImageConfigReader(image_store))
    containers.hooks += [volumes, networks]
    containers.restore_hooks.append(networks.reconcile)
    containers.restore_hooks.append(volumes.reconcile)

    def summary_extras(record: ContainerRecord) -> dict[str, Any]:
        return {
            "network_settings": networks.settings(record),
            "ports": tuple(networks.summary_ports(record)),
            "mounts": tuple(volumes.inspect_mounts(record)),
        }

    containers.summary_extras = summary_extras
    containers.view_extras = lambda record: {
        **summary_extras(record),
        "files": networks.names.files(record.id),
    }
    execs = ExecService(containers)
    HealthService(containers)  # hooks itself into the containers' start, exit and removal
    image_service = ImageService(images, containers, events)
    system = SystemService(
        containers=containers,
        images=image_service,
        image_store=images,
        events=events,
        data_root=data_root,
        runtime_name=config.runtime,
    )
    distribution = DistributionService(image_store, config.registry_hosts, events)
    app = make_app(
        Backends(
            system=system,
            containers=containers,
            execs=execs,
            images=image_service,
            distribution=distribution,
            builds=BuildService(
                DaemonBuildBackend(image_store, containers, data_root / "build"),
                max_context_size=config.max_build_context,
            ),
            networks=networks,
            volumes=volumes,
        )
    )
    return Engine(
        app=app,
        containers=containers,
        runtime=runtime,
        image_store=image_store,
        networks=networks,
    )
