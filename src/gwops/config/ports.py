"""Port collisions, found when validating: the host ports the stack publishes (config/stack.yaml)
against each other and against the ports of model servers on this host (config/providers.yaml).

The system we replace had Prometheus and LiteLLM's exporter both on 9090: the second to start
failed, far from the cause. Here both places are named, with file and line, before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from gwops import constants as C
from gwops.config.models import ProvidersFile
from gwops.config.providers import REGISTRY
from gwops.errors import Problem
from gwops.yamlsrc import SourceDoc, load_file

# a provider on one of these hosts is a server on this machine, sharing its ports with the stack
HOST_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal"}
STACK_DISPLAY = f"{C.CONFIG_DIR}/stack.yaml"


def _stack_doc(stack_file: Path) -> SourceDoc:
    doc, _ = load_file(stack_file, STACK_DISPLAY) if stack_file.exists() else (None, [])
    return doc or SourceDoc(STACK_DISPLAY, {}, {(): (1, 1)})


def local_port(url: str | None) -> int | None:
    """The port of a server on this host, from its URL (the scheme's default if none is given)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None  # a malformed URL is reported by the URL check
    if parts.hostname not in HOST_NAMES:
        return None
    return port or (443 if parts.scheme == "https" else 80)


def collisions(
    published: list[tuple[str, int, str]], stack_file: Path, pdoc: SourceDoc, providers: ProvidersFile
) -> list[Problem]:
    """`published`: (bind address, port, setting) of every host port the stack publishes
    (gwops.components.published_ports: the compiler does not know the components)."""
    sdoc = _stack_doc(stack_file)
    problems: list[Problem] = []
    owner: dict[int, str] = {}  # a server on this host collides whatever the stack's bind address
    seen: dict[tuple[str, int], str] = {}
    for bind, port, setting in published:
        if (bind, port) in seen:
            problems.append(
                sdoc.problem(
                    tuple(setting.split(".")),
                    f"port {port} is also `{seen[(bind, port)]}` (both on {bind})",
                    "give each service its own port in config/stack.yaml",
                    "consistency",
                )
            )
        seen.setdefault((bind, port), setting)
        owner.setdefault(port, setting)
    for pid, p in providers.providers.items():
        if p.status != "active" or p.type not in REGISTRY:
            continue
        url = p.base_url or REGISTRY[p.type].default_base_url
        port = local_port(url)
        if port in owner:
            line, _ = sdoc.locate(tuple(owner[port].split(".")))
            path = ("providers", pid, "base_url") if p.base_url else ("providers", pid)
            problems.append(
                pdoc.problem(
                    path,
                    f"provider `{pid}` is on port {port} of this host, which the stack publishes as "
                    f"`{owner[port]}` ({STACK_DISPLAY}:{line})",
                    f"move one of them: the server's port (and `base_url`), or `{owner[port]}` in {STACK_DISPLAY}",
                    "consistency",
                )
            )
    return problems
