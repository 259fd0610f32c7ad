"""The poster renderer as a command, the child that media.poster_sandbox runs in the sandbox.

`python -m media.poster_cli SOURCE CONTENT_TYPE OUT_DIR [--limits JSON]` writes the variants of the
image SOURCE into OUT_DIR and prints one JSON object: {"rendered": Rendered.as_dict(), "peak_rss_kib": N}
or {"invalid": {"message": ..., "reason": ...}, "peak_rss_kib": N}. It imports only Pillow and
media.poster: it starts on every poster upload.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path
from typing import Any

from media.errors import InvalidMedia
from media.poster import PosterLimits, render_poster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m media.poster_cli")
    parser.add_argument("source", type=Path)
    parser.add_argument("content_type")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--limits", default="{}", help="PosterLimits as JSON")
    args = parser.parse_args(argv)
    raw = json.loads(args.limits)
    limits = PosterLimits(max_pixels=int(raw.get("max_pixels", PosterLimits.max_pixels)))
    if "widths" in raw:
        limits = PosterLimits(limits.max_pixels, tuple(int(w) for w in raw["widths"]))
    answer: dict[str, Any]
    try:
        answer = {"rendered": render_poster(args.source, args.content_type, args.out_dir, limits).as_dict()}
    except InvalidMedia as exc:
        answer = {"invalid": {"message": exc.message, "reason": exc.reason}}
    answer["peak_rss_kib"] = _peak_rss_kib()
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


def _peak_rss_kib() -> int:
    """This program's high-water mark of resident memory (KiB): what decoding this image cost, for the log
    and tests. VmHWM belongs to the address space exec made; ru_maxrss would also count the forked parent."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    sys.exit(main())
