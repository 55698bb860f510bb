"""``--change`` instructions for ``docker import`` and ``docker commit``.

Each change is one Dockerfile instruction: ``CMD``, ``ENTRYPOINT``, ``ENV``, ``EXPOSE``,
``LABEL``, ``USER``, ``VOLUME``, ``WORKDIR``, ``STOPSIGNAL`` (plus ``ONBUILD``), applied in
order to a container config.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Sequence

from wharf.errors import InvalidArgument
from wharf.oci.image import ContainerConfig

__all__ = ["apply_changes"]


def _json_or_shell(instruction: str, args: str) -> tuple[str, ...]:
    if args.startswith("["):
        try:
            value = json.loads(args)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    if not args:
        raise InvalidArgument(f"--change {instruction}: needs arguments")
    return ("/bin/sh", "-c", args)


def _pairs(instruction: str, args: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise InvalidArgument(f"--change {instruction} {args!r}: {exc}") from None
    if not words:
        raise InvalidArgument(f"--change {instruction}: needs arguments")
    if "=" not in words[0]:
        # Legacy form: ``ENV KEY value with spaces``.
        key, _, value = args.strip().partition(" ")
        return [(key, value.strip())]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"--change {instruction} {args!r}: expected KEY=VALUE")
        out.append((key, value))
    return out


def _words(instruction: str, args: str) -> list[str]:
    if args.startswith("["):
        try:
            value = json.loads(args)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    words = args.split()
    if not words:
        raise InvalidArgument(f"--change {instruction}: needs arguments")
    return words


def apply_changes(config: ContainerConfig, changes: Sequence[str]) -> ContainerConfig:
    """Apply ``changes`` to ``config``.

    Raises:
        InvalidArgument: an instruction is unknown, unsupported or malformed.
    """
    for change in changes:
        instruction, _, args = change.strip().partition(" ")
        instruction = instruction.upper()
        args = args.strip()
        if instruction == "CMD":
            config = dataclasses.replace(config, cmd=_json_or_shell(instruction, args))
        elif instruction == "ENTRYPOINT":
            config = dataclasses.replace(config, entrypoint=_json_or_shell(instruction, args))
        elif instruction == "ENV":
            env = [e for e in config.env]
            for key, value in _pairs(instruction, args):
                env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
            config = dataclasses.replace(config, env=tuple(env))
        elif instruction == "LABEL":
            labels = dict(config.labels)
            labels.update(_pairs(instruction, args))
            config = dataclasses.replace(config, labels=labels)
        elif instruction == "EXPOSE":
            ports = set(config.exposed_ports)
            for port in _words(instruction, args):
                number, _, proto = port.partition("/")
                if not number.isdigit() or proto not in ("", "tcp", "udp", "sctp"):
                    raise InvalidArgument(f"--change EXPOSE: invalid port {port!r}")
                ports.add(f"{int(number)}/{proto or 'tcp'}")
            config = dataclasses.replace(config, exposed_ports=tuple(sorted(ports)))
        elif instruction == "VOLUME":
            volumes = set(config.volumes) | set(_words(instruction, args))
            config = dataclasses.replace(config, volumes=tuple(sorted(volumes)))
        elif instruction == "USER":
            config = dataclasses.replace(config, user=_one(instruction, args))
        elif instruction == "WORKDIR":
            config = dataclasses.replace(config, working_dir=_one(instruction, args))
        elif instruction == "STOPSIGNAL":
            config = dataclasses.replace(config, stop_signal=_one(instruction, args))
        elif instruction == "ONBUILD":
            config = dataclasses.replace(config, on_build=(*config.on_build, args))
        else:
            raise InvalidArgument(
                f"--change {change!r}: unsupported instruction {instruction!r} (expected CMD, "
                "ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR)"
            )
    return config


def _one(instruction: str, args: str) -> str:
    if not args:
        raise InvalidArgument(f"--change {instruction}: needs one argument")
    return args
