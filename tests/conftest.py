"""Shared test wiring: external-service markers and a clip maker.

Tests marked redis/postgres/browser/prometheus/node need something outside pip. They run when
configured through the environment (VODSTACK_TEST_REDIS_URL, VODSTACK_TEST_POSTGRES_URL,
VODSTACK_TEST_BROWSER=1, VODSTACK_TEST_PROMETHEUS=1, VODSTACK_TEST_NODE=1; .ci/run sets them all)
and are deselected otherwise. Once configured, an unreachable service fails the test: never a skip.
"""

from __future__ import annotations

import os

import pytest

# The test extra installs the speech model, so every stack and worker started by a test would transcribe each
# asset's test tone after its ladder (seconds of CPU each, and a track other tests do not expect). Off for
# them all; tests/transcoder/test_speech_captions.py runs the speech job itself.
os.environ.setdefault("VODSTACK_TRANSCODER_SPEECH_CAPTIONS", "false")

EXTERNAL = {
    "redis": "VODSTACK_TEST_REDIS_URL",
    "postgres": "VODSTACK_TEST_POSTGRES_URL",
    "browser": "VODSTACK_TEST_BROWSER",
    "prometheus": "VODSTACK_TEST_PROMETHEUS",
    "node": "VODSTACK_TEST_NODE",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        missing = [m for m, env in EXTERNAL.items() if item.get_closest_marker(m) and not os.environ.get(env)]
        (drop if missing else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
