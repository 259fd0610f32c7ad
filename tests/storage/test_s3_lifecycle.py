"""The bucket-lifecycle capability of the S3 adapter (minio's public calls against moto's server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.errors import ObjectMissing
from storage.filesystem import FilesystemObjectStore
from storage.objects import LifecycleRules, Transition
from storage.s3 import S3ObjectStore
from tests.s3 import moto_server


def test_the_filesystem_has_no_lifecycle_slot(tmp_path: Path) -> None:
    assert FilesystemObjectStore(tmp_path).capabilities.lifecycle is None


@pytest.mark.s3
def test_rules_replace_the_bucket_lifecycle_and_a_missing_bucket_is_object_missing() -> None:
    with moto_server() as endpoint:
        store = S3ObjectStore(endpoint, "testing", "testing", bucket_prefix="life-")
        store.ensure_bucket("media")
        lifecycle = store.capabilities.lifecycle
        assert lifecycle is not None
        lifecycle.set_rules("media", LifecycleRules(abort_multipart_days=3))
        lifecycle.set_rules("media", LifecycleRules(transitions=(Transition("warm", 10, "STANDARD_IA"),)))
        rules = store.client.get_bucket_lifecycle("life-media").rules
        assert [(r.rule_id, r.transition.days, r.abort_incomplete_multipart_upload) for r in rules] == [
            ("warm", 10, None)
        ]
        with pytest.raises(ObjectMissing):
            lifecycle.set_rules("no-such-bucket", LifecycleRules(abort_multipart_days=1))
