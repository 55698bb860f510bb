"""Route tables: one module per resource, each exposing ``ROUTES`` (method, path, handler)."""
