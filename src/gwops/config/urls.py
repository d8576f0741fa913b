"""A provider's `base_url` checked as a URL before it is written into the gateway config.

`urlsplit` accepts almost anything (`localhost:80` parses as scheme `localhost`), so the parts
are checked one by one and every defect is named, not just the first.
"""

from __future__ import annotations

import ipaddress
import re

SCHEMES = ("http", "https")
HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?")


def _host_defect(host: str) -> str | None:
    if not host:
        return "it has no host"
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else "x")
        except ValueError:
            return f"host `{host}` is not an IPv6 address in brackets"
        return None
    if not HOSTNAME.fullmatch(host):
        return f"host `{host}` is not a host name or IP address"
    return None


def _port_defect(port: str) -> str | None:
    if not port:
        return "the port after `:` is empty"
    if not port.isdigit() or not port.isascii():
        return f"port `{port}` is not a number" + (" (more than one `:`?)" if ":" in port else "")
    if not 1 <= int(port) <= 65535:
        return f"port {int(port)} is out of range (1-65535)"
    return None


def _split_hostport(netloc: str) -> tuple[str, str | None]:
    if netloc.startswith("["):
        host, _, rest = netloc.partition("]")
        host += "]"
        return host, (rest[1:] if rest.startswith(":") else (rest or None))
    host, sep, port = netloc.partition(":")
    return host, (port if sep else None)


def _split(url: str) -> tuple[str | None, str]:
    """Scheme (None when absent) and authority (`user@host:port`) of `url`.

    Not `urlsplit`: it reads `localhost:80` as scheme `localhost` and raises on a bad `[...]`.
    """
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        scheme, rest = None, url.strip()
    return scheme, re.split(r"[/?#]", rest, maxsplit=1)[0]


def url_defects(url: str) -> list[str]:
    """What is wrong with `url` as a provider base URL; empty when it is fine."""
    if not url.strip():
        return ["it is empty"]
    defects = []
    if any(c.isspace() for c in url):
        defects.append("it contains whitespace")
    scheme, netloc = _split(url)
    if scheme is None:
        defects.append("it has no scheme (`http://` or `https://`)")
    elif scheme.lower() not in SCHEMES:
        defects.append(f"scheme `{scheme}` is not `http` or `https`")
    if "@" in netloc:
        defects.append("it carries credentials (`user:password@`)")
        netloc = netloc.rpartition("@")[2]
    host, port = _split_hostport(netloc)
    defects += [d for d in (_host_defect(host), _port_defect(port) if port is not None else None) if d]
    return defects


def example(url: str) -> str:
    """A well-formed URL close to what was written, for the hint."""
    host, _ = _split_hostport(_split(url)[1].rpartition("@")[2])
    return f"http://{host if not _host_defect(host) else 'localhost'}:8000"
