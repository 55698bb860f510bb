"""Container commands: run, create, start, stop, ps, logs, exec, cp, ... (docker's flags)."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from wharf.cli._common import (
    EXIT_DAEMON,
    age,
    client,
    copy_out,
    fail,
    handle_errors,
    on_resize,
    parse_filters,
    print_table,
    pump,
    raw_terminal,
    terminal_size,
)

if TYPE_CHECKING:
    from wharf.client.client import PendingWait

__all__ = [
    "attach",
    "cp",
    "create",
    "diff",
    "exec_",
    "export",
    "inspect",
    "kill",
    "logs",
    "pause",
    "ps",
    "rename",
    "restart",
    "rm",
    "run",
    "start",
    "stop",
    "top",
    "unpause",
    "update",
    "wait",
]

_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(value: str, flag: str) -> int:
    """``64m`` -> bytes (docker's binary units); ``-1`` stays -1."""
    text = value.strip().lower().removesuffix("b") if value.strip().lower() != "b" else "b"
    if text == "-1":
        return -1
    unit = 1
    if text and text[-1] in _UNITS:
        unit = _UNITS[text[-1]]
        text = text[:-1]
    try:
        return int(float(text) * unit)
    except ValueError:
        raise click.BadParameter(f"invalid size: {value!r}", param_hint=flag) from None


def _exit_code_for_start_error(message: str) -> int:
    # The docker CLI's rule for `run`: the daemon's start error text names the cause.
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message:
        return 126
    return EXIT_DAEMON


def _networking(opts: dict[str, Any], config: dict[str, Any]) -> None:
    """Ports, volumes, mounts, DNS and network aliases of ``run``/``create``."""
    from wharf.apitypes.networks import parse_mount_flag, parse_publish
    from wharf.errors import InvalidArgument

    host = config["HostConfig"]
    try:
        bindings = [b for spec in opts["publish"] for b in parse_publish(spec)]
        mounts = [parse_mount_flag(spec).to_json() for spec in opts["mount"]]
    except InvalidArgument as exc:
        raise click.BadParameter(str(exc)) from None
    ports: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        ports.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": b.host_ports})
    exposed: dict[str, dict[str, str]] = {key: {} for key in ports}
    for item in opts["expose"]:
        port, _, proto = item.partition("/")
        exposed[f"{port}/{proto or 'tcp'}"] = {}
    mounts += [{"Type": "tmpfs", "Target": path} for path in opts["tmpfs"]]
    host.update(
        {
            "PortBindings": ports,
            "PublishAllPorts": opts["publish_all"],
            "Binds": list(opts["volume"]),
            "Mounts": mounts,
            "VolumesFrom": list(opts["volumes_from"]),
            "Dns": list(opts["dns"]),
            "ExtraHosts": list(opts["add_host"]),
        }
    )
    config["ExposedPorts"] = exposed
    network = opts["network"] or "default"
    if opts["network_alias"]:
        config["NetworkingConfig"] = {
            "EndpointsConfig": {network: {"Aliases": list(opts["network_alias"])}}
        }


def _device(value: str) -> dict[str, str]:
    """``/dev/X[:/dev/Y][:rwm]`` -> a ``HostConfig.Devices`` entry (docker's parsing)."""
    parts = value.split(":")
    if len(parts) > 3 or not parts[0]:
        raise click.BadParameter(f"invalid device specification: {value}", param_hint="--device")
    host, inside, mode = parts[0], parts[0], "rwm"
    if len(parts) == 3:
        inside, mode = parts[1], parts[2]
    elif len(parts) == 2:
        if parts[1] and set(parts[1]) <= set("rwm") and len(set(parts[1])) == len(parts[1]):
            mode = parts[1]
        else:
            inside = parts[1]
    return {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": mode}


def _config(opts: dict[str, Any], image: str, command: tuple[str, ...]) -> dict[str, Any]:
    restart = opts["restart"] or "no"
    name, _, count = restart.partition(":")
    host: dict[str, Any] = {
        "AutoRemove": opts["rm"],
        "NetworkMode": opts["network"] or "default",
        "RestartPolicy": {"Name": name, "MaximumRetryCount": int(count or 0)},
        "Init": opts["init"] or None,
        "Privileged": opts["privileged"],
        "ReadonlyRootfs": opts["read_only"],
        "Devices": [_device(item) for item in opts["device"]],
        "CapAdd": list(opts["cap_add"]),
        "CapDrop": list(opts["cap_drop"]),
    }
    if opts["memory"]:
        host["Memory"] = parse_bytes(opts["memory"], "--memory")
    if opts["memory_swap"]:
        host["MemorySwap"] = parse_bytes(opts["memory_swap"], "--memory-swap")
    if opts["cpus"]:
        host["NanoCpus"] = int(float(opts["cpus"]) * 1e9)
    if opts["cpu_shares"]:
        host["CpuShares"] = opts["cpu_shares"]
    if opts["cpuset_cpus"]:
        host["CpusetCpus"] = opts["cpuset_cpus"]
    if opts["pids_limit"] is not None:
        host["PidsLimit"] = opts["pids_limit"]
    if opts["blkio_weight"]:
        host["BlkioWeight"] = opts["blkio_weight"]
    labels = {}
    for item in opts["label"]:
        key, _, value = item.partition("=")
        labels[key] = value
    tty, interactive = opts["tty"], opts["interactive"]
    config: dict[str, Any] = {
        "Image": image,
        "Cmd": list(command) or None,
        "Env": list(opts["env"]),
        "WorkingDir": opts["workdir"] or "",
        "User": opts["user"] or "",
        "Labels": labels,
        "Tty": tty,
        "OpenStdin": interactive,
        "StdinOnce": interactive,
        "AttachStdin": interactive,
        "AttachStdout": True,
        "AttachStderr": True,
        "Hostname": opts["hostname"] or "",
        "HostConfig": host,
    }
    if opts["entrypoint"] is not None:
        config["Entrypoint"] = [opts["entrypoint"]] if opts["entrypoint"] else []
    _networking(opts, config)
    if tty:
        host["ConsoleSize"] = list(terminal_size() or (0, 0))
    return config


def _create_options(fn: Any) -> Any:
    options = [
        click.option("-e", "--env", multiple=True, help="Set environment variables."),
        click.option("-w", "--workdir", help="Working directory inside the container."),
        click.option("-u", "--user", help="Username or UID[:GID]."),
        click.option("--name", help="Assign a name to the container."),
        click.option("-l", "--label", multiple=True, help="Set metadata (key=value)."),
        click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        click.option("--rm", is_flag=True, help="Remove the container when it exits."),
        click.option("-m", "--memory", help="Memory limit (e.g. 64m)."),
        click.option("--memory-swap", help="Memory + swap limit; -1 for unlimited swap."),
        click.option("--cpus", help="Number of CPUs (e.g. 0.5)."),
        click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)."),
        click.option("--cpuset-cpus", help="CPUs allowed (0-3, 0,1)."),
        click.option("--pids-limit", type=int, help="Process limit (-1 unlimited)."),
        click.option("--blkio-weight", type=int, help="Block IO weight (10-1000)."),
        click.option("--restart", help="no, always, unless-stopped, on-failure[:max]."),
        click.option("-h", "--hostname", help="Container host name."),
        click.option("--entrypoint", help="Overwrite the image's entrypoint."),
        click.option("--network", help="bridge, host, none, container:NAME or a network name."),
        click.option("-p", "--publish", multiple=True, help="[ip:]hostPort:ctrPort[/proto]."),
        click.option("-P", "--publish-all", is_flag=True, help="Publish exposed ports."),
        click.option("--expose", multiple=True, help="Expose a port or range."),
        click.option("-v", "--volume", multiple=True, help="/host:/ctr[:ro] or name:/ctr."),
        click.option("--mount", multiple=True, help="type=bind|volume|tmpfs,target=..."),
        click.option("--tmpfs", multiple=True, help="Mount a tmpfs at this path."),
        click.option("--volumes-from", multiple=True, help="Mount another container's volumes."),
        click.option("--network-alias", multiple=True, help="Alias on the network."),
        click.option("--dns", multiple=True, help="DNS server."),
        click.option("--add-host", multiple=True, help="HOST:IP line in /etc/hosts."),
        click.option("--init", is_flag=True, help="Run an init inside the container."),
        click.option("--privileged", is_flag=True, help="Extended privileges."),
        click.option("--device", multiple=True, help="/dev/X[:/dev/Y][:rwm] host device."),
        click.option("--cap-add", multiple=True, help="Add a Linux capability (or ALL)."),
        click.option("--cap-drop", multiple=True, help="Drop a Linux capability (or ALL)."),
        click.option("--read-only", is_flag=True, help="Read-only root filesystem."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _create(ctx: click.Context, opts: dict[str, Any], image: str, command: tuple[str, ...]) -> str:
    from wharf.errors import NotFound, WharfError

    api = client(ctx)
    config = _config(opts, image, command)
    try:
        return api.create_container(config, name=opts["name"])
    except NotFound as exc:
        if "No such image" not in str(exc):
            raise
        click.echo(f"Unable to find image '{image}' locally", err=True)
        try:
            for _ in api.pull(image, None):
                pass
        except WharfError as pull_error:
            fail(f"wharf: Error response from daemon: {pull_error}", EXIT_DAEMON)
        return api.create_container(config, name=opts["name"])


@click.command(context_settings={"allow_interspersed_args": False})
@_create_options
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the ID.")
@click.option("--detach-keys", help="Key sequence for detaching (default ctrl-p,ctrl-q).")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, /, *, image: str, command: tuple[str, ...], **opts: Any) -> None:
    """Create and run a new container from an image."""
    from wharf.errors import WharfError

    api = client(ctx)
    try:
        cid = _create(ctx, opts, image, command)
    except WharfError as exc:
        fail(f"wharf: Error response from daemon: {exc}", EXIT_DAEMON)
        return
    if opts["detach"]:
        try:
            api.start(cid)
        except WharfError as exc:
            fail(f"wharf: Error response from daemon: {exc}", _exit_code_for_start_error(str(exc)))
        click.echo(cid)
        return
    tty, interactive = opts["tty"], opts["interactive"]
    try:
        stream = api.attach(cid, stdin=interactive, detach_keys=opts["detach_keys"])
    except WharfError as exc:
        fail(f"wharf: Error response from daemon: {exc}", EXIT_DAEMON)
        return
    try:
        pending = api.wait_begin(cid, condition="removed" if opts["rm"] else "next-exit")
    except WharfError as exc:
        fail(f"wharf: Error response from daemon: {exc}", EXIT_DAEMON)
        return
    result: dict[str, Any] = {}
    waiter = threading.Thread(target=_wait_into, args=(pending, result), daemon=True)
    waiter.start()
    try:
        api.start(cid)
    except WharfError as exc:
        stream.close()
        if opts["rm"]:
            waiter.join(10)
        fail(f"wharf: Error response from daemon: {exc}", _exit_code_for_start_error(str(exc)))
    if tty:
        on_resize(lambda h, w: api.resize(cid, height=h, width=w))
    with raw_terminal(tty and interactive):
        pump(stream, tty=tty, stdin=interactive)
    stream.close()
    waiter.join()
    if "error" in result:
        fail(f"wharf: {result['error']}", EXIT_DAEMON)
    sys.exit(result.get("code", 0))


def _wait_into(pending: PendingWait, result: dict[str, Any]) -> None:
    from wharf.errors import WharfError

    try:
        result["code"] = pending.result()
    except (WharfError, OSError, ValueError) as exc:
        result["error"] = str(exc)


@click.command(context_settings={"allow_interspersed_args": False})
@_create_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@handle_errors()
def create(ctx: click.Context, /, *, image: str, command: tuple[str, ...], **opts: Any) -> None:
    """Create a new container."""
    click.echo(_create(ctx, opts, image, command))


def _each(ctx: click.Context, refs: tuple[str, ...], action: Any) -> None:
    from wharf.errors import NotModified, WharfError

    failed = False
    for ref in refs:
        try:
            action(ref)
        except NotModified:
            pass
        except WharfError as exc:
            click.echo(f"Error response from daemon: {exc}", err=True)
            failed = True
            continue
        click.echo(ref)
    if failed:
        sys.exit(1)


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def start(ctx: click.Context, /, *, containers: tuple[str, ...]) -> None:
    """Start one or more stopped containers."""
    _each(ctx, containers, client(ctx).start)


@click.command()
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def stop(ctx: click.Context, /, *, timeout: int | None, containers: tuple[str, ...]) -> None:
    """Stop one or more running containers."""
    api = client(ctx)
    _each(ctx, containers, lambda ref: api.stop(ref, timeout=timeout))


@click.command()
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def restart(ctx: click.Context, /, *, timeout: int | None, containers: tuple[str, ...]) -> None:
    """Restart one or more containers."""
    api = client(ctx)
    _each(ctx, containers, lambda ref: api.restart(ref, timeout=timeout))


@click.command()
@click.option("-s", "--signal", "sig", help="Signal to send (default KILL).")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def kill(ctx: click.Context, /, *, sig: str | None, containers: tuple[str, ...]) -> None:
    """Kill one or more running containers."""
    api = client(ctx)
    _each(ctx, containers, lambda ref: api.kill(ref, signal=sig))


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def pause(ctx: click.Context, /, *, containers: tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""
    _each(ctx, containers, client(ctx).pause)


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def unpause(ctx: click.Context, /, *, containers: tuple[str, ...]) -> None:
    """Unpause all processes within one or more containers."""
    _each(ctx, containers, client(ctx).unpause)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container.")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, /, *, force: bool, volumes: bool, containers: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    api = client(ctx)
    _each(ctx, containers, lambda ref: api.remove(ref, force=force, volumes=volumes))


def ports_text(ports: list[dict[str, Any]]) -> str:
    """The PORTS column as ``docker ps`` shows it: ``127.0.0.1:8080->80/tcp, 443/tcp``."""
    shown = []
    for p in ports:
        target = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        public = p.get("PublicPort")
        shown.append(f"{p.get('IP') or '0.0.0.0'}:{public}->{target}" if public else target)
    return ", ".join(shown)


def _command_text(c: dict[str, Any], trunc: bool) -> str:
    text = c.get("Command", "")
    if trunc and len(text) > 20:
        text = text[:19] + "…"
    return json.dumps(text, ensure_ascii=False)


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers.")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option(
    "-f", "--filter", "filters", multiple=True, help="Filter (status=, name=, label=...)."
)
@click.option("-n", "--last", type=int, help="Show n last created containers.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.pass_context
@handle_errors()
def ps(
    ctx: click.Context,
    /,
    *,
    all_: bool,
    quiet: bool,
    filters: tuple[str, ...],
    last: int | None,
    no_trunc: bool,
) -> None:
    """List containers."""
    items = client(ctx).containers(
        all=all_ or last is not None, filters=parse_filters(filters), limit=last
    )
    if quiet:
        for c in items:
            click.echo(c["Id"] if no_trunc else c["Id"][:12])
        return
    rows = [
        [
            c["Id"] if no_trunc else c["Id"][:12],
            c["Image"],
            _command_text(c, not no_trunc),
            age(c["Created"]),
            c["Status"],
            ports_text(c.get("Ports") or []),
            ",".join(n.lstrip("/") for n in c["Names"]),
        ]
        for c in items
    ]
    print_table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], rows)


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help="Lines to show from the end.")
@click.option("--since", help="Show logs since a timestamp.")
@click.option("--until", help="Show logs before a timestamp.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.argument("container")
@click.pass_context
@handle_errors()
def logs(
    ctx: click.Context,
    /,
    *,
    follow: bool,
    tail: str,
    since: str | None,
    until: str | None,
    timestamps: bool,
    container: str,
) -> None:
    """Fetch the logs of a container."""
    api = client(ctx)
    tty = bool(api.inspect(container)["Config"]["Tty"])
    copy_out(
        api.logs(
            container, follow=follow, tail=tail, since=since, until=until, timestamps=timestamps
        ),
        tty,
    )


@click.command()
@click.option("--condition", default=None, hidden=True)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
@handle_errors()
def wait(ctx: click.Context, /, *, condition: str | None, containers: tuple[str, ...]) -> None:
    """Block until containers stop, then print their exit codes."""
    api = client(ctx)
    for ref in containers:
        click.echo(api.wait(ref, condition=condition))


@click.command()
@click.option("-f", "--format", "fmt", help="Print one field with a dotted path (e.g. .State.Pid).")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, /, *, fmt: str | None, names: tuple[str, ...]) -> None:
    """Return low-level information on containers or images."""
    from wharf.errors import NotFound

    api = client(ctx)
    found: list[dict[str, Any]] = []
    missing = False
    for name in names:
        try:
            found.append(api.inspect(name))
            continue
        except NotFound:
            pass
        try:
            found.append(api.image_inspect(name))
        except NotFound:
            click.echo(f"Error: No such object: {name}", err=True)
            missing = True
    if fmt:
        for obj in found:
            click.echo(_field(obj, fmt))
    else:
        click.echo(json.dumps(found, indent=4))
    if missing:
        sys.exit(1)


def _field(obj: Any, path: str) -> str:
    """``{{.State.Pid}}`` or ``.State.Pid`` -> the value, as docker's templates print it."""
    path = path.strip().removeprefix("{{").removesuffix("}}").strip()
    value = obj
    for part in path.lstrip(".").split("."):
        if not part:
            continue
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "<no value>" if value is None else str(value)


@click.command()
@click.argument("container")
@click.pass_context
@handle_errors()
def top(ctx: click.Context, /, *, container: str) -> None:
    """Display the running processes of a container."""
    result = client(ctx).top(container)
    print_table(result["Titles"], result["Processes"])


@click.command()
@click.argument("container")
@click.argument("new_name")
@click.pass_context
@handle_errors()
def rename(ctx: click.Context, /, *, container: str, new_name: str) -> None:
    """Rename a container."""
    client(ctx).rename(container, new_name)


@click.command()
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--detach-keys", help="Key sequence for detaching.")
@click.argument("container")
@click.pass_context
@handle_errors()
def attach(
    ctx: click.Context, /, *, no_stdin: bool, detach_keys: str | None, container: str
) -> None:
    """Attach to a running container's input and output."""
    api = client(ctx)
    config = api.inspect(container)["Config"]
    tty = bool(config["Tty"])
    stdin = bool(config["OpenStdin"]) and not no_stdin
    stream = api.attach(container, stdin=stdin, detach_keys=detach_keys)
    if tty:
        on_resize(lambda h, w: api.resize(container, height=h, width=w))
    with raw_terminal(tty and stdin):
        pump(stream, tty=tty, stdin=stdin)
    stream.close()


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-d", "--detach", is_flag=True, help="Run in the background.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("-w", "--workdir", help="Working directory.")
@click.option("-u", "--user", help="Username or UID[:GID].")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
@handle_errors(EXIT_DAEMON)
def exec_(
    ctx: click.Context,
    /,
    *,
    interactive: bool,
    tty: bool,
    detach: bool,
    env: tuple[str, ...],
    workdir: str | None,
    user: str | None,
    container: str,
    command: tuple[str, ...],
) -> None:
    """Run a command in a running container."""
    api = client(ctx)
    exec_id = api.exec_create(
        container,
        {
            "Cmd": list(command),
            "Env": list(env),
            "WorkingDir": workdir or "",
            "User": user or "",
            "Tty": tty,
            "AttachStdin": interactive and not detach,
            "AttachStdout": not detach,
            "AttachStderr": not detach,
        },
    )
    stream = api.exec_start(exec_id, tty=tty, detach=detach)
    if stream is None:
        return
    if tty:
        on_resize(lambda h, w: api.exec_resize(exec_id, height=h, width=w))
    with raw_terminal(tty and interactive):
        pump(stream, tty=tty, stdin=interactive)
    stream.close()
    code = api.exec_inspect(exec_id).get("ExitCode")
    sys.exit(code or 0)


def _split(arg: str) -> tuple[str | None, str]:
    if ":" in arg and not arg.startswith(("/", ".")):
        container, _, path = arg.partition(":")
        return container, path
    return None, arg


@click.command()
@click.argument("src")
@click.argument("dest")
@click.pass_context
@handle_errors()
def cp(ctx: click.Context, /, *, src: str, dest: str) -> None:
    """Copy files between a container and the local filesystem (CONTAINER:PATH)."""
    import io
    import tarfile

    from wharf.errors import NotFound

    api = client(ctx)
    src_c, src_path = _split(src)
    dest_c, dest_path = _split(dest)
    if (src_c is None) == (dest_c is None):
        fail("wharf cp: exactly one of SRC and DEST must be CONTAINER:PATH", 1)
    if src_c is not None:
        data = b"".join(api.archive_get(src_c, src_path))
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getmembers()
            rename_to = None
            target_dir = dest_path
            if not os.path.isdir(dest_path):
                target_dir = os.path.dirname(os.path.abspath(dest_path))
                rename_to = os.path.basename(dest_path)
            root = members[0].name.split("/")[0] if members else ""
            for member in members:
                if rename_to is not None:
                    member.name = rename_to + member.name[len(root) :]
            tar.extractall(target_dir, members=members, filter="tar")
        return
    assert dest_c is not None
    try:
        stat = api.archive_stat(dest_c, dest_path)
        is_dir = bool(stat["mode"] & (1 << 31))
    except NotFound:
        is_dir = False
    target, arcname = (dest_path, os.path.basename(os.path.normpath(src_path)))
    if not is_dir:
        target = os.path.dirname(dest_path.rstrip("/")) or "/"
        arcname = os.path.basename(dest_path.rstrip("/"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(src_path, arcname=arcname)
    api.archive_put(dest_c, target, iter([buffer.getvalue()]))


@click.command()
@click.option("-o", "--output", help="Write to a file instead of STDOUT.")
@click.argument("container")
@click.pass_context
@handle_errors()
def export(ctx: click.Context, /, *, output: str | None, container: str) -> None:
    """Export a container's filesystem as a tar archive."""
    _write_stream(client(ctx).export(container), output)


def _write_stream(chunks: Iterator[bytes], output: str | None) -> None:
    if output is None and sys.stdout.isatty():
        fail("wharf: refusing to write a tar archive to a terminal; use -o or redirect", 1)
    target = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
    try:
        for chunk in chunks:
            target.write(chunk)
    finally:
        if output:
            target.close()


@click.command()
@click.argument("container")
@click.pass_context
@handle_errors()
def diff(ctx: click.Context, /, *, container: str) -> None:
    """Inspect changes to files on a container's filesystem."""
    for change in client(ctx).changes(container):
        click.echo(f"{'CAD'[change['Kind']]} {change['Path']}")


@click.command()
@click.option("-m", "--memory", help="Memory limit.")
@click.option("--memory-swap", help="Memory + swap limit.")
@click.option("--cpus", help="Number of CPUs.")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares.")
@click.option("--cpuset-cpus", help="CPUs allowed.")
@click.option("--pids-limit", type=int, help="Process limit.")
@click.option("--restart", help="Restart policy.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def update(
    ctx: click.Context,
    /,
    *,
    memory: str | None,
    memory_swap: str | None,
    cpus: str | None,
    cpu_shares: int | None,
    cpuset_cpus: str | None,
    pids_limit: int | None,
    restart: str | None,
    containers: tuple[str, ...],
) -> None:
    """Update configuration of one or more containers."""
    body: dict[str, Any] = {}
    if memory:
        body["Memory"] = parse_bytes(memory, "--memory")
    if memory_swap:
        body["MemorySwap"] = parse_bytes(memory_swap, "--memory-swap")
    if cpus:
        body["NanoCpus"] = int(float(cpus) * 1e9)
    if cpu_shares is not None:
        body["CpuShares"] = cpu_shares
    if cpuset_cpus:
        body["CpusetCpus"] = cpuset_cpus
    if pids_limit is not None:
        body["PidsLimit"] = pids_limit
    if restart:
        name, _, count = restart.partition(":")
        body["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count or 0)}
    api = client(ctx)
    _each(ctx, containers, lambda ref: api.update(ref, body))
