"""TrustedProxies.client_address: whom X-Forwarded-For is believed from, and how far. Pure."""

from __future__ import annotations

import pytest

from traffic.clients import TrustedProxies

LB = ["10.0.0.0/8", "fd00::/8"]


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        ([], "10.1.1.1", ["203.0.113.7"], "10.1.1.1"),  # nothing trusted: the header is ignored
        (LB, "198.51.100.9", ["203.0.113.7"], "198.51.100.9"),  # an untrusted peer's header is ignored
        (LB, "10.1.1.1", [], "10.1.1.1"),
        (LB, "10.1.1.1", ["203.0.113.7"], "203.0.113.7"),
        # The client wrote the leftmost entry; the trusted LB appended the real peer.
        (LB, "10.1.1.1", ["203.0.113.7, 198.51.100.9"], "198.51.100.9"),
        (LB, "10.1.1.1", ["203.0.113.7", "198.51.100.9"], "198.51.100.9"),  # two header lines
        # Two trusted hops: the walk passes both.
        (LB, "10.1.1.1", ["203.0.113.7, 10.2.2.2"], "203.0.113.7"),
        (LB, "10.1.1.1", ["10.3.3.3, 10.2.2.2"], "10.3.3.3"),  # all trusted: the leftmost
        (LB, "10.1.1.1", ["unknown"], None),
        (LB, "10.1.1.1", ["bogus, 203.0.113.7"], "203.0.113.7"),
        (LB, "::ffff:10.1.1.1", ["203.0.113.7"], "203.0.113.7"),
        (LB, "fd00::1", ["2001:db8::7"], "2001:db8::7"),
        (["127.0.0.1"], "127.0.0.1", ["203.0.113.7 , "], "203.0.113.7"),
        (LB, None, ["203.0.113.7"], None),
    ],
)
def test_client_address(trusted: list[str], peer: str | None, forwarded: list[str], client: str | None) -> None:
    assert TrustedProxies(trusted).client_address(peer, forwarded) == client


def test_bad_cidr_is_named() -> None:
    with pytest.raises(ValueError, match="10.0.0.0/33"):
        TrustedProxies(["10.0.0.0/33"])
