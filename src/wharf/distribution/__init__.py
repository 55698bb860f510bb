"""Distribution: the registry client the engine pulls and pushes with.

Model: a reference's domain maps to endpoints (:mod:`~wharf.distribution.hosts`: mirrors
first for ``docker.io``, then the origin; loopback and ``--insecure-registry`` hosts use plain
http). A :class:`~wharf.distribution.client.Repository` speaks the v2 protocol to one
repository on one endpoint; :class:`~wharf.distribution.auth.RegistryAuth` answers the
``401`` challenges (Basic, or the Bearer token flow with scopes). :func:`pull` resolves a
manifest (an index picks linux/amd64), downloads missing blobs in bounded parallel straight
into the content store ingest (digest verified, resumed with ``Range`` after a dropped
connection) and hands the manifest to the image service; :func:`push` skips blobs the
registry has (``HEAD``), tries a cross-repository mount, streams the rest and puts the
manifest in the format the image came in. Both report typed
:mod:`~wharf.distribution.progress` events that render as Docker's JSON messages.
"""

from wharf.distribution.auth import Credentials, RegistryAuth
from wharf.distribution.client import Repository
from wharf.distribution.hosts import Endpoint, RegistryHosts
from wharf.distribution.progress import Event, Message, Progress, PushResult
from wharf.distribution.pull import ImageSink, pull
from wharf.distribution.push import ImageSource, push

__all__ = [
    "Credentials",
    "Endpoint",
    "Event",
    "ImageSink",
    "ImageSource",
    "Message",
    "Progress",
    "PushResult",
    "RegistryAuth",
    "RegistryHosts",
    "Repository",
    "pull",
    "push",
]
