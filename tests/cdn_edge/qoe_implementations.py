"""The two CMCD trackers (cdn_edge/qoe.py, the reference; cdn_edge/qoe_compiled.pyx, built by
`pip install`) as pytest parameters: the QoE tests run against both. Where the extension was not
built the compiled cases are skipped; CI (.ci/run) imports it first, so there they always run."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from cdn_edge import cmcd, qoe


def compiled() -> ModuleType | None:
    try:
        return importlib.import_module("cdn_edge.qoe_compiled")
    except ImportError:
        return None


_NOT_BUILT = pytest.mark.skipif(compiled() is None, reason="cdn_edge.qoe_compiled was not built")
_module = compiled()
TRACKERS = [
    pytest.param(qoe.QoeTracker, id="python"),
    pytest.param(_module.QoeTracker if _module else None, id="compiled", marks=_NOT_BUILT),
]
PARSERS = [
    pytest.param(cmcd.parse_cmcd, id="python"),
    pytest.param(_module.parse_cmcd if _module else None, id="compiled", marks=_NOT_BUILT),
]
IMPLEMENTATIONS = ["python", pytest.param("compiled", marks=_NOT_BUILT)]
