"""The registry's lines: every service of the stack by its component's name, with its images
pinned (the defaults of `images.<name>` in config/stack.yaml). A component is its folder
gwops/components/<name>/ and its line here; gwops.components imports each folder by this list.

Below the settings and the components alike: the settings take their image defaults from here,
the components their pins, and nothing here imports either. Order is the order of `status`,
`images build` and the compose fragments; start order comes from their `depends_on`.
"""

from __future__ import annotations

from dataclasses import dataclass

LITELLM_VERSION = "1.106.2"
OPTILLM_VERSION = "0.4.0"
# LiteLLM releases no stack may run (the default of `gateway.refuse_versions`): 1.82.7 and 1.82.8
# were published through a taken-over PyPI account and pulled (March 2026)
REFUSED_LITELLM = ("1.82.7", "1.82.8")


@dataclass(frozen=True)
class Pin:
    official: str  # the official image, pinned
    local: str | None  # the tag of the drop-in image built offline from its `image/` (None: none can be)


def gateway_pin(version: str) -> Pin:
    """The gateway's images for a LiteLLM release: `images.gateway`'s default follows
    `images.litellm_version` (what `bin/ops upgrade` writes)."""
    return Pin(f"ghcr.io/berriai/litellm:v{version}", f"gwops/litellm:{version}")


COMPONENTS: dict[str, Pin] = {
    "llama_cpp": Pin("ghcr.io/ggml-org/llama.cpp:server-b6833", "gwops/llama_cpp:0.3.36"),
    "ollama": Pin("ollama/ollama:0.12.6", None),
    "vllm": Pin("vllm/vllm-openai:v0.11.0", None),
    "proxy": Pin("haproxy:2.6.12", "gwops/haproxy:2.6"),
    "gateway": gateway_pin(LITELLM_VERSION),
    # data directories do not cross major versions: the local build is Debian bookworm's 15, so the
    # official pin is 15 as well
    "postgres": Pin("postgres:15.14-bookworm", "gwops/postgres:15"),
    "redis": Pin("redis:7.0.15-bookworm", "gwops/redis:7"),
    "prometheus": Pin("prom/prometheus:v2.42.0", "gwops/prometheus:2.42.0"),
    "alertmanager": Pin("prom/alertmanager:v0.25.0", "gwops/alertmanager:0.25.0"),
    "node_exporter": Pin("prom/node-exporter:v1.5.0", "gwops/node_exporter:1.5.0"),
    "postgres_exporter": Pin("quay.io/prometheuscommunity/postgres-exporter:v0.11.1", "gwops/postgres_exporter:0.11.1"),
    "redis_exporter": Pin("oliver006/redis_exporter:v1.45.0", "gwops/redis_exporter:1.45.0"),
    # no offline build: `docker pull` it (or `docker load` a saved copy). The OSS image (grafana/grafana
    # is Grafana Labs' open-source edition; grafana/grafana-oss stopped at 12.4), kept on the 11.6 line:
    # the dashboards are built with grafana-foundation-sdk's 11.6 builders (dashboard schemaVersion 41)
    "grafana": Pin("grafana/grafana:11.6.16", None),
    "optillm": Pin(f"ghcr.io/codelion/optillm:{OPTILLM_VERSION}-proxy", f"gwops/optillm:{OPTILLM_VERSION}"),
}


def compose_file(name: str) -> str:
    """A component's generated compose fragment, relative to the project (listed in COMPOSE_FILE)."""
    return f"compose.d/{name}.yml"
