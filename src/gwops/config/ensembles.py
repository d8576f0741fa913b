"""OptiLLM ensembles (`ensembles:` in config/model-mappings.yaml): a handle such as `opt-balanced`
runs an OptiLLM approach over one gateway route, its base.

A request for the handle goes gateway -> OptiLLM sidecar (selector `<approach>-<base>`) ->
the proxy's sidecar entrance -> gateway -> the base's provider. Loops are refused three times:
here (a base is never a handle, and no route falls back to one: consistency knows no model of
that name), in the sidecar (only the selectors
compiled here run, and only their bases go upstream) and at the proxy's sidecar entrance (no
`opt-*` model comes back in).
"""

from __future__ import annotations

import fnmatch
from typing import Any

from gwops.config.generate import ENSEMBLE_KEY as INFO_KEY
from gwops.config.models import Ensemble, MappingsFile
from gwops.errors import Problem
from gwops.yamlsrc import SourceDoc

PREFIX = "opt-"  # every handle starts with it; no other route may
# the approaches the slim sidecar image runs offline (shared/ENVIRONMENT.md); any other is refused
APPROACHES = ("moa", "bon", "self_consistency")
# every name OptiLLM 0.4.0 reads as an approach at the front of a model name (approaches and
# plugins): a base starting with one would be split by it
OPTILLM_SLUGS = frozenset(
    {
        "none",
        "mcts",
        "bon",
        "moa",
        "rto",
        "z3",
        "self_consistency",
        "pvg",
        "rstar",
        "cot_reflection",
        "plansearch",
        "leap",
        "re2",
        "cepo",
        "mars",
        "coc",
        "compact",
        "deep_research",
        "deepthink",
        "executecode",
        "genselect",
        "json",
        "longcepo",
        "majority_voting",
        "mcp",
        "memory",
        "privacy",
        "proxy",
        "readurls",
        "router",
        "spl",
        "web_search",
        "auto",
        "autothink",
        "thinkdeeper",
    }
)
SIDECAR_URL = "http://optillm:4020/v1"  # the sidecar on the stack's network
KEY_ENV = "OPTILLM_CLIENT_KEY"  # the gateway's key for the sidecar (generated into `.env`)


def selector(e: Ensemble) -> str:
    return f"{e.approach}-{e.base}"


def check(
    mdoc: SourceDoc, mappings: MappingsFile, config: dict[str, Any], sidecar_enabled: bool | None
) -> list[Problem]:
    """Problems of `ensembles:` against the compiled routes (`config`). `sidecar_enabled`: whether
    `optillm.enabled` is on in config/stack.yaml (None: not known here)."""
    problems: list[Problem] = []
    if not mappings.ensembles:
        return problems
    names = {e["model_name"] for e in config.get("model_list") or []}
    concrete = {n for n in names if "*" not in n}
    globs = [n for n in names if "*" in n]
    aliases = dict((config.get("router_settings") or {}).get("model_group_alias") or {})
    handles = set(mappings.ensembles)

    def bad(path: tuple, msg: str, hint: str = "") -> None:
        problems.append(mdoc.problem(("ensembles", *path), msg, hint, "consistency"))

    if sidecar_enabled is False:
        bad(
            (),
            "ensembles need the OptiLLM sidecar, which is off",
            "set `optillm: {enabled: true}` in config/stack.yaml, or remove `ensembles:`",
        )
    for n in sorted(concrete - handles):
        if n.startswith(PREFIX):
            bad(
                (),
                f"the route `{n}` starts with `{PREFIX}`, which is kept for ensembles",
                "rename that route: the proxy refuses `opt-*` models coming back from the sidecar",
            )
    for handle, e in mappings.ensembles.items():
        if not handle.startswith(PREFIX) or handle == PREFIX:
            bad((handle,), f"ensemble `{handle}` must be named `{PREFIX}<name>`", f"e.g. `{PREFIX}balanced`")
        if handle in concrete:
            bad((handle,), f"`{handle}` is both an ensemble and a route", "give the ensemble its own name")
        if e.approach not in APPROACHES:
            bad(
                (handle, "approach"),
                f"unknown approach `{e.approach}`",
                f"the sidecar runs {', '.join(APPROACHES)} (others need OptiLLM's full install, which is not shipped)",
            )
        base = e.base
        if base in handles or base.startswith(PREFIX):
            bad(
                (handle, "base"),
                f"the base `{base}` is an ensemble: the sidecar would call itself (a loop)",
                "use a route served by a provider as the base",
            )
            continue
        first = base.split("-", 1)[0]
        if first in OPTILLM_SLUGS or "&" in base or "|" in base:
            bad(
                (handle, "base"),
                f"OptiLLM would read the start of `{base}` as an approach",
                "a base must not start with an OptiLLM approach name or hold `&` or `|`: give the route another name",
            )
            continue
        if base not in concrete and base not in aliases and not any(fnmatch.fnmatchcase(base, g) for g in globs):
            bad(
                (handle, "base"),
                f"the base `{base}` is not a route of the gateway",
                f"routes: {', '.join(sorted(concrete - handles)) or '(none)'}",
            )
    return problems


def add_routes(config: dict[str, Any], mappings: MappingsFile) -> None:
    """The gateway's route for each ensemble: OpenAI-compatible calls to the sidecar with the
    selector as the model. Requested as the handle; OptiLLM sends its base back through the proxy."""
    for handle in sorted(mappings.ensembles):
        e = mappings.ensembles[handle]
        config["model_list"].append(
            {
                "model_name": handle,
                # never retried: one request already makes 3 to 5 calls of the base, which the gateway
                # retries itself; a retried ensemble would multiply an outage's calls
                "litellm_params": {
                    "model": f"openai/{selector(e)}",
                    "api_base": SIDECAR_URL,
                    "api_key": f"os.environ/{KEY_ENV}",
                    "num_retries": 0,
                    "max_retries": 0,
                },
                "model_info": {"provider": "optillm", INFO_KEY: {"approach": e.approach, "base": e.base}},
            }
        )


def of_config(config: dict[str, Any]) -> dict[str, str]:
    """Selector -> base of every ensemble in a generated config (what the sidecar lets run)."""
    out = {}
    for e in config.get("model_list") or []:
        info = (e.get("model_info") or {}).get(INFO_KEY)
        if isinstance(info, dict):
            out[f"{info['approach']}-{info['base']}"] = info["base"]
    return out


def is_ensemble(entry: dict[str, Any]) -> bool:
    return INFO_KEY in (entry.get("model_info") or {})
