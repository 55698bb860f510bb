"""Wharf: a container engine, image store, OCI runtime and registry for Docker's tools."""

__version__ = "0.1.0"
