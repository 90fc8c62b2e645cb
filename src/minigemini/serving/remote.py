"""Fetching http(s) images safely: allow-listed hosts, resolved-IP checks, no redirects, size cap, one deadline."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

import httpx

from .errors import APIError

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def host_allowed(host: str, patterns: list[str]) -> bool:
    """Exact host names, or `*.example.com` for any subdomain of example.com."""
    host = host.lower().rstrip(".")
    for pattern in (p.lower().rstrip(".") for p in patterns):
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: `::ffff:a.b.c.d`, `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`,
    6to4 `2002:AABB:CCDD::` or Teredo's client."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable and unicast, including any IPv4 address embedded in an IPv6 one."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
        return is_public(inner)
    return ip.is_global and not ip.is_multicast


def parse_url(url: str) -> tuple[SplitResult, str, int]:
    """(parts, host, port) of an http(s) URL; 400 for malformed hosts and ports."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # "Invalid IPv6 URL", "Port out of range 0-65535", non-numeric ports
        raise APIError(400, "The image URL is malformed (its host or port cannot be parsed).", "invalid_image_url") from None
    if not host or port == 0:
        raise APIError(400, "The image URL has no host, or port 0.", "invalid_image_url")
    return parts, host, port or (443 if parts.scheme.lower() == "https" else 80)


async def resolve_checked(host: str, port: int, allow_private: bool) -> str:
    """Resolve `host` and return one address to connect to; refuse if any address is non-public."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror, or a name IDNA cannot encode
        raise APIError(400, f"Cannot resolve image host '{_short(host)}'.", "invalid_image_url") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private:
        blocked = [str(a) for a in addresses if not is_public(a)]
        if blocked:
            raise APIError(
                400,
                f"Image host '{_short(host)}' resolves to a non-public address ({', '.join(blocked)}); fetching it is refused. "
                "Send the image as a data: URL instead.",
                "image_url_forbidden",
            )
    return str(addresses[0])


def fetch_image(url: str, *, hosts: list[str], allow_private: bool, max_bytes: int, timeout: float) -> bytes:
    """Blocking: GET an allow-listed http(s) image, pinned to the address that was checked (no DNS
    rebinding); `timeout` bounds the whole fetch, name resolution and a slowly dripping body included."""
    parts, host, port = parse_url(url)
    if not host_allowed(host, hosts):
        raise APIError(
            400,
            f"Image host '{_short(host)}' is not on this server's allow-list. Send the image as a data: URL, "
            "or add the host with --remote-image-host.",
            "image_url_forbidden",
        )
    try:
        return asyncio.run(asyncio.wait_for(_download(parts, host, port, allow_private, max_bytes, timeout), timeout))
    except TimeoutError:
        raise APIError(400, f"Fetching image {_short(url)} timed out after {timeout:g} s.", "image_fetch_timeout") from None


async def _download(parts: SplitResult, host: str, port: int, allow_private: bool, max_bytes: int, timeout: float) -> bytes:
    url = parts.geturl()
    address = await resolve_checked(host, port, allow_private)
    netloc = f"[{address}]" if ":" in address else address
    pinned = parts._replace(netloc=f"{netloc}:{port}").geturl()
    headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "image/*"}
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            async with client.stream("GET", pinned, headers=headers, extensions={"sni_hostname": host}) as response:
                if response.is_redirect:
                    raise APIError(400, f"Image URL {_short(url)} redirects; redirects are not followed. Use the final URL.", "invalid_image_url")
                if response.status_code != 200:
                    raise APIError(400, f"Fetching image {_short(url)} returned HTTP {response.status_code}.", "invalid_image_url")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _too_big(url, max_bytes)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise _too_big(url, max_bytes)
                return bytes(data)
    except httpx.TimeoutException:
        raise TimeoutError from None
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as err:
        raise APIError(400, f"Fetching image {_short(url)} failed ({type(err).__name__}).", "invalid_image_url") from None


def _short(text: str, limit: int = 200) -> str:
    """A client-given URL or host, cut to `limit` characters for an error message."""
    return text if len(text) <= limit else text[:limit] + "..."


def _too_big(url: str, max_bytes: int) -> APIError:
    return APIError(413, f"Image {_short(url)} is larger than the limit of {max_bytes:,} bytes. Send a smaller image.", "image_too_large")
