"""``wharf daemon``: pid file, sockets, live restore at start, graceful stop on SIGTERM.

A stop (SIGTERM/SIGINT) closes the sockets and exits; containers keep running and the next
daemon re-adopts them. A ``kill -9`` is survived the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from aiohttp import web

from wharf.daemon.assemble import assemble
from wharf.daemon.config import DaemonConfig, socket_path
from wharf.errors import Conflict
from wharf.runtime.engine import Zygote

__all__ = ["run"]

log = logging.getLogger("wharf.daemon")


def _claim_pidfile(path: Path) -> None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pass
        else:
            raise Conflict(
                f"pid file found ({path}), ensure wharf daemon is not running (pid {pid})"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)


async def _serve(config: DaemonConfig, engine_app: web.Application, restore: object) -> None:
    runner = web.AppRunner(
        engine_app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    await restore  # type: ignore[misc]
    for host in config.hosts:
        path = socket_path(host)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        site = web.UnixSite(runner, path, backlog=1024)
        await site.start()
        os.chmod(path, 0o660)
        log.info("API listening on %s", path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: containers keep running (live restore)")
    await runner.cleanup()


def run(config: DaemonConfig, zygote: Zygote | None = None) -> None:
    """Run the daemon until SIGTERM/SIGINT (``zygote``: see :func:`assemble`)."""
    config.validate()
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _claim_pidfile(config.pidfile)
    engine = assemble(config, zygote)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_serve(config, engine.app, engine.containers.restore()))
    finally:
        engine.close()
        for host in config.hosts:
            with contextlib.suppress(OSError):
                os.unlink(socket_path(host))
        with contextlib.suppress(OSError):
            if config.pidfile.read_text().strip() == str(os.getpid()):
                config.pidfile.unlink()
        log.info("stopped")
        logging.shutdown()
    # Worker threads blocked on a client's pipe must not hold the exit; the state is on disk.
    os._exit(0)
