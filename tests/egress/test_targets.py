"""The SSRF guard: every resolved address is checked; the operator setting lets private ones through."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from egress.errors import TargetRefused
from egress.targets import resolve_target


def resolver(mapping: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in mapping:
            raise OSError(f"{host} does not resolve")
        return mapping[host]

    return resolve


DNS = resolver(
    {
        "hooks.example.com": ["93.184.216.34"],
        "sneaky.example.com": ["93.184.216.34", "127.0.0.1"],  # one bad answer among good ones
        "loopback.example.com": ["127.0.0.1"],
        "v6loop.example.com": ["::1"],
        "metadata.example.com": ["169.254.169.254"],
        "mapped.example.com": ["::ffff:10.0.0.1"],
        "empty.example.com": [],
    }
)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1.2.3:8080/hook",
        "http://10.0.0.5/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://240.0.0.1/hook",
        "http://100.64.0.1/hook",
        "http://loopback.example.com/hook",
        "http://sneaky.example.com/hook",
        "http://v6loop.example.com/hook",
        "http://metadata.example.com/hook",
        "http://mapped.example.com/hook",
        "http://nowhere.example.com/hook",
        "http://empty.example.com/hook",
        "ftp://hooks.example.com/hook",
        "file:///etc/passwd",
        "http://user:pw@hooks.example.com/hook",
        "http:///hook",
        "http://hooks.example.com:99999/hook",
        "http://hooks.example.com:0/hook",
        "http://hooks.example.com/\x00",
        "http://evil.example.com\\@127.0.0.1/",
        "http://[::1/hook",
        "https://hooks.example.com/" + "a" * 3000,
    ],
)
def test_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        resolve_target(url, allow_private=False, resolver=DNS)


@pytest.mark.parametrize(
    ("url", "address", "port"),
    [
        ("https://hooks.example.com/hook", "93.184.216.34", 443),
        ("http://hooks.example.com:8080/hook", "93.184.216.34", 8080),
        ("http://93.184.216.34/hook", "93.184.216.34", 80),
        ("HTTPS://HOOKS.example.com/hook", "93.184.216.34", 443),
    ],
)
def test_accepted(url: str, address: str, port: int) -> None:
    target = resolve_target(url, allow_private=False, resolver=DNS)
    assert (target.address, target.port) == (address, port)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:9/hook", "127.0.0.1"),
        ("http://[::1]:9/hook", "::1"),
        ("http://loopback.example.com/hook", "127.0.0.1"),
        ("http://10.0.0.5/hook", "10.0.0.5"),
    ],
)
def test_operator_setting_allows_private_targets(url: str, address: str) -> None:
    assert resolve_target(url, allow_private=True, resolver=DNS).address == address


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://metadata.example.com/", "169.254.169.254, which is link-local"),
        ("http://loopback.example.com/", "127.0.0.1, which is loopback"),
        ("http://v6loop.example.com/", "::1, which is loopback"),
        ("http://10.0.0.5/", "10.0.0.5, which is private"),
        ("http://mapped.example.com/", "::ffff:a00:1, which is private"),
        ("http://224.0.0.1/", "224.0.0.1, which is multicast"),
        ("http://240.0.0.1/", "240.0.0.1, which is reserved"),
        ("http://0.0.0.0/", "0.0.0.0, which is unspecified"),
    ],
)
def test_refusal_names_the_address_and_why(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        resolve_target(url, allow_private=False, resolver=DNS)
    assert reason in str(refused.value)
