"""The client's address: the socket peer, or what trusted proxies say in X-Forwarded-For. Pure.

Each proxy appends the address it received the request from, so the list is read from the right:
the rightmost entry was written by the proxy that connected to us (the peer), the one before it by
the proxy before that, and so on. Entries are believed only while the hop that wrote them is a
trusted proxy; the first untrusted address met is the client. Anything to its left the client may
have written itself, which is why the leftmost entry is never taken on trust.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Networks from CIDRs or bare addresses ("10.0.0.0/8", "::1"); ValueError names a bad one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR: {cidr!r}") from None
    return tuple(networks)


MEMO_SIZE = 10_000


class TrustedProxies:
    def __init__(self, cidrs: Iterable[str] = ()) -> None:
        self.networks = parse_networks(cidrs)
        # Answers by (peer, header values): the same few proxies and clients come back on every request,
        # and parsing addresses costs more than the rest of a cache hit.
        self._memo: dict[tuple[str, tuple[str, ...]], str | None] = {}

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:  # "::ffff:10.0.0.1" from a dual-stack socket
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: Iterable[str]) -> str | None:
        """The client of a request from `peer` carrying these X-Forwarded-For values (in order).

        None when the walk reaches an entry that is not an address (a trusted proxy would not write
        one): an address-bound check then fails, as it should for an unknown client."""
        if peer is None or not self.networks:
            return peer
        key = (peer, tuple(forwarded_for))
        try:
            return self._memo[key]
        except KeyError:
            pass
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        client = self._memo[key] = self._walk(peer, key[1])
        return client

    def _walk(self, peer: str, forwarded_for: tuple[str, ...]) -> str | None:
        if not self.trusts(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        address = peer
        for hop in reversed(hops):
            if not hop:
                continue
            try:
                address = str(ipaddress.ip_address(hop))
            except ValueError:
                return None
            if not self.trusts(address):
                return address
        return address  # every hop trusted: the leftmost one is as far as we can see
