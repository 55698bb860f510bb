"""Shared wire helpers: query booleans and integers, ``filters``, typed field access."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from wharf.errors import InvalidArgument

__all__ = [
    "API_VERSION",
    "MIN_API_VERSION",
    "Filters",
    "Obj",
    "get_bool",
    "get_int",
    "get_map",
    "get_obj",
    "get_str",
    "get_str_list",
    "parse_bool",
    "parse_filters",
    "parse_int",
]

API_VERSION: Final = "1.41"
MIN_API_VERSION: Final = "1.24"

Obj = Mapping[str, Any]
Filters = dict[str, list[str]]
"""Parsed ``filters``: filter name -> accepted values (``{"status": ["running"]}``)."""

_FALSE: Final = frozenset({"", "0", "no", "false", "none"})
_T = TypeVar("_T")


def parse_bool(value: str | None) -> bool:
    """A query boolean the way moby's ``BoolValue`` reads it (``""``/0/no/false/none are false)."""
    return value is not None and value.strip().lower() not in _FALSE


def parse_int(name: str, value: str | None, default: int) -> int:
    """A query integer, or ``default`` when absent or empty.

    Raises:
        InvalidArgument: the value is not an integer.
    """
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(
            f"query parameter {name}: expected an integer, got {value!r}"
        ) from None


def parse_filters(raw: str | None) -> Filters:
    """Parse the ``filters`` query: ``{"k":{"v":true}}`` (map form) or ``{"k":["v"]}`` (list form).

    Raises:
        InvalidArgument: not JSON, or not one of the two forms.
    """
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"filters: expected JSON, got {raw[:80]!r}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("filters: expected a JSON object of filter name -> values")
    out: Filters = {}
    for key, values in data.items():
        if isinstance(values, dict):
            out[key] = [str(v) for v, on in values.items() if on]
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            out[key] = list(values)
        else:
            raise InvalidArgument(f"filters.{key}: expected a map of value -> true or a list")
    return out


def _type_error(field: str, expected: str, value: object) -> InvalidArgument:
    shown = json.dumps(value)[:60] if _jsonable(value) else repr(value)[:60]
    return InvalidArgument(f"{field}: expected {expected}, got {shown}")


def _jsonable(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def get_obj(data: Obj, key: str, field: str) -> Obj:
    """``data[key]`` as an object; a missing key or JSON null gives ``{}``."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _type_error(field, "an object", value)
    return value


def get_str(data: Obj, key: str, field: str, default: str = "") -> str:
    """``data[key]`` as a string (null -> ``default``)."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _type_error(field, "a string", value)
    return value


def get_bool(data: Obj, key: str, field: str, default: bool = False) -> bool:
    """``data[key]`` as a boolean (null -> ``default``)."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _type_error(field, "a boolean", value)
    return value


def get_int(data: Obj, key: str, field: str, default: int = 0) -> int:
    """``data[key]`` as an integer (null -> ``default``); booleans and floats are refused."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(field, "an integer", value)
    return value


def get_str_list(data: Obj, key: str, field: str) -> tuple[str, ...] | None:
    """``data[key]`` as a list of strings; a bare string is one element (as Go's StrSlice)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(field, "a list of strings", value)
    return tuple(value)


def get_map(data: Obj, key: str, field: str) -> dict[str, str]:
    """``data[key]`` as a string -> string map (null -> ``{}``)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _type_error(field, "a map of strings", value)
    return dict(value)
