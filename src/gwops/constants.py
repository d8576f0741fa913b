"""Names and numbers shared by the core and the CLI: environment variables, exit codes, paths."""

from __future__ import annotations

# Environment variables read by the toolkit (each global CLI option has one).
ENV_ROOT = "GWOPS_ROOT"  # project directory (set by bin/ops)
ENV_NO_INSTALL = "GWOPS_NO_INSTALL"  # never install docker.io / start dockerd by ourselves
ENV_DEBUG = "GWOPS_DEBUG"  # print tracebacks instead of writing them to logs/

# Exit codes (documented in README "Exit codes").
EXIT_OK = 0
EXIT_DEGRADED = 1  # status: something is unhealthy; generic failure of a step
EXIT_INVALID = 2  # invalid config or CLI usage; status: stack down
EXIT_PREREQ = 3  # host prerequisite missing (Docker engine, Compose v2, free port)
EXIT_HEALTH = 4  # a service did not become healthy
EXIT_DOCKER = 5  # a docker / compose command failed
EXIT_LOCKED = 6  # another run holds the lock
EXIT_ABORTED = 7  # the operator declined a confirmation
EXIT_INTERNAL = 70  # a bug: traceback written to logs/

# Project layout, relative to the project root.
COMPOSE_FILE = "docker-compose.yml"
COMPOSE_DIR = "compose.d"
CONFIG_DIR = "config"
STATE_DIR = "state"
LOGS_DIR = "logs"
ENV_FILE = ".env"
ENV_EXAMPLE = ".env.example"
STACK_FILE = "stack.yaml"
PROVIDERS_FILE = "providers.yaml"
MAPPINGS_FILE = "model-mappings.yaml"
LITELLM_CONFIG = "litellm.config.yaml"
LITELLM_META = "litellm.config.meta.json"

# `bin/ops reload` runs at this niceness: on a small host under load its own CPU (imports, the
# compose model, docker calls) comes after the serving gateway's
RELOAD_NICENESS = 10

# never part of a local image's inputs or build context: downloaded (npm packages), or made by runs
IMAGE_LOCAL_ONLY = ("node_modules", "__pycache__")

# the gateway's two slots (compose profiles and services gateway-blue / gateway-green): one serves,
# the other takes the next config (see gwops.slots)
SLOTS = ("blue", "green")
# LiteLLM's response cache keys in Redis: `gwops-cache:<hash>` (its `cache_params.namespace`), apart
# from the router's cooldowns, counters and locks in the same Redis (`bin/ops cache`)
CACHE_NAMESPACE = "gwops-cache"
