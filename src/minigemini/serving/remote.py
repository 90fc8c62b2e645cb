"""Fetching http(s) images safely: allow-listed hosts, resolved-IP checks, no redirects, size cap, timeout."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from .errors import APIError


def host_allowed(host: str, patterns: list[str]) -> bool:
    """Exact host names, or `*.example.com` for any subdomain of example.com."""
    host = host.lower().rstrip(".")
    for pattern in (p.lower().rstrip(".") for p in patterns):
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_checked(host: str, port: int, allow_private: bool) -> str:
    """Resolve `host` and return one address to connect to; refuse if any address is non-public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise APIError(400, f"Cannot resolve image host '{host}' ({err}).", "invalid_image_url") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private:
        blocked = [str(a) for a in addresses if not _is_public(a)]
        if blocked:
            raise APIError(
                400,
                f"Image host '{host}' resolves to a non-public address ({', '.join(blocked)}); fetching it is refused. "
                "Send the image as a data: URL instead.",
                "image_url_forbidden",
            )
    return str(addresses[0])


def fetch_image(url: str, *, hosts: list[str], allow_private: bool, max_bytes: int, timeout: float) -> bytes:
    """GET an allow-listed http(s) image, pinned to the address that was checked (no DNS rebinding)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host_allowed(host, hosts):
        raise APIError(
            400,
            f"Image host '{host}' is not on this server's allow-list. Send the image as a data: URL, "
            "or add the host with --remote-image-host.",
            "image_url_forbidden",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve_checked(host, port, allow_private)
    netloc = f"[{address}]" if ":" in address else address
    pinned = parts._replace(netloc=f"{netloc}:{port}").geturl()
    headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "image/*"}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            with client.stream("GET", pinned, headers=headers, extensions={"sni_hostname": host}) as response:
                if response.is_redirect:
                    raise APIError(400, f"Image URL {url} redirects; redirects are not followed. Use the final URL.", "invalid_image_url")
                if response.status_code != 200:
                    raise APIError(400, f"Fetching image {url} returned HTTP {response.status_code}.", "invalid_image_url")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _too_big(url, max_bytes)
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise _too_big(url, max_bytes)
                return bytes(data)
    except httpx.TimeoutException:
        raise APIError(400, f"Fetching image {url} timed out after {timeout:g} s.", "image_fetch_timeout") from None
    except httpx.HTTPError as err:
        raise APIError(400, f"Fetching image {url} failed: {err}.", "invalid_image_url") from None


def _too_big(url: str, max_bytes: int) -> APIError:
    return APIError(413, f"Image {url} is larger than the limit of {max_bytes:,} bytes. Send a smaller image.", "image_too_large")
