"""Consistency of config/model-mappings.yaml (part of gwops.config.consistency's Checker): every
exact route, capability, pattern, fallback chain and the default resolve to models that exist,
and the fallbacks have no cycle."""

import re

from gwops.config.models import (
    Capability,
    ExactMatch,
    Pattern,
)
from gwops.config.resolve import Route
from gwops.yamlsrc import KeyPath


def _glob_of(pattern: str) -> str | None:
    """LiteLLM matches model names with `*` wildcards: accept globs and regexes that are globs."""
    if not any(c in pattern for c in "^$()[]{}|+?\\") and ".*" not in pattern:
        return pattern
    body = pattern.removeprefix("^").removesuffix("$")
    glob = body.replace(".*", "*")
    if re.fullmatch(r"[A-Za-z0-9_:/*\-]+(\\\.[A-Za-z0-9_*\-]+)*", glob):
        return glob.replace("\\.", ".")
    return None


def _find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    seen_keys: set[frozenset[str]] = set()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt) :] + [nxt]
                key = frozenset(cyc)
                if key not in seen_keys:
                    seen_keys.add(key)
                    cycles.append(cyc)
            elif state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [])
    return cycles


class RouteRules:
    """The mappings' checks of the Checker (gwops.config.consistency), which holds the documents,
    the catalog being built and the problem list."""

    def check_routes(self) -> None:
        routes = self.mappings.merged_routes()
        for name, em in routes.exact_matches.items():
            self._exact(name, em)
        for cname, cap in routes.capabilities.items():
            self._capability(cname, cap)
        for i, pat in enumerate(routes.patterns):
            self._pattern(i, pat)
        self._default()
        for name, fc in self.mappings.fallback_chains.items():
            self._chain_section(name, fc.chain)
        self._cycles()

    def _exact(self, name: str, em: ExactMatch) -> None:
        path = self._route_path("exact_matches", name)
        if not self._provider_ref(em.provider, (*path, "provider")):
            return
        backend = em.backend_model or name
        prov = self.providers.providers[em.provider]
        if not any(m.name == backend for m in prov.models):
            self.m(
                path,
                f"provider `{em.provider}` has no model `{backend}`",
                f"add it to `providers.{em.provider}.models`, or set `backend_model:`",
            )
            return
        if name != backend:
            if name in self.cat.aliases or (name in self.cat.deployments and name != backend):
                self.m(path, f"`{name}` is already a model name or alias")
            else:
                self.cat.aliases[name] = backend
                self.where[name] = self._loc(self.mdoc, path)
        if em.fallback_chain:
            src = self.cat.aliases.get(name, name)
            self._chain(Route(src, name), em.fallback_chain, (*path, "fallback_chain"), (name, backend))

    def _capability(self, cname: str, cap: Capability) -> None:
        path = self._route_path("capabilities", cname)
        route = Route(cname, cname)
        members = [
            t
            for i, member in enumerate(cap.models)
            if (t := self._target(member, (*path, "preferred_models", i), "capability member", route))
        ]
        if cap.provider is not None and self._provider_ref(cap.provider, (*path, "provider")) and not cap.models:
            # seed 001: a capability may name only its provider; it stands for that provider's model
            t = self._provider_target(cap.provider, (*path, "provider"), "capability provider", route, ())
            members += [t] if t else []
        if not cap.models and cap.provider is None:
            self.m(path, f"capability `{cname}` lists no models", "add `preferred_models: [...]` or `provider:`")
        if cname in self.cat.deployments or cname in self.cat.aliases:
            self.m(path, f"capability route `{cname}` has the name of a model or alias")
        elif members:
            self.cat.capabilities[cname] = members
            self.where[cname] = self._loc(self.mdoc, path)

    def _pattern(self, i: int, pat: Pattern) -> None:
        path = self._route_path("patterns", i)
        glob = _glob_of(pat.pattern)
        if glob is None:
            self.m(
                (*path, "pattern"),
                f"pattern `{pat.pattern}` cannot be matched by LiteLLM",
                "use a glob with `*` (e.g. `qwen*`) or a regex of the form `^prefix.*`",
            )
        if not self._provider_ref(pat.provider, (*path, "provider")):
            return
        route = Route(glob or pat.pattern, pat.pattern)
        fbs = [
            t
            for k, f in enumerate(pat.fallback_chain)
            if (t := self._target(f, (*path, "fallback_chain", k), "fallback target", route))
        ]
        if glob:
            self.cat.patterns.append((glob, pat.provider, fbs))

    def _default(self) -> None:
        default = self.mappings.default.provider if self.mappings.default else self.mappings.settings().default_provider
        if not default:
            return
        dpath: KeyPath = (
            ("default", "provider")
            if self.mappings.default
            else (("router_settings" if self.mappings.router_settings else "routing_rules"), "default_provider")
        )
        if self._provider_ref(default, dpath):
            self.cat.default_provider = default

    def _chain_section(self, name: str, chain: list[str]) -> None:
        path: KeyPath = ("fallback_chains", name)
        if self._known(name):
            src = self.cat.aliases.get(name, name)
            self._chain(Route(src, name), chain, (*path, "chain"), (name, src))
            return
        prov = self.providers.providers.get(name)
        if prov is None:
            self._disabled_or_unknown(name, path, "fallback chain for")
            return
        self.m(
            path,
            f"fallback chain for `{name}`: `{name}` is a provider, and a chain starts from a model",
            "write one chain per model it serves: "
            + (", ".join(f"`{m.name}: [...]`" for m in prov.models[:5]) or "(it lists none)"),
        )

    def _chain(self, route: Route, chain: list[str], path: KeyPath, same: tuple[str, ...]) -> None:
        src = route.key
        targets = []
        for k, name in enumerate(chain):
            t = self._target(name, (*path, k), "fallback target", route, same)
            if t == src and name in self.providers.providers:
                self._own_provider(name, route, (*path, k))
            elif t == src:
                self.m((*path, k), f"`{src}` falls back to itself", "remove it from its own chain")
            elif t:
                targets.append(t)
        existing = self.cat.fallbacks.setdefault(src, [])
        existing.extend(t for t in targets if t not in existing)
        self.chain_paths.setdefault(src, path)

    def _own_provider(self, pid: str, route: Route, path: KeyPath) -> None:
        """A chain naming a provider of its own route: fine in a load-balanced group, else a mistake."""
        if len(self.cat.deployments.get(route.key, [])) > 1:
            return  # retries within the group reach that provider; noted, no fallback entry needed
        self.m(
            path,
            f"fallback target `{pid}` is the provider of `{route.label}` itself",
            f"name another provider, or another model of `{pid}`",
        )

    def _cycles(self) -> None:
        for cyc in _find_cycles(self.cat.fallbacks):
            where = self.chain_paths.get(cyc[0], ("fallback_chains",))
            self.m(
                where,
                f"fallback cycle: {' -> '.join(cyc)}",
                "break the cycle: a chain must end at a model with no fallbacks back",
            )
