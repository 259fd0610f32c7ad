"""Which URLs we may call for a user (webhook receivers, import sources): the SSRF guard, used when the
URL is given and again before every request.

The host is resolved and every address it resolves to is checked; the request then goes to the
checked address itself (`pinned_request`), so a DNS answer that changes between check and connect
(rebinding) cannot send it elsewhere. Private, loopback, link-local, multicast, reserved and
unspecified addresses are refused unless the operator allows them (`allow_private`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from egress.errors import TargetRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (as text); socket.gaierror when it does not resolve.
Resolver = Callable[[str, int], Sequence[str]]
MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as in the URL (the Host header and the TLS server name)
    port: int
    address: str  # the checked address the request connects to


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress) -> str | None:
    """Why connecting to `address` is refused without the operator setting, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host in ASCII, port) of an acceptable URL shape; TargetRefused otherwise (no I/O).

    Parsed by httpx, the client that sends: the host checked is the host it would have connected to.
    """
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs are accepted")
    if parsed.userinfo:
        raise TargetRefused("URLs with credentials are not accepted")
    if not host:
        raise TargetRefused("the URL has no host")
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise TargetRefused(f"port {port} is out of range")
    return parsed.scheme, host, port


def resolve_target(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """Check the URL and every address its host resolves to; TargetRefused when any is refused."""
    scheme, host, port = check_url(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list(resolver(host, port))
        except (OSError, UnicodeError, ValueError) as exc:
            raise TargetRefused(f"the host {host!r} does not resolve ({exc})") from None
    if not addresses:
        raise TargetRefused(f"the host {host!r} does not resolve")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        why = refusal(address)
        if why is not None and not allow_private:
            raise TargetRefused(f"{host!r} resolves to {address}, which is {why}")
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0].split("%", 1)[0])


def pinned_url(target: Target) -> httpx.URL:
    """The target URL with its host replaced by the checked address (the Host header keeps the name)."""
    return httpx.URL(target.url).copy_with(host=target.address)


def pinned_request(
    client: httpx.Client, method: str, target: Target, headers: dict[str, str], content: bytes | None = None
) -> httpx.Request:
    """A request to the checked address of `target`, with the Host header and TLS server name of its
    URL (so a certificate is checked against the name). httpx.InvalidURL or ValueError: unusable URL."""
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if ":" not in target.host else f"[{target.host}]"
    request_headers = {**headers, "host": host if target.port == default_port else f"{host}:{target.port}"}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return client.build_request(
        method, pinned_url(target), headers=request_headers, content=content, extensions=extensions
    )
