"""Wire JSON <-> typed values for the Docker Engine API (v1.41), shared by ``api/`` and ``client/``.

Model: every request body or query the API accepts is parsed here by a named constructor
(``from_json`` / ``parse_*``) that validates as it goes and raises
:class:`wharf.errors.InvalidArgument` naming the offending field (``HostConfig.Memory: expected
an integer, got "lots"``). Unknown fields are tolerated, as dockerd tolerates them. Every response
is a frozen value with a ``to_json`` method that emits exactly the field names and JSON types the
Go client decodes strictly (``Created`` is an int in lists and an RFC 3339 string in inspect, names
start with ``/``). Nothing here imports domain code: the daemon builds these values, the API
serialises them and the client parses them back.
"""

from wharf.apitypes.common import (
    API_VERSION,
    MIN_API_VERSION,
    Filters,
    parse_bool,
    parse_filters,
    parse_int,
)
from wharf.apitypes.containers import (
    Change,
    ContainerConfig,
    ContainerCreate,
    ContainerState,
    ContainerView,
    DeviceMapping,
    HostConfig,
    PathStat,
    Resources,
    RestartPolicy,
    TopResult,
    WaitResult,
)
from wharf.apitypes.exec import ExecConfig, ExecView
from wharf.apitypes.images import HistoryEntry, ImageDeleteItem, ImageView
from wharf.apitypes.system import DiskUsage, Event, PruneReport, SystemInfo, VersionInfo

__all__ = [
    "API_VERSION",
    "MIN_API_VERSION",
    "Change",
    "ContainerConfig",
    "ContainerCreate",
    "ContainerState",
    "ContainerView",
    "DeviceMapping",
    "DiskUsage",
    "Event",
    "ExecConfig",
    "ExecView",
    "Filters",
    "HistoryEntry",
    "HostConfig",
    "ImageDeleteItem",
    "ImageView",
    "PathStat",
    "PruneReport",
    "Resources",
    "RestartPolicy",
    "SystemInfo",
    "TopResult",
    "VersionInfo",
    "WaitResult",
    "parse_bool",
    "parse_filters",
    "parse_int",
]
