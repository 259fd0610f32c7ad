"""App factories for benchmarks: `uvicorn --app-dir bench serve:edge_app --factory`, settings from env."""

from __future__ import annotations

from fastapi import FastAPI

from cdn_edge.app import create_app as create_edge
from cdn_edge.settings import EdgeSettings
from origin.app import create_app as create_origin
from origin.settings import OriginSettings


def origin_app() -> FastAPI:
    return create_origin(OriginSettings())


def edge_app() -> FastAPI:
    return create_edge(EdgeSettings())
