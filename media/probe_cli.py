"""The probe as a command, the child that media.probe_sandbox runs in the sandbox.

`python -m media.probe_cli SOURCE [--limits JSON]` probes SOURCE (a path or an http(s) URL,
e.g. a presigned one) and prints one JSON object: {"info": MediaInfo.as_dict()},
{"invalid": {"message": ..., "reason": ...}} or, when a URL could not be fetched at all,
{"unreachable": {"message": ...}}. It imports nothing but the probe: it starts on every upload.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import av.error

from media.errors import InvalidMedia
from media.probe import ProbeLimits, probe_source


def main(argv: list[str] | None = None) -> int:
    """The child: probe one source, print the answer as JSON."""
    parser = argparse.ArgumentParser(prog="python -m media.probe_cli")
    parser.add_argument("source", help="a local path or an http(s) URL")
    parser.add_argument("--limits", default="{}", help="ProbeLimits as JSON")
    args = parser.parse_args(argv)
    answer: dict[str, Any]
    try:
        info = probe_source(args.source, ProbeLimits(**json.loads(args.limits)))
        answer = {"info": info.as_dict()}
    except InvalidMedia as exc:
        if "://" in args.source and _is_network_error(exc.__cause__):
            answer = {"unreachable": {"message": str(exc.__cause__)}}
        else:
            answer = {"invalid": {"message": exc.message, "reason": exc.reason}}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


def _is_network_error(exc: BaseException | None) -> bool:
    """An HTTP status or a connection failure: the URL, not the media, is at fault."""
    network: tuple[type[BaseException], ...] = (
        av.error.HTTPError,
        av.error.HTTPClientError,
        av.error.HTTPServerError,
        ConnectionError,
        TimeoutError,
    )
    network += (av.error.ConnectionRefusedError, av.error.ConnectionResetError, av.error.TimeoutError)
    return isinstance(exc, network)


if __name__ == "__main__":
    sys.exit(main())
