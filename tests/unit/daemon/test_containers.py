"""Container lifecycle logic over fakes: create/start/stop/wait/rm, restart policies, restore."""

from __future__ import annotations

import asyncio
import json

import pytest

from wharf.apitypes import ContainerCreate
from wharf.apitypes.containers import ContainerUpdate
from wharf.daemon.containers import ContainerService, StartFailed
from wharf.daemon.events import EventBus
from wharf.daemon.store import ContainerStore
from wharf.errors import Conflict, InvalidArgument, NotFound, NotModified

pytestmark = pytest.mark.anyio


def spec(**fields) -> ContainerCreate:
    host = fields.pop("HostConfig", {})
    return ContainerCreate.from_json({"Image": "busybox", **fields, "HostConfig": host})


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_create_merges_image_config_and_primes_runtime(service, runtime) -> None:
    cid, warnings = service.create(spec(Env=["A=1"], Tty=True), name="web")
    assert warnings == []
    assert runtime.states[cid].status == "created"
    process = runtime.specs[cid]["process"]
    assert process["args"] == ["sh"]
    assert "A=1" in process["env"] and "PATH=/bin" in process["env"]
    assert "TERM=xterm" in process["env"]
    view = service.inspect("web")
    assert view.name == "web"
    assert view.to_summary_json()["Names"] == ["/web"]
    assert service.inspect(cid[:6]).id == cid


async def test_create_unknown_image_and_no_command(service, images) -> None:
    with pytest.raises(NotFound, match="No such image: nope"):
        service.create(spec(Image="nope"), name=None)
    with pytest.raises(InvalidArgument, match="no command specified"):
        service.create(spec(Image="nocmd"), name=None)
    assert service.store.all() == []
    assert images.prepared == set()


async def test_name_conflict_leaves_first_container_alone(service, images) -> None:
    cid, _ = service.create(spec(), name="dup")
    with pytest.raises(Conflict, match='"/dup" is already in use'):
        service.create(spec(), name="dup")
    assert [r.id for r in service.store.all()] == [cid]
    assert images.prepared == {cid}


async def test_command_not_found_fails_at_start_with_127(service, runtime) -> None:
    runtime.missing_commands.add("nosuchcmd")
    cid, _ = service.create(spec(Cmd=["nosuchcmd"]), name=None)
    with pytest.raises(StartFailed, match="executable file not found") as info:
        service.start(cid)
    assert info.value.exit_code == 127
    assert service.inspect(cid).state.exit_code == 127


async def test_start_wait_exit_and_rm(service, runtime) -> None:
    cid, _ = service.create(spec(Cmd=["true"]), name=None)
    waiter = service.wait(cid, condition="next-exit")
    service.start(cid)
    with pytest.raises(NotModified):
        service.start(cid)
    assert service.inspect(cid).state.status == "running"
    runtime.exit(cid, 3)
    result = await asyncio.wait_for(waiter, 2)
    assert result.status_code == 3
    view = service.inspect(cid)
    assert view.state.status == "exited"
    assert view.status_text.startswith("Exited (3)")
    done = await asyncio.wait_for(service.wait(cid, condition="not-running"), 1)
    assert done.status_code == 3
    await service.remove(cid, force=False, volumes=False)
    with pytest.raises(NotFound, match=f"No such container: {cid}"):
        service.inspect(cid)
    assert cid not in runtime.states


async def test_auto_remove_answers_wait_removed(service, runtime, images) -> None:
    cid, _ = service.create(spec(HostConfig={"AutoRemove": True}), name=None)
    removed = service.wait(cid, condition="removed")
    service.start(cid)
    runtime.exit(cid, 0)
    assert (await asyncio.wait_for(removed, 2)).status_code == 0
    assert service.store.all() == []
    assert images.removed == [cid]


async def test_stop_sends_term_then_kill(service, runtime) -> None:
    cid, _ = service.create(spec(), name=None)
    service.start(cid)
    runtime.exit_on_signal = {9: 137}  # ignores SIGTERM
    await service.stop(cid, timeout=0)
    assert [s for _, s in runtime.signals] == [9]
    assert service.inspect(cid).state.exit_code == 137
    with pytest.raises(NotModified):
        await service.stop(cid, timeout=1)
    service.start(cid)
    runtime.exit_on_signal = {15: 143, 9: 137}
    await service.stop(cid, timeout=1)
    assert service.inspect(cid).state.exit_code == 143


async def test_rm_running_needs_force(service, runtime) -> None:
    cid, _ = service.create(spec(), name=None)
    service.start(cid)
    with pytest.raises(Conflict, match="cannot remove a running container"):
        await service.remove(cid, force=False, volumes=False)
    await service.remove(cid, force=True, volumes=False)
    assert service.store.all() == []


async def test_kill_pause_unpause_states(service, runtime) -> None:
    cid, _ = service.create(spec(), name=None)
    with pytest.raises(Conflict, match="is not running"):
        service.kill(cid, signal="")
    service.start(cid)
    with pytest.raises(InvalidArgument, match="Invalid signal"):
        service.kill(cid, signal="SIGNOPE")
    service.pause(cid)
    assert service.inspect(cid).state.to_json()["Paused"] is True
    with pytest.raises(Conflict):
        service.pause(cid)
    service.unpause(cid)
    service.kill(cid, signal="SIGUSR1")
    assert runtime.signals[-1] == (cid, 10)


async def test_restart_policy_on_failure_counts(service, runtime) -> None:
    cid, _ = service.create(
        spec(HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}),
        name=None,
    )
    service.start(cid)
    for _ in range(2):
        runtime.exit(cid, 1)
        await asyncio.sleep(0.5)
        assert service.inspect(cid).state.status == "running"
    runtime.exit(cid, 1)
    await asyncio.sleep(0.5)
    view = service.inspect(cid)
    assert view.state.status == "exited"
    assert view.restart_count == 2


async def test_restart_policy_always_not_after_user_stop(service, runtime) -> None:
    cid, _ = service.create(spec(HostConfig={"RestartPolicy": {"Name": "always"}}), name=None)
    service.start(cid)
    runtime.exit(cid, 0)
    await asyncio.sleep(0.3)
    assert service.inspect(cid).state.status == "running"
    await service.stop(cid, timeout=1)
    await asyncio.sleep(0.3)
    assert service.inspect(cid).state.status == "exited"


async def test_live_restore_readopts_and_records_exits(tmp_path, runtime, images) -> None:
    first = ContainerService(
        store=ContainerStore(tmp_path), runtime=runtime, images=images, events=EventBus()
    )
    alive, _ = first.create(spec(), name="alive")
    died, _ = first.create(spec(), name="died")
    first.start(alive)
    first.start(died)
    # The daemon dies here; while it is down, one container exits.
    first._unwatch(alive)
    first._unwatch(died)
    runtime.exit(died, 7)

    second = ContainerService(
        store=ContainerStore(tmp_path), runtime=runtime, images=images, events=EventBus()
    )
    await second.restore()
    assert second.inspect("alive").state.status == "running"
    assert second.inspect("died").state.exit_code == 7
    assert second.inspect("died").state.status == "exited"
    waiter = second.wait("alive", condition="next-exit")
    runtime.exit(alive, 0)
    assert (await asyncio.wait_for(waiter, 2)).status_code == 0


async def test_store_survives_a_torn_record(tmp_path, service) -> None:
    cid, _ = service.create(spec(), name="kept")
    bad = tmp_path / "containers" / ("f" * 64)
    bad.mkdir()
    (bad / "config.v2.json").write_text("{torn")
    store = ContainerStore(tmp_path)
    assert store.load() == ["f" * 64]
    assert store.get("kept").id == cid
    record = json.loads((tmp_path / "containers" / cid / "config.v2.json").read_text())
    assert record["name"] == "kept"


async def test_list_filters(service, runtime) -> None:
    a, _ = service.create(spec(Labels={"app": "web"}), name="a")
    b, _ = service.create(spec(), name="b")
    service.start(a)
    assert [v.id for v in service.list(all=False, limit=-1, size=False, filters={})] == [a]
    all_ids = {v.id for v in service.list(all=True, limit=-1, size=False, filters={})}
    assert all_ids == {a, b}
    labelled = service.list(all=True, limit=-1, size=False, filters={"label": ["app=web"]})
    assert [v.id for v in labelled] == [a]
    created = service.list(all=False, limit=-1, size=False, filters={"status": ["created"]})
    assert [v.id for v in created] == [b]
    assert [
        v.id for v in service.list(all=True, limit=-1, size=False, filters={"name": ["b"]})
    ] == [b]
    assert service.list(all=True, limit=-1, size=False, filters={"ancestor": ["busybox"]})
    with pytest.raises(InvalidArgument, match="status"):
        service.list(all=True, limit=-1, size=False, filters={"status": ["sleepy"]})
    with pytest.raises(InvalidArgument, match="invalid filter"):
        service.list(all=True, limit=-1, size=False, filters={"colour": ["red"]})


async def test_rename_and_update(service, runtime) -> None:
    cid, _ = service.create(spec(), name="old")
    service.create(spec(), name="other")
    with pytest.raises(Conflict):
        service.rename("old", "other")
    service.rename("old", "new")
    assert service.inspect("new").id == cid
    with pytest.raises(NotFound):
        service.inspect("old")
    service.start(cid)
    update = ContainerUpdate.from_json({"Memory": 64 << 20, "CpuShares": 512})
    service.update(cid, update)
    assert runtime.specs[cid]["linux"]["resources"]["memory"]["limit"] == 64 << 20
    assert service.inspect(cid).host_config.resources.cpu_shares == 512


async def test_events_published_in_order(service, runtime) -> None:
    stream = service.events.stream(since=0, until=None, filters={"type": ["container"]})
    cid, _ = service.create(spec(), name="ev")
    service.start(cid)
    runtime.exit(cid, 0)
    await settle()
    actions = []
    async for event in stream:
        actions.append(event.action)
        if event.action == "die":
            assert event.attributes["exitCode"] == "0"
            break
    assert actions == ["create", "start", "die"]


async def test_restore_rebuilds_states_whose_atomic_only_records_were_lost(
    tmp_path, runtime, images
) -> None:
    first = ContainerService(
        store=ContainerStore(tmp_path), runtime=runtime, images=images, events=EventBus()
    )
    ran, _ = first.create(spec(), name="ran")
    removable, _ = first.create(spec(HostConfig={"AutoRemove": True}), name="removable")
    first.create(spec(), name="never")
    record_file = tmp_path / "containers" / ran / "config.v2.json"
    as_created = record_file.read_bytes()  # the last durable version
    first.start(ran)
    first.start(removable)
    first._unwatch(ran)
    first._unwatch(removable)
    # A power cut: "ran" exited and its start/exit records were lost; "removable" exited and
    # its record says so, but its removal never happened.
    runtime.exit(ran, 3)
    runtime.exit(removable, 0)
    record_file.write_bytes(as_created)
    first.store.save(first.store.get(removable).with_(status="exited"), durable=False)

    second = ContainerService(
        store=ContainerStore(tmp_path), runtime=runtime, images=images, events=EventBus()
    )
    await second.restore()
    view = second.inspect("ran")
    assert (view.state.status, view.state.exit_code) == ("exited", 3)
    assert view.state.started_at == "2026-01-01T00:00:00.0Z"
    with pytest.raises(NotFound):
        second.inspect("removable")  # AutoRemove finished, as dockerd does at restore
    assert second.inspect("never").state.status == "created"
