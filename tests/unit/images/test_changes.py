from __future__ import annotations

import pytest

from wharf.errors import InvalidArgument
from wharf.images.changes import apply_changes
from wharf.oci import ContainerConfig


def test_every_supported_instruction() -> None:
    config = apply_changes(
        ContainerConfig(env=("A=1",)),
        [
            'CMD ["sh", "-c", "echo hi"]',
            "ENTRYPOINT /bin/init --flag",
            "ENV A=2 B=three",
            "ENV LEGACY value with spaces",
            "EXPOSE 80 443/udp",
            'VOLUME ["/data"]',
            "VOLUME /logs",
            'LABEL maintainer="me" tier=web',
            "USER nobody",
            "WORKDIR /srv",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN true",
        ],
    )
    assert config.cmd == ("sh", "-c", "echo hi")
    assert config.entrypoint == ("/bin/sh", "-c", "/bin/init --flag")
    assert config.env == ("A=2", "B=three", "LEGACY=value with spaces")
    assert config.exposed_ports == ("443/udp", "80/tcp")
    assert config.volumes == ("/data", "/logs")
    assert config.labels == {"maintainer": "me", "tier": "web"}
    assert (config.user, config.working_dir, config.stop_signal) == ("nobody", "/srv", "SIGINT")
    assert config.on_build == ("RUN true",)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("RUN echo", "unsupported instruction 'RUN'"),
        ("EXPOSE http", "invalid port"),
        ("USER", "needs one argument"),
        ("CMD", "needs arguments"),
        ("LABEL =x", "KEY=VALUE"),
    ],
)
def test_bad_changes(change: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        apply_changes(ContainerConfig(), [change])
