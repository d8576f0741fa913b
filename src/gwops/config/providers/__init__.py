"""Provider types: one module each, registered with `@register`.

Adding a type is adding one module to this package that builds its LiteLLM parameters;
modules here are discovered automatically, so there is no central if/else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gwops.config.models import Provider, ProviderModel

HOST_ALIAS = "host.docker.internal"  # the gateway container reaches the host through this name


@dataclass(frozen=True)
class ProviderProbe:
    """How `bin/ops providers` asks a server which models it serves: GET `models_path` (after the
    base URL, with `/v1` added first when `v1`), the list under `list_key`, each name under
    `name_key`; the key, if any, as a bearer token or in `key_header`."""

    models_path: str = "/models"
    list_key: str = "data"
    name_key: str = "id"
    v1: bool = True
    key_header: str | None = None  # None: `Authorization: Bearer KEY`
    extra_headers: tuple[tuple[str, str], ...] = ()
    # the server answers to any model name while it serves one model (llama-server lists its model
    # by file name): a configured name it does not list is no drift then
    any_name: bool = False


@dataclass(frozen=True)
class ProviderType:
    name: str
    build: Callable[[str, Provider, ProviderModel], dict[str, Any]]
    needs_base_url: bool = True
    needs_key: bool = False
    default_base_url: str | None = None
    probe: ProviderProbe | None = ProviderProbe()  # None: nothing to ask (the built-in model)


REGISTRY: dict[str, ProviderType] = {}


def register(kind: ProviderType) -> ProviderType:
    REGISTRY[kind.name] = kind
    return kind


def container_url(url: str) -> str:
    """`localhost` inside the gateway container is the container itself: point at the host."""
    parts = urlsplit(url)
    if parts.hostname in ("localhost", "127.0.0.1", "::1"):
        netloc = HOST_ALIAS + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def with_v1(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def key_param(provider: Provider, default: str | None = None) -> dict[str, Any]:
    if provider.api_key_env:
        return {"api_key": f"os.environ/{provider.api_key_env}"}
    return {"api_key": default} if default else {}


def common_params(provider: Provider, model: ProviderModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if provider.timeout:
        out["timeout"] = provider.timeout
    if model.rpm:
        out["rpm"] = model.rpm
    if model.tpm:
        out["tpm"] = model.tpm
    out.update(provider.options)
    out.update(model.options)
    return out


def hosted(prefix: str) -> Callable[[str, Provider, ProviderModel], dict[str, Any]]:
    """Builder for a hosted API: `prefix/model`, key from `api_key_env`, base URL only if given."""

    def build(provider_id: str, provider: Provider, model: ProviderModel) -> dict[str, Any]:
        params: dict[str, Any] = {"model": f"{prefix}/{model.name}", **key_param(provider)}
        if provider.base_url:
            params["api_base"] = provider.base_url
        return {**params, **common_params(provider, model)}

    return build


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_discover()
