"""`config import`: a hand-written LiteLLM config.yaml -> providers.yaml + model-mappings.yaml.

Compiling the result gives back an equivalent config: every requested name routes to the same
backend model at the same base URL, with the same fallbacks. Literal keys are never copied:
they become `api_key_env:` names to fill in `.env`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from gwops.errors import ConfigError
from gwops.yamlsrc import load_file

PREFIX_TYPES = {"ollama_chat": "ollama", "ollama": "ollama", "hosted_vllm": "vllm", "anthropic": "anthropic"}
KNOWN_ROUTER = ("routing_strategy", "num_retries", "allowed_fails", "cooldown_time", "timeout")


@dataclass
class Imported:
    providers_yaml: str
    mappings_yaml: str
    count: int
    notes: list[str] = field(default_factory=list)


def _kind(model: str, api_base: str | None) -> tuple[str, str]:
    prefix, _, rest = model.partition("/")
    if rest and prefix in PREFIX_TYPES:
        return PREFIX_TYPES[prefix], rest
    if rest and prefix == "openai":
        return ("openai_compatible" if api_base else "openai"), rest
    if model.startswith("claude"):
        return "anthropic", model
    return ("openai_compatible" if api_base else "openai"), (rest if rest and prefix == "openai" else model)


def _provider_id(kind: str, base: str | None, taken: dict[str, tuple]) -> str:
    name = kind.replace("_", "-")
    if base:
        parts = urlsplit(base)
        if parts.port:
            name = f"{name}-{parts.port}"
    pid, n = name, 2
    while pid in taken:
        pid, n = f"{name}-{n}", n + 1
    return pid


def import_file(path: Path) -> Imported:
    doc, problems = load_file(path, str(path))
    if doc is None:
        raise ConfigError(problems)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("model_list"), list):
        raise ConfigError(
            [
                doc.problem(
                    (),
                    "not a LiteLLM config: no `model_list:` list",
                    "pass the config.yaml your LiteLLM proxy starts with",
                )
            ]
        )
    notes: list[str] = []
    providers: dict[str, dict[str, Any]] = {}
    by_key: dict[tuple, str] = {}
    exact: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {}
    for i, entry in enumerate(data["model_list"]):
        params = dict((entry or {}).get("litellm_params") or {})
        public = str((entry or {}).get("model_name", ""))
        model = str(params.pop("model", ""))
        if not public or not model:
            raise ConfigError([doc.problem(("model_list", i), "entry needs `model_name` and `litellm_params.model`")])
        base = params.pop("api_base", None)
        kind, backend = _kind(model, base)
        key = params.pop("api_key", None)
        env_name = None
        if isinstance(key, str) and key.startswith("os.environ/"):
            env_name = key.split("/", 1)[1]
        elif key and key not in ("none", "fake", "sk-no-key-required", "EMPTY"):
            env_name = re.sub(r"[^A-Z0-9]+", "_", f"{kind}_API_KEY".upper())
            notes.append(f"model_list[{i}] (`{public}`) had a literal key: not copied; set `{env_name}` in `.env`")
        if kind in ("vllm", "llama_cpp") and base:
            base = base.rstrip("/").removesuffix("/v1")
        pkey = (kind, base, env_name)
        pid = by_key.get(pkey)
        if pid is None:
            pid = _provider_id(kind, base, providers)
            by_key[pkey] = pid
            prov: dict[str, Any] = {"type": kind}
            if base:
                prov["base_url"] = base
            if env_name:
                prov["api_key_env"] = env_name
            prov["status"] = "active"
            prov["models"] = []
            providers[pid] = prov
        m: dict[str, Any] = {"name": backend}
        for lim in ("rpm", "tpm"):
            if lim in params:
                m[lim] = params.pop(lim)
        if params:
            m["options"] = params
        if not any(x["name"] == backend for x in providers[pid]["models"]):
            providers[pid]["models"].append(m)
        if public != backend:
            exact[public] = {"provider": pid, "backend_model": backend}
        else:
            groups.setdefault(public, []).append(pid)
    mappings: dict[str, Any] = {}
    if exact:
        mappings["exact_matches"] = exact
    lb = {k: sorted(set(v)) for k, v in groups.items() if len(set(v)) > 1}
    if lb:
        mappings["load_balanced"] = lb
    rs = dict(data.get("router_settings") or {})
    fallbacks = rs.pop("fallbacks", None) or (data.get("litellm_settings") or {}).get("fallbacks") or []
    chains = {}
    for fb in fallbacks:
        for src, chain in (fb or {}).items():
            chains[str(src)] = {"chain": [str(c) for c in chain]}
    if chains:
        mappings["fallback_chains"] = chains
    router = {k: rs[k] for k in KNOWN_ROUTER if k in rs}
    if (data.get("litellm_settings") or {}).get("cache"):
        ttl = ((data.get("litellm_settings") or {}).get("cache_params") or {}).get("ttl", 600)
        router["caching"] = {"enabled": True, "ttl": ttl}
    if router:
        mappings["router_settings"] = router
    header = f"# Imported by `bin/ops config import` from {path.name}.\n"
    return Imported(
        header + yaml.safe_dump({"providers": providers}, sort_keys=False, allow_unicode=True),
        header + (yaml.safe_dump(mappings, sort_keys=False, allow_unicode=True) if mappings else "{}\n"),
        len(data["model_list"]),
        notes,
    )
