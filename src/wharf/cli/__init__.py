"""The ``wharf`` command line: docker's verbs and flags over ``wharf.client``, and
``wharf registry`` (the registry server's group, from ``wharf.registry.command``).

Model: ``main.py`` is a click group whose commands live in sibling modules and are imported only
when run (``wharf --version`` stays fast). Commands talk to the daemon only through
:class:`wharf.client.Client`; errors print one line and exit with docker's codes (125 daemon
error, 126 not executable, 127 not found, else the container's status).
"""
