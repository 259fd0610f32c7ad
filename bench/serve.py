"""App factories for benchmarks: `uvicorn --app-dir bench serve:origin_app --factory`, settings from env.

The edge has none: it runs as deployed, `vodstack serve edge`, whose protocol answers hits."""

from __future__ import annotations

from fastapi import FastAPI

from origin.app import create_app as create_origin
from origin.settings import OriginSettings


def origin_app() -> FastAPI:
    return create_origin(OriginSettings())
