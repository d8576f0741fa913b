"""Route table and `routes explain`: which rule answers a requested model name, and why.

Precedence: exact (a model name or alias) > capability > pattern > default.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from gwops.config.pipeline import Compiled


def _target(compiled: Compiled, public: str) -> list[str]:
    return [
        f"{e['model_info'].get('provider')}/{e['litellm_params']['model']}"
        for e in compiled.config["model_list"]
        if e["model_name"] == public
    ]


def _chain(compiled: Compiled, name: str) -> list[str]:
    for entry in compiled.config["router_settings"].get("fallbacks", []):
        if name in entry:
            return list(entry[name])
    return []


def table(compiled: Compiled) -> list[dict[str, Any]]:
    cat = compiled.catalog
    rows = []
    seen: list[str] = []
    for e in compiled.config["model_list"]:
        if e["model_name"] not in seen:
            seen.append(e["model_name"])
    for name in seen:
        rows.append(
            {
                "name": name,
                "targets": _target(compiled, name),
                "fallbacks": _chain(compiled, name),
                "rule": explain(compiled, name)["rule"],
            }
        )
    for alias, target in sorted(cat.aliases.items()):
        rows.append(
            {
                "name": alias,
                "targets": _target(compiled, target),
                "fallbacks": _chain(compiled, target),
                "rule": "exact (alias)",
                "alias_of": target,
            }
        )
    return rows


def _resolved(compiled: Compiled, key: str) -> list[str]:
    """Providers named in this route's chain or list, and the model each resolved to."""
    return [r.explain() for r in compiled.catalog.resolutions if r.route.key == key]


def explain(compiled: Compiled, name: str) -> dict[str, Any]:
    res = _explain(compiled, name)
    res["resolved"] = _resolved(compiled, res.pop("key", name))
    return res


def _explain(compiled: Compiled, name: str) -> dict[str, Any]:
    cat = compiled.catalog
    if name in cat.deployments:
        provs = ", ".join(f"`{d.provider_id}`" for d in cat.deployments[name])
        return {
            "name": name,
            "rule": "exact",
            "targets": _target(compiled, name),
            "fallbacks": _chain(compiled, name),
            "why": f"`{name}` is a model served by {provs}",
        }
    if name in cat.aliases:
        target = cat.aliases[name]
        return {
            "name": name,
            "rule": "exact",
            "targets": _target(compiled, target),
            "key": target,
            "fallbacks": _chain(compiled, target),
            "why": f"`{name}` is an alias of `{target}`",
        }
    if name in cat.capabilities:
        members = cat.capabilities[name]
        return {
            "name": name,
            "rule": "capability",
            "targets": _target(compiled, name),
            "fallbacks": _chain(compiled, name),
            "why": f"capability route: tries {' -> '.join(members)} in order",
        }
    for glob, pid, _fbs in cat.patterns:
        if fnmatch.fnmatchcase(name, glob):
            return {
                "name": name,
                "rule": "pattern",
                "targets": _target(compiled, glob),
                "key": glob,
                "fallbacks": _chain(compiled, glob),
                "why": f"no exact or capability match; pattern `{glob}` sends it to provider `{pid}`",
            }
    if cat.default_provider:
        return {
            "name": name,
            "rule": "default",
            "targets": _target(compiled, "*"),
            "fallbacks": [],
            "why": f"no other rule matches; the default route sends it to provider `{cat.default_provider}`",
        }
    return {
        "name": name,
        "rule": "none",
        "targets": [],
        "fallbacks": [],
        "why": "no rule matches: the gateway answers 400 for this name; add it to config/providers.yaml "
        "or set a `default:` route in config/model-mappings.yaml",
    }
