"""The engine daemon: per-domain services over the runtime and the image store.

Model: ``assemble.py`` (the composition root) builds the runtime (zygote first), the image store
and the services, and hands the services to the API as its backends. ``containers.py`` owns the
lifecycle (create -> start -> exit -> restart policy / auto-remove -> remove) with records in
``store.py`` (atomic JSON per container under ``<data-root>/containers``); ``exec.py`` runs
processes in running containers; ``images.py`` serves the image endpoints; ``system.py`` version,
info, df and events (``events.py``, a bus with history). Exits arrive through the runtime's exit
fds on the event loop; a restarted daemon re-adopts running containers and records the exits it
missed (``ContainerService.restore``). ``server.py`` runs it all on unix sockets.
"""
