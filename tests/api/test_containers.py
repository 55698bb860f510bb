"""Container routes over fakes: parsing, validation, status codes, streams."""

from __future__ import annotations

import asyncio
import json

import pytest

pytestmark = pytest.mark.anyio

CREATE = {
    "Image": "busybox",
    "Cmd": ["echo", "hi"],
    "AttachStdout": True,
    "HostConfig": {"AutoRemove": True, "NetworkMode": "default", "ConsoleSize": [0, 0]},
    "NetworkingConfig": {"EndpointsConfig": {"default": {}}},
    "SomeFutureField": {"x": 1},
}


async def create(client, body=None, name=None) -> str:
    params = {"name": name} if name else {}
    resp = await client.post("/v1.41/containers/create", json=body or CREATE, params=params)
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    assert data["Warnings"] == []
    return str(data["Id"])


async def test_create_tolerates_unknown_fields_and_inspect_echoes_config(client) -> None:
    cid = await create(client, name="web")
    body = await (await client.get("/containers/web/json")).json()
    assert body["Id"] == cid
    assert body["Name"] == "/web"
    assert body["Config"]["Cmd"] == ["echo", "hi"]
    assert body["HostConfig"]["AutoRemove"] is True
    assert body["HostConfig"]["LogConfig"]["Type"] == "json-file"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"Image": "busybox", "Cmd": 5}, "Cmd"),
        ({"Image": "busybox", "Tty": "yes"}, "Tty"),
        ({"Image": "busybox", "HostConfig": {"Memory": "lots"}}, "HostConfig.Memory"),
        ({"Image": "busybox", "HostConfig": {"Memory": 1024}}, "HostConfig.Memory"),
        ({"Image": "busybox", "HostConfig": {"CpuShares": -2}}, "HostConfig.CpuShares"),
        ({"Image": "busybox", "HostConfig": {"CpusetCpus": "a-b"}}, "HostConfig.CpusetCpus"),
        ({"Image": "busybox", "HostConfig": {"BlkioWeight": 5}}, "HostConfig.BlkioWeight"),
        (
            {"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}},
            "HostConfig.RestartPolicy.Name",
        ),
        (
            {"Image": "busybox", "HostConfig": {"Memory": 10_000_000, "MemorySwap": 5}},
            "HostConfig.MemorySwap",
        ),
        (
            {
                "Image": "busybox",
                "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}},
            },
            "HostConfig.AutoRemove",
        ),
        ({"Cmd": ["true"]}, "Image"),
        ([1, 2], "container config"),
    ],
)
async def test_create_bad_values_are_400_naming_the_field(client, backends, body, field) -> None:
    resp = await client.post("/containers/create", json=body)
    assert resp.status == 400
    assert (await resp.json())["message"].startswith(field)
    assert backends.containers.created == {}


async def test_malformed_json_and_huge_body(client, backends) -> None:
    resp = await client.post(
        "/containers/create", data=b'{"Image": ', headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "invalid JSON" in (await resp.json())["message"]
    huge = b'{"Image":"busybox","Env":["' + b"x" * (2 << 20) + b'"]}'
    resp = await client.post("/containers/create", data=huge)
    assert resp.status in (400, 413)
    assert "message" in await resp.json()
    assert backends.containers.created == {}


async def test_bad_name_and_name_conflict(client) -> None:
    resp = await client.post("/containers/create", json=CREATE, params={"name": "bad name!"})
    assert resp.status == 400
    assert "Invalid container name" in (await resp.json())["message"]
    await create(client, name="dup")
    resp = await client.post("/containers/create", json=CREATE, params={"name": "dup"})
    assert resp.status == 409
    assert '"/dup" is already in use' in (await resp.json())["message"]


async def test_unknown_container_is_404_with_dockers_message(client) -> None:
    for method, path in [
        ("GET", "/containers/nope/json"),
        ("POST", "/containers/nope/start"),
        ("POST", "/containers/nope/kill"),
        ("DELETE", "/containers/nope"),
        ("POST", "/containers/nope/wait"),
    ]:
        resp = await client.request(method, "/v1.41" + path)
        assert resp.status == 404, path
        assert await resp.json() == {"message": "No such container: nope"}


async def test_start_twice_is_304_and_remove_running_is_409(client) -> None:
    cid = await create(client)
    assert (await client.post(f"/containers/{cid}/start")).status == 204
    assert (await client.post(f"/containers/{cid}/start")).status == 304
    resp = await client.delete(f"/containers/{cid}")
    assert resp.status == 409
    assert (await client.delete(f"/containers/{cid}", params={"force": "True"})).status == 204


async def test_stop_passes_timeout_and_bool_queries_follow_moby(client, backends) -> None:
    cid = await create(client)
    await client.post(f"/containers/{cid}/start")
    assert (await client.post(f"/containers/{cid}/stop", params={"t": "3"})).status == 204
    assert ("stop", 3) in backends.containers.calls
    assert (await client.post(f"/containers/{cid}/stop")).status == 304
    await client.get("/containers/json", params={"all": "False"})
    await client.get("/containers/json", params={"all": "1", "limit": "5"})
    lists = [c[1] for c in backends.containers.calls if c[0] == "list"]
    assert lists[0][0] is False
    assert lists[1][:2] == (True, 5)
    resp = await client.get("/containers/json", params={"limit": "many"})
    assert resp.status == 400


async def test_wait_sends_headers_before_the_container_exits(client, backends) -> None:
    cid = await create(client)
    resp = await asyncio.wait_for(
        client.post(f"/containers/{cid}/wait", params={"condition": "next-exit"}), 5
    )
    assert resp.status == 200  # headers arrived while the container still runs
    backends.containers.exit.set_result(3)
    assert json.loads(await resp.read()) == {"Error": None, "StatusCode": 3}


async def test_wait_bad_condition(client) -> None:
    cid = await create(client)
    resp = await client.post(f"/containers/{cid}/wait", params={"condition": "soon"})
    assert resp.status == 400


async def test_logs_query_parsing(client, backends) -> None:
    cid = await create(client)
    resp = await client.get(
        f"/containers/{cid}/logs",
        params={
            "stdout": "1",
            "follow": "1",
            "tail": "2",
            "since": "1700000000.5",
            "timestamps": "1",
        },
    )
    assert resp.status == 200
    assert await resp.read() == b"\x01\x00\x00\x00\x00\x00\x00\x05line\n"
    options = next(c[1] for c in backends.containers.calls if c[0] == "logs")
    assert (options.follow, options.tail, options.since, options.timestamps) == (
        True,
        2,
        1700000000.5,
        True,
    )
    resp = await client.get(f"/containers/{cid}/logs")
    assert resp.status == 400


async def test_archive_stat_header_and_put_body(client, backends) -> None:
    cid = await create(client)
    resp = await client.head(f"/containers/{cid}/archive", params={"path": "/etc"})
    assert resp.status == 200
    import base64

    stat = json.loads(base64.b64decode(resp.headers["X-Docker-Container-Path-Stat"]))
    assert stat["name"] == "etc"
    resp = await client.head(f"/containers/{cid}/archive", params={"path": "/nope"})
    assert resp.status == 404

    async def chunks():
        yield b"part1"
        yield b"part2"

    resp = await client.put(
        f"/containers/{cid}/archive",
        params={"path": "/tmp"},
        data=chunks(),
        headers={"Content-Type": "text/plain"},
    )
    assert resp.status == 200
    assert ("put", ("/tmp", b"part1part2")) in backends.containers.calls


async def test_update_only_present_fields(client, backends) -> None:
    cid = await create(client)
    resp = await client.post(f"/containers/{cid}/update", json={"Memory": 64 << 20})
    assert resp.status == 200
    update = next(c[1] for c in backends.containers.calls if c[0] == "update")
    assert update.present == frozenset({"memory"})
    # What the docker CLI sends for `update --memory 30m`: every field, zeros unchanged.
    body = {"Memory": 30 << 20, "NanoCpus": 0, "CpuShares": 0, "CpusetCpus": "", "PidsLimit": 0}
    resp = await client.post(f"/containers/{cid}/update", json=body)
    assert resp.status == 200
    update = [c[1] for c in backends.containers.calls if c[0] == "update"][-1]
    assert update.present == frozenset({"memory", "pids_limit"})
    resp = await client.post(f"/containers/{cid}/update", json={"PidsLimit": "x"})
    assert resp.status == 400


async def test_many_concurrent_requests(client) -> None:
    cid = await create(client)
    results = await asyncio.gather(
        *[client.get(f"/containers/{cid}/json") for _ in range(300)],
        *[client.get("/containers/nope/json") for _ in range(300)],
    )
    assert [r.status for r in results].count(200) == 300
    assert [r.status for r in results].count(404) == 300


async def test_init_privileged_and_devices_reach_the_backend(client, backends) -> None:
    host = {
        "Privileged": True,
        "Init": True,
        "Devices": [
            {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/z", "CgroupPermissions": "r"},
            {"PathOnHost": "/dev/null", "PathInContainer": "", "CgroupPermissions": ""},
        ],
    }
    cid = await create(client, {"Image": "busybox", "HostConfig": host})
    spec = backends.containers.created[cid]
    assert spec.host_config.privileged is True
    assert spec.host_config.init is True
    assert [d.to_json() for d in spec.host_config.devices] == [
        {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/z", "CgroupPermissions": "r"},
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/null", "CgroupPermissions": "rwm"},
    ]
    body = await (await client.get(f"/containers/{cid}/json")).json()
    assert body["HostConfig"]["Init"] is True
    assert body["HostConfig"]["Privileged"] is True
    cid = await create(client, {"Image": "busybox", "HostConfig": {"Init": None}})
    assert backends.containers.created[cid].host_config.init is None


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"Init": "yes"}, "HostConfig.Init"),
        ({"Privileged": 1}, "HostConfig.Privileged"),
        ({"Devices": "/dev/zero"}, "HostConfig.Devices: expected a list"),
        ({"Devices": ["/dev/zero"]}, "HostConfig.Devices[0]: expected an object"),
        ({"Devices": [{"PathOnHost": "zero"}]}, "HostConfig.Devices[0].PathOnHost: bad format"),
        (
            {"Devices": [{"PathOnHost": "/dev/zero", "PathInContainer": "z"}]},
            "HostConfig.Devices[0].PathInContainer: bad format",
        ),
        (
            {"Devices": [{"PathOnHost": "/dev/zero", "CgroupPermissions": "rx"}]},
            "HostConfig.Devices[0].CgroupPermissions: invalid device mode: 'rx'",
        ),
        (
            {"Devices": [{"PathOnHost": "/dev/zero", "CgroupPermissions": "rr"}]},
            "invalid device mode",
        ),
        ({"Devices": [{"PathOnHost": 5}]}, "HostConfig.Devices[0].PathOnHost"),
    ],
)
async def test_bad_init_privileged_and_devices_are_400(client, backends, host, message) -> None:
    await _refused(client, backends, host, 400, message)


async def _refused(client, backends, host, status, message, *, extra=None) -> None:
    body = {"Image": "busybox", "HostConfig": host, **(extra or {})}
    resp = await client.post("/containers/create", json=body)
    assert resp.status == status
    assert message in (await resp.json())["message"]
    assert backends.containers.created == {}


@pytest.mark.parametrize(
    ("host", "status", "message"),
    [
        ({"ShmSize": -1}, 400, "HostConfig.ShmSize: expected bytes >= 0"),
        ({"Sysctls": {"kernel.panic": "1"}}, 400, "sysctl 'kernel.panic' is not allowed"),
        ({"Sysctls": {"net.ipv4.ip_forward": 1}}, 400, "HostConfig.Sysctls"),
        (
            {"NetworkMode": "host", "Sysctls": {"net.core.somaxconn": "10"}},
            400,
            "not allowed in the host network namespace",
        ),
        ({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]}, 400, "not above hard 5"),
        ({"Ulimits": [{"Name": "files", "Soft": 1, "Hard": 1}]}, 400, "unknown ulimit 'files'"),
        ({"Ulimits": {"nofile": 1}}, 400, "HostConfig.Ulimits: expected a list"),
        ({"SecurityOpt": ["seccomp=/p.json"]}, 501, "HostConfig.SecurityOpt: 'seccomp=/p.json'"),
        ({"SecurityOpt": ["no-new-privileges:maybe"]}, 501, "HostConfig.SecurityOpt"),
        ({"PidMode": "private"}, 400, "HostConfig.PidMode: invalid PID mode 'private'"),
        ({"PidMode": "container:"}, 400, "HostConfig.PidMode: invalid PID mode"),
        ({"IpcMode": "container"}, 400, "HostConfig.IpcMode: invalid IPC mode 'container'"),
        ({"UTSMode": "private"}, 400, "HostConfig.UTSMode: invalid UTS mode 'private'"),
        (
            {"IpcMode": "host", "Sysctls": {"kernel.shmmax": "100"}},
            400,
            "sysctl 'kernel.shmmax' is not allowed in the host IPC namespace",
        ),
        ({"UsernsMode": "private"}, 501, "HostConfig.UsernsMode"),
        ({"Links": ["db:db"]}, 501, "HostConfig.Links: legacy container links"),
        ({"StorageOpt": {"size": "1G"}}, 501, "HostConfig.StorageOpt"),
        ({"Isolation": "hyperv"}, 501, "HostConfig.Isolation"),
        ({"Runtime": "nvidia"}, 501, "HostConfig.Runtime"),
        ({"KernelMemory": 1 << 24}, 501, "HostConfig.KernelMemory"),
        ({"CpuRealtimeRuntime": 100}, 501, "HostConfig.CpuRealtimeRuntime"),
        (
            {"BlkioDeviceReadBps": [{"Path": "sda", "Rate": 1}]},
            400,
            "HostConfig.BlkioDeviceReadBps[0].Path: expected an absolute device path",
        ),
        ({"BlkioDeviceWriteIOps": [{"Path": "/dev/sda", "Rate": -1}]}, 400, "out of range"),
        ({"BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 5}]}, 400, "[10, 1000]"),
        ({"BlkioDeviceReadBps": {"/dev/sda": 1}}, 400, "expected a list of {Path, Rate}"),
        ({"MemorySwappiness": 101}, 400, "HostConfig.MemorySwappiness: 101 is out of range"),
        ({"LogConfig": {"Type": "syslog"}}, 501, "the 'syslog' logging driver is not supported"),
        ({"LogConfig": {"Config": {"max-size": "lots"}}}, 400, "max-size: expected a size"),
        ({"LogConfig": {"Config": {"max-file": "3"}}}, 400, "max-file cannot be set when"),
        ({"LogConfig": {"Config": {"max-size": "1m", "max-file": "0"}}}, 400, "max-file"),
        ({"LogConfig": {"Config": {"labels": "a"}}}, 400, "unknown log opt 'labels'"),
        ({"LogConfig": {"Type": "none", "Config": {"max-size": "1m"}}}, 400, "for none log"),
        ({"LogConfig": {"Config": {"compress": "true"}}}, 501, "compress is not supported"),
        ({"CgroupnsMode": "shared"}, 400, "invalid cgroup namespace mode 'shared'"),
        (
            {"DeviceCgroupRules": ["c 1:3 rwm", "c 1 rwm"]},
            400,
            "HostConfig.DeviceCgroupRules[1]: invalid device cgroup rule format 'c 1 rwm'",
        ),
        ({"DeviceCgroupRules": ["c 1:3 x"]}, 400, "invalid device cgroup rule format"),
        ({"CgroupParent": "/mine/../x"}, 400, "HostConfig.CgroupParent: component '..'"),
        ({"GroupAdd": ["wheel:x"]}, 400, "HostConfig.GroupAdd[0]: expected a group name"),
        ({"GroupAdd": [10]}, 400, "HostConfig.GroupAdd"),
        ({"OomKillDisable": "yes"}, 400, "HostConfig.OomKillDisable"),
        ({"PidsLimit": "many"}, 400, "HostConfig.PidsLimit"),
        ({"OomScoreAdj": 1001}, 400, "HostConfig.OomScoreAdj: invalid value 1001"),
        ({"Tmpfs": {"run": ""}}, 400, "HostConfig.Tmpfs['run']: the mount point must be absolute"),
        ({"Tmpfs": {"/run": "bind"}}, 400, "invalid tmpfs option 'bind'"),
    ],
)
async def test_host_options_bad_or_unsupported(client, backends, host, status, message) -> None:
    await _refused(client, backends, host, status, message)


async def test_uts_host_with_a_hostname_is_refused(client, backends) -> None:
    await _refused(
        client,
        backends,
        {"UTSMode": "host"},
        400,
        "conflicting options: hostname and the UTS mode",
        extra={"Hostname": "box"},
    )


async def test_a_bad_healthcheck_is_refused_and_a_good_one_kept(client, backends) -> None:
    await _refused(
        client,
        backends,
        {},
        400,
        "Healthcheck.Interval: expected 0 or at least 1ms",
        extra={"Healthcheck": {"Test": ["CMD", "true"], "Interval": 10}},
    )
    check = {"Test": ["CMD-SHELL", "true"], "Interval": 10**9}
    cid = await create(client, {"Image": "busybox", "Healthcheck": check})
    shown = backends.containers.created[cid].config.to_json()["Healthcheck"]
    assert shown == {**check, "Timeout": 0, "StartPeriod": 0, "Retries": 0}


async def test_log_config_sizes_and_defaults(client, backends) -> None:
    cases = [
        ({}, ("json-file", 0, 1)),
        (
            {"Type": "json-file", "Config": {"max-size": "1.5k", "max-file": "4"}},
            ("json-file", 1500, 4),
        ),
        ({"Type": "local"}, ("local", 20_000_000, 5)),
        ({"Type": "local", "Config": {"max-size": "10m"}}, ("local", 10_000_000, 5)),
        ({"Type": "none"}, ("none", 0, 1)),
    ]
    for log_config, expected in cases:
        cid = await create(client, {"Image": "busybox", "HostConfig": {"LogConfig": log_config}})
        got = backends.containers.created[cid].host_config.log_config
        assert (got.type, got.max_size, got.max_files) == expected, log_config


async def test_namespace_modes_are_kept_and_shown(client, backends) -> None:
    host = {"PidMode": "container:db", "IpcMode": "host", "UTSMode": "host"}
    cid = await create(client, {"Image": "busybox", "HostConfig": host})
    shown = backends.containers.created[cid].host_config.to_json()
    assert {k: shown[k] for k in host} == host
    cid = await create(client, {"Image": "busybox", "HostConfig": {}})
    shown = backends.containers.created[cid].host_config.to_json()
    assert (shown["PidMode"], shown["IpcMode"], shown["UTSMode"]) == ("", "private", "")


async def test_host_options_defaults_and_noops_are_accepted(client, backends) -> None:
    host = {
        "IpcMode": "private",
        "UsernsMode": "host",
        "CgroupnsMode": "host",
        "GroupAdd": [],
        "OomKillDisable": False,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Links": [],
        "StorageOpt": {},
        "Isolation": "default",
        "Runtime": "runc",
        "KernelMemory": 0,
        "SecurityOpt": ["apparmor=unconfined", "label:disable", "seccomp=unconfined"],
        "ShmSize": 0,
        "Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "100"},
        "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
    }
    cid = await create(client, {"Image": "busybox", "HostConfig": host})
    options = backends.containers.created[cid].host_config.options
    assert options.shm_size == 64 << 20
    assert dict(options.sysctls) == {"net.ipv4.ip_forward": "1", "kernel.shmmax": "100"}
    assert options.no_new_privileges is False


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", (True, False, 3)),
        ("?stream=false", (False, False, 1)),
        ("?stream=0&one-shot=1", (False, True, 1)),
        ("?one-shot=true", (False, True, 1)),
    ],
)
async def test_stats_query_parameters(client, backends, query, expected) -> None:
    stream, one_shot, lines = expected
    cid = await create(client)
    resp = await client.get(f"/v1.41/containers/{cid}/stats{query}")
    assert resp.status == 200
    body = (await resp.read()).decode().splitlines()
    assert len(body) == lines
    sample = json.loads(body[0])
    assert sample["id"] == cid
    assert sample["pids_stats"] == {"current": 1}  # no limit: omitted, as dockerd does
    assert set(sample["blkio_stats"]) == {
        "io_service_bytes_recursive",
        "io_serviced_recursive",
        "io_queue_recursive",
        "io_service_time_recursive",
        "io_wait_time_recursive",
        "io_merged_recursive",
        "io_time_recursive",
        "sectors_recursive",
    }
    assert "networks" not in sample
    assert ("stats", (stream, one_shot)) in backends.containers.calls
    missing = await client.get("/v1.41/containers/nope/stats?stream=false")
    assert missing.status == 404
