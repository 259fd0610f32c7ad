from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage.settings import persistent_secret


def test_persistent_secret_is_created_once_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "secret"
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: persistent_secret(path), range(32)))
    assert len(secrets) == 1
    (secret,) = secrets
    assert len(secret) >= 32 and path.read_text().strip() == secret
    assert path.stat().st_mode & 0o777 == 0o600
    assert persistent_secret(path) == secret
