"""Typed keys of per-request values the middleware sets for the handlers."""

from aiohttp import web

__all__ = ["ACTOR", "REQUEST_ID"]

ACTOR = web.RequestKey("actor", str)
"""The authenticated account ("" when the registry is open)."""

REQUEST_ID = web.RequestKey("request_id", str)
"""A random id per request, used in notification events."""
