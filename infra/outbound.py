"""Where a practice's own endpoints may point: https to public addresses, or anything in the
region's own networks (OUTBOUND_ALLOWED_NETWORKS, where plain http is allowed too).

The host is checked after DNS: at the practice's `PUT`, and again at every connection a
delivery opens, which then goes to the address that was checked (the host name still names
the TLS server and its certificate), so a name that resolves inside later, or between the check
and the connect, reaches nothing inside. Redirects are never followed. Only a practice's own
URLs go through here; the operator's settings (service-wide endpoints, the issuer's key set)
are trusted as written.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpcore
import httpx

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
# A host name to its addresses, for one port: the system's resolver, or a test's DNS.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

# Special-purpose blocks that Python's `is_global` misses or that embed another address:
# CGNAT (RFC 6598), IETF protocol assignments, the 6to4 relay anycast, local-use NAT64.
_SPECIAL_PURPOSE = tuple(
    ip_network(block)
    for block in ("100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24", "64:ff9b:1::/48")
)
# The well-known NAT64 prefix (RFC 6052): the address is the IPv4 one in its last 32 bits.
_NAT64 = ip_network("64:ff9b::/96")


class OutboundRefusedError(Exception):
    """The policy refuses the endpoint; the message names the host and why, never a secret."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


def refused_class(address: IPAddress) -> str | None:
    """What kind of non-public address this is; None for a public one."""
    if isinstance(address, IPv6Address):
        embedded = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            inner = refused_class(embedded)
            return f"{inner} (IPv4 {embedded} inside)" if inner else None
        if address.sixtofour is not None or address.teredo is not None:
            return "a tunnel address (6to4 or Teredo)"
        if address.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("special-purpose", any(address in block for block in _SPECIAL_PURPOSE)),
        ("not globally reachable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def parse_networks(text: str) -> tuple[Network, ...]:
    """OUTBOUND_ALLOWED_NETWORKS: comma-separated CIDRs (the settings refuse a bad one)."""
    return tuple(ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses as the system resolves them, in its order, each once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(addresses))


class OutboundPolicy:
    """Which addresses a practice's endpoints may reach, and clients that keep to it."""

    def __init__(
        self, allowed: Iterable[Network] = (), resolver: Resolver = system_resolver
    ) -> None:
        self._allowed = tuple(allowed)
        self._resolve = resolver

    @classmethod
    def from_setting(cls, networks: str, resolver: Resolver = system_resolver) -> OutboundPolicy:
        return cls(parse_networks(networks), resolver)

    def refusal(self, address: IPAddress, *, tls: bool) -> str | None:
        """Why the address may not be contacted (over TLS or not); None when it may."""
        mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
        forms = [address] if mapped is None else [address, mapped]
        if any(form in network for form in forms for network in self._allowed):
            return None
        kind = refused_class(address)
        if kind is not None:
            return f"{address} is {kind}, outside OUTBOUND_ALLOWED_NETWORKS"
        if not tls:
            return f"plain http to {address}: https is required outside OUTBOUND_ALLOWED_NETWORKS"
        return None

    async def addresses(self, host: str, port: int, *, tls: bool) -> list[IPAddress]:
        """The host's addresses, every one of them allowed; refused if any is not (a name
        that resolves to a public and an inside address could be steered to the inside)."""
        try:
            found = [ip_address(host.strip("[]"))]
        except ValueError:
            try:
                found = await self._resolve(host, port)
            except UnicodeError:
                raise OutboundRefusedError(host, "not a valid host name") from None
        if not found:
            raise OutboundRefusedError(host, "resolves to no address")
        for address in found:
            reason = self.refusal(address, tls=tls)
            if reason is not None:
                raise OutboundRefusedError(host, reason)
        return found

    async def check_url(self, url: str) -> None:
        """A practice's endpoint as given at its `PUT`: refused unless allowed now."""
        # The URL itself is never repeated: it may carry a credential.
        try:
            parsed = httpx.URL(url)
            host, scheme, port = parsed.host, parsed.scheme, parsed.port
        except (httpx.InvalidURL, ValueError):
            raise OutboundRefusedError("the URL", "not a valid URL") from None
        if scheme not in ("http", "https") or not host:
            raise OutboundRefusedError("the URL", "not an http or https URL")
        port = port if port is not None else (443 if scheme == "https" else 80)
        if not 0 < port < 2**16:
            raise OutboundRefusedError(host, f"port {port} is not a TCP port")
        await self.addresses(host, port, tls=scheme == "https")

    def client(self, timeout: httpx.Timeout) -> httpx.AsyncClient:
        """An HTTP client whose every connection is checked and pinned to the checked address;
        it follows no redirect and takes no proxy from the environment."""
        # One TLS context for both (loading the CA bundle is the costly part of a client).
        tls = httpx.create_ssl_context()
        return httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            # https by default (so httpx builds no transport of its own), plain http apart.
            transport=_checked_transport(_CheckedBackend(self, tls=True), tls),
            mounts={"http://": _checked_transport(_CheckedBackend(self, tls=False), tls)},
        )


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Opens a connection only to an address the policy allows, resolving the name once."""

    def __init__(self, policy: OutboundPolicy, *, tls: bool) -> None:
        self._policy = policy
        self._tls = tls
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            checked = await asyncio.wait_for(
                self._policy.addresses(host, port, tls=self._tls), timeout
            )
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from error
        except OSError as error:
            # The name did not resolve (now): a delivery tries again, as for a refused connect.
            raise httpcore.ConnectError(f"resolving {host} failed: {error}") from error
        failure: httpcore.ConnectError | None = None
        for address in checked:
            try:
                # The checked address itself: no second lookup that could answer differently.
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefusedError(path, "a unix socket is never a practice's endpoint")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _checked_transport(backend: _CheckedBackend, tls: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    """httpx's transport over a pool that connects through `backend` (httpx takes no backend
    of its own, so its pool is replaced, as others do; verified against httpx 0.28)."""
    transport = httpx.AsyncHTTPTransport(verify=tls)
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=tls, network_backend=backend)
    return transport
