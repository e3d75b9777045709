"""The client's IP address, truncated before anything stores it.

The collector never puts an IP address (or a user agent) into a stored event body: a body holds what
the client sent, nothing more. What it keeps is the network the request came from, in the events'
own `ip` column: IPv4 truncated to its /24 ("203.0.113.0"), IPv6 to its /48 ("2001:db8:1::"), as
common analytics anonymisation does. That still tells countries and networks apart, and no longer
names a household. `visitrail serve --no-ip` keeps nothing at all.

Where the address comes from: the TCP peer, unless the collector runs behind reverse proxies and is
told how many (`--trust-proxy N`). Then the peer is the nearest proxy, and the client is the N-th
address from the end of X-Forwarded-For: each proxy appends the address it saw, so the entries to
the right of it were written by proxies we trust, and everything to its left is the client's own
say, which anyone can forge. Without --trust-proxy the header is ignored for the same reason.
"""

from __future__ import annotations

import ipaddress

__all__ = ["truncated", "client_ip", "client_address", "client_scheme", "limit_key"]

IPV4_PREFIX = 24
IPV6_PREFIX = 48


def truncated(address: str | None) -> str | None:
    """`address` with its host part zeroed, or None if it isn't an IP address."""
    if not address:
        return None
    text = address.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443", as some proxies write it
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text.partition("%")[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # "::ffff:203.0.113.7" is an IPv4 client on a dual-stack socket
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def client_address(peer: str | None, forwarded_for: str | None, trust_proxy: int) -> str | None:
    """The client's whole address, as the connection and the trusted proxies tell it: for rate
    limits, in memory only; never stored."""
    if trust_proxy > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            # Fewer entries than trusted proxies: the leftmost is still the best we know.
            return hops[-trust_proxy] if len(hops) >= trust_proxy else hops[0]
    return peer


def client_ip(peer: str | None, forwarded_for: str | None, trust_proxy: int) -> str | None:
    """The client's truncated address: see the module docstring."""
    return truncated(client_address(peer, forwarded_for, trust_proxy))


def client_scheme(scheme: str, forwarded_proto: str | None, trust_proxy: int) -> str:
    """http or https, as the client connected: the connection's, unless trusted proxies say
    (X-Forwarded-Proto, read by hops like X-Forwarded-For). The dashboard's cookie is Secure on https."""
    if trust_proxy > 0 and forwarded_proto:
        hops = [hop.strip().lower() for hop in forwarded_proto.split(",") if hop.strip()]
        if hops:
            said = hops[-trust_proxy] if len(hops) >= trust_proxy else hops[0]
            return said if said in ("http", "https") else scheme
    return scheme


def limit_key(address: str | None) -> str:
    """What a per-address limit counts by: an IPv4 address, or an IPv6 address's /64, since one
    host is handed a whole /64 and could otherwise take a fresh bucket for every request."""
    text = (address or "").strip().partition("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)
