"""Volumes: named and anonymous volumes of the local driver, and mount specs of ``-v``/``--mount``.

Model: a container's mounts are :class:`MountSpec` values parsed from ``HostConfig.Binds``
(``/host:/ctr[:ro]`` binds, ``name:/ctr`` named volumes) and ``HostConfig.Mounts`` (``--mount``
bind, volume and tmpfs). A named volume lives in the :class:`LocalDriver`'s directory
``<root>/<name>/_data`` with its metadata beside it; it is created on first use and, while
still empty, filled from the image's content at the mount point (as Docker does). Which
containers use a volume is the daemon's concern (``daemon/volumes.py``).
"""

from wharf.volumes.local import LocalDriver, Volume, VolumeDriver
from wharf.volumes.spec import MountSpec, parse_bind, validate_volume_name

__all__ = [
    "LocalDriver",
    "MountSpec",
    "Volume",
    "VolumeDriver",
    "parse_bind",
    "validate_volume_name",
]
