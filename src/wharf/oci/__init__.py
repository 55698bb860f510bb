"""Pure OCI types: digests, descriptors, platforms and media types.

Nothing here touches the disk or the network. Wire JSON is converted with the named
constructors ``from_json``/``to_json``, which validate as they go and raise
:class:`wharf.errors.InvalidArgument` naming the offending field.
"""

from wharf.oci import mediatypes
from wharf.oci.descriptor import Descriptor, Platform
from wharf.oci.digest import Digest, DigestMismatch, Verifier
from wharf.oci.image import ContainerConfig, Healthcheck, History, ImageConfig, Index, Manifest

__all__ = ["Descriptor", "Digest", "DigestMismatch", "Platform", "Verifier", "mediatypes"]
__all__ += ["ContainerConfig", "Healthcheck", "History", "ImageConfig", "Index", "Manifest"]
