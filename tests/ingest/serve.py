"""Run one ingest process for the process-level tests: settings as JSON in $INGEST_SETTINGS_JSON,
serving on the already-listening socket whose fd is $INGEST_FD (so a restarted process keeps the URL)."""

from __future__ import annotations

import os

import uvicorn

from ingest.app import create_app
from ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings.model_validate_json(os.environ["INGEST_SETTINGS_JSON"])
    uvicorn.run(create_app(settings), fd=int(os.environ["INGEST_FD"]), log_level="warning")


if __name__ == "__main__":
    main()
