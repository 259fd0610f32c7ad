"""Shared test wiring: external-service markers and a clip maker.

Tests marked redis/postgres/browser/prometheus/node need something outside pip. They run when
configured through the environment (VODSTACK_TEST_REDIS_URL, VODSTACK_TEST_POSTGRES_URL,
VODSTACK_TEST_BROWSER=1, VODSTACK_TEST_PROMETHEUS=1, VODSTACK_TEST_NODE=1; .ci/run sets them all)
and are deselected otherwise. Once configured, an unreachable service fails the test: never a skip.
"""

from __future__ import annotations

import os

import pytest

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
