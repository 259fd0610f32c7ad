"""The web page's npm dependencies for tests: installed and built on demand (`npm ci`, `npm run build`)
when web/node_modules or web/static/vendor is missing, so a fresh clone needs no manual step."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from web.app import missing_vendor_files

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def ensure_web_assets() -> Path:
    """Return web/; raises AssertionError (never skips) when npm cannot provide the assets."""
    npm = shutil.which("npm")
    assert npm, "npm is needed for the web page's front-end libraries"
    if not (WEB_DIR / "node_modules" / "playwright-core").is_dir():
        _run([npm, "ci", "--no-audit", "--no-fund"])
    if missing_vendor_files():
        _run([npm, "run", "build"])
    assert not missing_vendor_files(), missing_vendor_files()
    return WEB_DIR


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, cwd=WEB_DIR, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"
