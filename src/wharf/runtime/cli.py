"""``wharf-runtime``: an OCI runtime with runc's command line.

    wharf-runtime [--root DIR] create [--bundle DIR] [--pid-file F] [--console-socket S] ID
    wharf-runtime start ID | state ID | kill [--all] ID [SIGNAL] | delete [--force] ID
    wharf-runtime run [--bundle DIR] [-d] [--pid-file F] [--console-socket S] [--keep] ID
    wharf-runtime exec [--process FILE | ARGS...] [-t] [--console-socket S] [-d] ID
    wharf-runtime list [--format table|json] [-q] | ps [--format table|json] ID | pause ID
    | resume ID | update [-r FILE|-] [--memory N --pids-limit N ...] ID | spec [--bundle DIR]

Errors go to stderr as one line naming the container (and to ``--log`` in runc's JSON
form with ``--log-format json``, where shims look for them); the exit status is 1, or
127/126 when ``process.args[0]`` is missing / not executable. Imports are lazy so a
command starts fast: only argparse here; the runtime is imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of every CLI start
if TYPE_CHECKING:
    from typing import Any

__all__ = ["main"]

_VERSION = "wharf-runtime version 0.1.0\nspec: 1.0.2"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wharf-runtime", description="An OCI container runtime.")
    p.add_argument("--root", default="/run/wharf-runtime", help="state directory")
    p.add_argument("--log", default="", help="write errors to this file")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true", help="accepted for runc compatibility")
    p.add_argument("--systemd-cgroup", action="store_true", help="accepted; cgroupfs is used")
    p.add_argument("--rootless", default="auto", help="accepted for runc compatibility")
    p.add_argument("-v", "--version", action="version", version=_VERSION)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_id(name: str, help_: str) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help_)
        q.add_argument("id", metavar="ID")
        return q

    for name in ("create", "run"):
        q = with_id(name, f"{name} a container from an OCI bundle")
        q.add_argument("-b", "--bundle", default=".", help="bundle directory (default: .)")
        q.add_argument("--console-socket", default="", help="unix socket to send the pty to")
        q.add_argument("--pid-file", default="", help="write pid 1's host pid here")
        q.add_argument("--no-pivot", action="store_true", help="accepted; pivot_root is used")
        q.add_argument("--no-new-keyring", action="store_true", help="accepted")
        q.add_argument(
            "--preserve-fds", type=int, default=0, help="pass fds 3..3+N-1 to the process"
        )
        if name == "run":
            q.add_argument("-d", "--detach", action="store_true")
            q.add_argument("--keep", action="store_true", help="do not delete after exit")
    with_id("start", "start a created container")
    with_id("state", "print the state JSON of a container")
    q = with_id("kill", "send a signal to a container")
    q.add_argument("signal", nargs="?", default="SIGTERM", metavar="SIGNAL")
    q.add_argument("-a", "--all", action="store_true", help="every process of the container")
    q = with_id("delete", "delete a container")
    q.add_argument("-f", "--force", action="store_true", help="kill it first if it runs")
    q = with_id("update", "change the resource limits of a container")
    q.add_argument("-r", "--resources", default="", help="linux.resources JSON file, - = stdin")
    for flag, help_ in _UPDATE_FLAGS.items():
        q.add_argument(f"--{flag}", default=None, help=help_)
    with_id("pause", "freeze every process of a container")
    with_id("resume", "thaw a paused container")
    q = with_id("ps", "list the processes of a container")
    q.add_argument("-f", "--format", default="table", choices=["table", "json"])
    q.add_argument("ps_args", nargs=argparse.REMAINDER, help="options for ps(1)")
    q = sub.add_parser("spec", help="write a default config.json into the bundle")
    q.add_argument("-b", "--bundle", default=".", help="bundle directory (default: .)")
    q = sub.add_parser("list", help="list containers")
    q.add_argument("-f", "--format", default="table", choices=["table", "json"])
    q.add_argument("-q", "--quiet", action="store_true", help="ids only")
    q = with_id("exec", "run a process in a running container")
    q.add_argument("-p", "--process", default="", help="process.json to run")
    q.add_argument("-t", "--tty", action="store_true")
    q.add_argument("--console-socket", default="")
    q.add_argument("--pid-file", default="")
    q.add_argument("-d", "--detach", action="store_true")
    q.add_argument("--cwd", default="")
    q.add_argument("-e", "--env", action="append", default=[])
    q.add_argument("-u", "--user", default="", help="UID[:GID]")
    q.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    q.add_argument("-c", "--cap", action="append", default=[], help="add a capability")
    q.add_argument("--no-new-privs", action="store_true")
    q.add_argument("argv", nargs=argparse.REMAINDER, metavar="ARGS")
    return p


# runc update's flags -> (linux.resources section, key, number or text).
_UPDATE_FLAGS = {
    "memory": "memory limit in bytes",
    "memory-swap": "memory+swap limit in bytes (-1: unlimited)",
    "memory-reservation": "memory soft limit in bytes",
    "cpu-shares": "relative CPU weight",
    "cpu-quota": "CPU time (us) per period",
    "cpu-period": "CPU period (us)",
    "cpuset-cpus": "CPUs allowed, e.g. 0-1",
    "cpuset-mems": "memory nodes allowed",
    "pids-limit": "maximum number of processes",
    "blkio-weight": "relative block IO weight (10-1000)",
}
_UPDATE_FIELDS = {
    "memory": ("memory", "limit"),
    "memory-swap": ("memory", "swap"),
    "memory-reservation": ("memory", "reservation"),
    "cpu-shares": ("cpu", "shares"),
    "cpu-quota": ("cpu", "quota"),
    "cpu-period": ("cpu", "period"),
    "cpuset-cpus": ("cpu", "cpus"),
    "cpuset-mems": ("cpu", "mems"),
    "pids-limit": ("pids", "limit"),
    "blkio-weight": ("blockIO", "weight"),
}


def _update_resources(args: argparse.Namespace) -> dict[str, Any]:
    from wharf.errors import InvalidArgument

    resources: dict[str, Any] = {}
    if args.resources:
        if args.resources == "-":
            text = sys.stdin.read()
        else:
            with open(args.resources) as f:
                text = f.read()
        try:
            resources = json.loads(text)
        except ValueError as exc:
            raise InvalidArgument(f"update --resources: not valid JSON: {exc}") from None
    for flag, (section, key) in _UPDATE_FIELDS.items():
        value = getattr(args, flag.replace("-", "_"))
        if value is None:
            continue
        if key not in ("cpus", "mems"):
            try:
                value = int(value)
            except ValueError:
                raise InvalidArgument(f"update --{flag}: {value!r} is not a number") from None
        resources.setdefault(section, {})[key] = value
    return resources


def _exec_process(args: argparse.Namespace, config: dict[str, Any]) -> Any:
    from wharf.errors import InvalidArgument
    from wharf.runtime.spec import Process

    if args.process:
        with open(args.process, "rb") as f:
            return Process.from_process_json(json.loads(f.read()))
    if not args.argv:
        raise InvalidArgument(f"exec {args.id}: give a command or --process FILE")
    obj = dict(config.get("process") or {})
    obj["args"] = list(args.argv)
    obj["terminal"] = args.tty
    obj.pop("consoleSize", None)
    obj["env"] = list(obj.get("env") or []) + list(args.env)
    if args.cwd:
        obj["cwd"] = args.cwd
    if args.user:
        uid, _, gid = args.user.partition(":")
        obj["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if args.additional_gids:
        obj["user"] = {**obj.get("user", {}), "additionalGids": args.additional_gids}
    if args.cap:
        caps = {k: list(v) for k, v in (obj.get("capabilities") or {}).items()}
        for key in ("bounding", "effective", "permitted"):
            caps[key] = caps.get(key, []) + args.cap
        obj["capabilities"] = caps
    if args.no_new_privs:
        obj["noNewPrivileges"] = True
    return Process.from_process_json(obj)


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _write_spec(bundle: str) -> None:
    from wharf.errors import AlreadyExists
    from wharf.runtime.template import default_config

    path = os.path.join(bundle, "config.json")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise AlreadyExists(f"{path}: exists already; remove it first") from None
    with os.fdopen(fd, "w") as f:
        json.dump(default_config(), f, indent="\t")


def _run(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "spec":
        _write_spec(args.bundle)
        return 0
    from wharf.runtime.container import Runtime, signal_number

    rt = Runtime(args.root)
    if cmd == "create":
        rt.create(
            args.id,
            bundle=args.bundle,
            console_socket=args.console_socket,
            pid_file=args.pid_file,
            preserve_fds=args.preserve_fds,
        )
    elif cmd == "run":
        return rt.run(
            args.id,
            bundle=args.bundle,
            console_socket=args.console_socket,
            pid_file=args.pid_file,
            detach=args.detach,
            keep=args.keep,
            preserve_fds=args.preserve_fds,
        )
    elif cmd == "start":
        rt.start(args.id)
    elif cmd == "state":
        print(json.dumps(rt.state(args.id), indent=2))
    elif cmd == "kill":
        rt.kill(args.id, signal_number(args.signal), all_processes=args.all)
    elif cmd == "delete":
        rt.delete(args.id, force=args.force)
    elif cmd == "update":
        rt.update(args.id, _update_resources(args))
    elif cmd == "pause":
        rt.pause(args.id)
    elif cmd == "resume":
        rt.resume(args.id)
    elif cmd == "list":
        infos = rt.containers()
        if args.quiet:
            for info in infos:
                print(info.record.id)
        elif args.format == "json":
            print(json.dumps([i.record.oci_state(i.status) for i in infos]))
        else:
            rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
            for i in infos:
                state = i.record.oci_state(i.status)
                rows.append(
                    [
                        i.record.id,
                        str(state["pid"]),
                        i.status.value,
                        i.record.bundle,
                        i.record.created,
                        "root",
                    ]
                )
            _print_table(rows)
    elif cmd == "ps":
        pids = rt.ps(args.id)
        if args.format == "json":
            print(json.dumps(pids))
        else:
            import subprocess

            out = subprocess.run(
                ["ps", *(args.ps_args or ["-ef"])], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            column = out[0].split().index("PID")
            print(out[0])
            for line in out[1:]:
                if int(line.split()[column]) in pids:
                    print(line)
    elif cmd == "exec":
        record = rt.store.load(args.id)
        process = _exec_process(args, dict(record.config))
        return rt.exec(
            args.id,
            process,
            console_socket=args.console_socket,
            pid_file=args.pid_file,
            detach=args.detach,
        )
    return 0


def _log_error(args: argparse.Namespace, message: str) -> None:
    print(f"wharf-runtime: {message}", file=sys.stderr)
    if not args.log:
        return
    if args.log_format == "json":
        import datetime

        now = datetime.datetime.now(datetime.UTC).isoformat()
        line = json.dumps({"level": "error", "msg": message, "time": now})
    else:
        line = f"error: {message}"
    with open(args.log, "a") as f:
        f.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (``run``/``exec``: the process's)."""
    args = _parser().parse_args(argv)
    from wharf.errors import WharfError

    try:
        code = _run(args)
    except WharfError as exc:
        _log_error(args, str(exc))
        from wharf.runtime.sync import ExecutableNotFound, NotExecutable

        if isinstance(exc, ExecutableNotFound):
            return 127
        return 126 if isinstance(exc, NotExecutable) else 1
    except OSError as exc:
        _log_error(args, f"{args.command} {getattr(args, 'id', '')}: {exc}")
        return 1
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
