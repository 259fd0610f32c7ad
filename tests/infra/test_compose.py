"""infra/compose.yaml: valid against the Compose specification (schema vendored in infra/schemas),
only public images (or our image built FROM them), a healthcheck and a restart policy everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
SCHEMA = INFRA / "schemas" / "compose-spec.json"
PUBLIC_IMAGES = {"minio/minio", "minio/mc", "postgres:16", "redis:7", "prom/prometheus", "grafana/grafana"}
BASE_IMAGES = {"python:3.11-slim", "node:20-slim"}
ONE_SHOT = {"minio-init", "migrate"}


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(SCHEMA), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def compose() -> dict:
    return yaml.safe_load((INFRA / "compose.yaml").read_text())


def test_compose_file_matches_the_compose_specification() -> None:
    result = check_jsonschema(INFRA / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_an_invalid_file(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  web:\n    image: redis:7\n    restart_policy: always\n    ports: 80\n")
    assert check_jsonschema(bad).returncode != 0


def test_images_are_public_or_built_from_public_bases() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if "build" in service:
            froms = [
                line.split()[1]
                for line in service["build"]["dockerfile_inline"].splitlines()
                if line.startswith("FROM ")
            ]
            assert set(froms) <= BASE_IMAGES, name
        else:
            assert service["image"] in PUBLIC_IMAGES, name


def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    expected = {"minio", "postgres", "redis", "prometheus", "grafana", "ingest", "worker", "origin", "shield"}
    assert expected <= set(services)
    assert sum(1 for s in services.values() if "VODSTACK_EDGE_ROLE" in s.get("environment", {})) >= 3
    assert services["worker"]["deploy"]["replicas"] >= 2


CREDENTIALS = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "POSTGRES_PASSWORD", "VODSTACK_UPLOAD_TOKEN"}


def test_credentials_have_no_fallback_so_compose_refuses_to_start_without_them() -> None:
    text = (INFRA / "compose.yaml").read_text()
    referenced = re.findall(r"\$\{(\w+)([^}]*)\}", text)
    for name, rest in referenced:
        if name in CREDENTIALS:
            # ${VAR:?message}: compose stops with the message when VAR is unset or empty.
            assert rest.startswith(":?"), f"${{{name}{rest}}}"
    assert CREDENTIALS <= {name for name, _ in referenced}
