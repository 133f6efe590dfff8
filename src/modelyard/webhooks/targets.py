"""Where a webhook may send: the guard against server-side request forgery.

A webhook URL is untrusted input that makes this server open connections, so it is checked twice:
when it is configured (a clear 422 at once) and before every attempt (DNS may have changed since).

- Only `http` and `https`, a host, no `user:password@`, at most 2,000 characters.
- The host is resolved and **every** address must be public. Refused otherwise: private, loopback,
  link-local (169.254.169.254, the cloud metadata service), multicast, reserved, unspecified,
  shared (100.64/10) and documentation ranges, in IPv4 and IPv6, including IPv4 written inside IPv6
  (`::ffff:127.0.0.1`, 6to4, Teredo, NAT64 64:ff9b::/96).
- An admin may allow more in the `webhooks` settings: `allowPrivateTargets` admits private and
  loopback networks; `allowedTargets` lists hosts, addresses or CIDR networks admitted whatever they
  are (a test allows `127.0.0.1`). The unspecified address (0.0.0.0, ::) is never a target.
- The delivery connects to the address checked here, never resolving the name again (no rebinding
  between check and connect), and follows no redirects.
"""
from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelyard.errors import Unprocessable

MAX_URL = 2000
RESOLVE_SECONDS = 3.0
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
                                             "100.64.0.0/10", "fc00::/7", "::1/128")]
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="modelyard-dns")


class TargetRefused(Unprocessable):
    code = "WEBHOOK_TARGET_REFUSED"


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`), and the name to send as Host and TLS server name."""

    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked IP to connect to


@dataclass(frozen=True)
class Policy:
    """What an admin allows beyond public addresses (the `webhooks` settings section)."""

    allow_private: bool = False
    allowed: tuple[str, ...] = ()

    @classmethod
    def of(cls, section) -> "Policy":
        return cls(bool(section.allowPrivateTargets), tuple(section.allowedTargets))

    def admits(self, host: str, ip: IP) -> bool:
        if ip.is_unspecified:
            return False
        for entry in self.allowed:
            if entry.lower() == host.lower() or _in_network(ip, entry):
                return True
        if _is_public(ip):
            return True
        inner = _embedded(ip)
        return self.allow_private and any(inner in net for net in PRIVATE if net.version == inner.version)


def check_allowed_entry(value: str) -> str:
    """An `allowedTargets` entry: a host name, an address or a CIDR network; ValueError otherwise."""
    value = str(value).strip()
    looks_numeric = any(c in value for c in "/:") or _address(value) is not None
    if not value or len(value) > 253 or (looks_numeric and _network(value) is None) or " " in value:
        raise ValueError(f"{value!r} is not a host, an address or a network like 10.0.0.0/8")
    return value


def parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL; TargetRefused naming what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise TargetRefused("the webhook URL is empty")
    if len(url) > MAX_URL:
        raise TargetRefused(f"the webhook URL is longer than {MAX_URL} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url.strip()):
        raise TargetRefused("the webhook URL contains spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the webhook URL is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise TargetRefused(f"webhook URLs must be http:// or https://, not {parts.scheme or 'no scheme'}:")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("a webhook URL must not carry a user name or password; the secret signs each delivery")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused("the webhook URL has no host")
    scheme = parts.scheme.lower()
    return scheme, host, port or (443 if scheme == "https" else 80)


def check(url: str, policy: Policy) -> Target:
    """Parse, resolve and check `url`; the Target to connect to, or TargetRefused saying why not."""
    scheme, host, port = parse(url)
    addresses = resolve(host, port)
    refused = [ip for ip in addresses if not policy.admits(host, ip)]
    if refused:
        where = host if _address(host) is not None else f"{host} resolves to {refused[0]}, which"
        raise TargetRefused(f"webhook target {where} is {describe(refused[0])}; such targets "
                            "are refused unless an admin allows them (settings webhooks.allowPrivateTargets or "
                            "webhooks.allowedTargets)")
    return Target(url.strip(), scheme, host, port, str(addresses[0]))


def resolve(host: str, port: int) -> list[IP]:
    """Every address of `host` (an IP literal is itself); TargetRefused when the name does not resolve in time."""
    literal = _address(host)
    if literal is not None:
        return [literal]
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=RESOLVE_SECONDS)
    except FutureTimeout:
        raise TargetRefused(f"the webhook host {host} did not resolve within {RESOLVE_SECONDS:.0f} s") from None
    except (socket.gaierror, UnicodeError, OSError, ValueError) as exc:
        raise TargetRefused(f"the webhook host {host} does not resolve: {exc}") from None
    found = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not found:
        raise TargetRefused(f"the webhook host {host} has no address")
    return found


def describe(ip: IP) -> str:
    inner = _embedded(ip)
    for test, words in ((lambda a: a.is_unspecified, "the unspecified address"),
                        (lambda a: a.is_loopback, "a loopback address"),
                        (lambda a: a.is_link_local, "a link-local address (cloud metadata lives there)"),
                        (lambda a: a.is_multicast, "a multicast address"),
                        (lambda a: a.is_reserved, "a reserved address"),
                        (lambda a: any(a in n for n in PRIVATE if n.version == a.version), "a private address")):
        if test(inner):
            return words
    return "not a public address"


def _is_public(ip: IP) -> bool:
    inner = _embedded(ip)
    return inner.is_global and not (inner.is_multicast or inner.is_reserved or inner.is_link_local
                                    or inner.is_loopback or inner.is_private or inner.is_unspecified)


def _embedded(ip: IP) -> IP:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), else the address itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _address(value: str) -> IP | None:
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None


def _network(value: str):
    try:
        return ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        return None


def _in_network(ip: IP, entry: str) -> bool:
    network = _network(entry)
    if network is None:
        return False
    return any(a.version == network.version and a in network for a in {ip, _embedded(ip)})

