"""Content digests (``sha256:<hex>``, ``sha512:<hex>``) as the OCI image spec defines them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from wharf.errors import DataLoss, InvalidArgument

__all__ = ["Digest", "DigestMismatch", "Verifier"]

# OCI image-spec descriptor.md: algorithm-component and encoded grammar.
_GRAMMAR: Final = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")
_HEX_LENGTH: Final = {"sha256": 64, "sha512": 128}
_LOWER_HEX: Final = re.compile(r"^[0-9a-f]+$")


class DigestMismatch(DataLoss):
    """Bytes did not hash to the digest they were announced with."""


@dataclass(frozen=True, order=True)
class Digest:
    """A verified-shape content digest. ``str(d)`` gives the wire form.

    Attributes:
        algorithm: ``sha256`` or ``sha512``.
        encoded: the lowercase hex of the hash.
    """

    algorithm: str
    encoded: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``alg:hex``.

        Raises:
            InvalidArgument: the text is not a digest, or names an algorithm other than
                sha256/sha512, or the hex has the wrong length or case.
        """
        match = _GRAMMAR.match(text)
        if match is None:
            raise InvalidArgument(f"invalid digest {text!r}: expected <algorithm>:<hex>")
        algorithm, encoded = match.groups()
        length = _HEX_LENGTH.get(algorithm)
        if length is None:
            raise InvalidArgument(
                f"invalid digest {text!r}: unsupported algorithm {algorithm!r} "
                "(expected sha256 or sha512)"
            )
        if len(encoded) != length or not _LOWER_HEX.match(encoded):
            raise InvalidArgument(
                f"invalid digest {text!r}: {algorithm} needs {length} lowercase hex characters"
            )
        return cls(algorithm, encoded)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @property
    def hex(self) -> str:
        """The encoded part (an alias used where paths are built from it)."""
        return self.encoded

    def short(self, length: int = 12) -> str:
        """The first ``length`` hex characters, as ``docker images`` shows them."""
        return self.encoded[:length]

    def verifier(self) -> Verifier:
        """A hasher that checks streamed bytes against this digest."""
        return Verifier(self)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


class Verifier:
    """Hashes bytes as they stream past and checks them against an expected digest."""

    def __init__(self, expected: Digest) -> None:
        self.expected = expected
        self._hash = hashlib.new(expected.algorithm)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def digest(self) -> Digest:
        """The digest of what was seen so far."""
        return Digest(self.expected.algorithm, self._hash.hexdigest())

    def verify(self) -> None:
        """Raises:
        DigestMismatch: the bytes seen do not hash to the expected digest.
        """
        actual = self.digest()
        if actual != self.expected:
            raise DigestMismatch(f"digest mismatch: expected {self.expected}, got {actual}")
