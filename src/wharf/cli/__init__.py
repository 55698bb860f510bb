"""Wharf's command line: docker-style verbs over the engine API, and ``wharf registry``."""
