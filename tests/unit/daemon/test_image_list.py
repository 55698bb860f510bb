"""Image listing: a build's intermediate images are hidden unless ``all`` is asked for."""

from __future__ import annotations

import dataclasses

from tests.unit.daemon.fakes import BUSYBOX, FakeImages
from wharf.daemon.containers import ContainerService
from wharf.daemon.events import EventBus
from wharf.daemon.images import ImageService


def test_intermediate_images_only_with_all(service: ContainerService, images: FakeImages) -> None:
    step = dataclasses.replace(BUSYBOX, id="sha256:" + "1" * 64, repo_tags=(), parent=BUSYBOX.id)
    built = dataclasses.replace(
        BUSYBOX, id="sha256:" + "2" * 64, repo_tags=("app:1",), parent=step.id
    )
    dangling = dataclasses.replace(BUSYBOX, id="sha256:" + "3" * 64, repo_tags=(), parent="")
    for image in (step, built, dangling):
        images.images[image.id] = image
    svc = ImageService(images, service, EventBus())

    listed = {view.id for view in svc.list(all=False, filters={})}
    assert step.id not in listed
    assert {built.id, dangling.id, BUSYBOX.id} <= listed

    assert step.id in {view.id for view in svc.list(all=True, filters={})}
    dangling_only = {v.id for v in svc.list(all=False, filters={"dangling": ["true"]})}
    assert dangling_only == {dangling.id}
