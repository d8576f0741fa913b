"""`bin/ops try`: one request through the public port, and how it was served.

What the gateway says of a request rides on its response headers: LiteLLM's `x-litellm-*` (the
call ID, the model group and the deployment's API base, retries and fallbacks it took, its own
overhead, the cost) and the proxy's `x-gwops-slot` and `x-gwops-replica`. A failure keeps the raw
error body, with a next step for the status it came with.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

# the response headers a trial reports (LiteLLM's, then the proxy's), by what they mean
HEADERS = {
    "request_id": "x-request-id",
    "call_id": "x-litellm-call-id",
    "model_group": "x-litellm-model-group",
    "api_base": "x-litellm-model-api-base",
    "deployment_id": "x-litellm-model-id",
    "retries": "x-litellm-attempted-retries",
    "fallbacks": "x-litellm-attempted-fallbacks",
    "gateway_overhead_ms": "x-litellm-overhead-duration-ms",
    "gateway_duration_ms": "x-litellm-response-duration-ms",
    "cost": "x-litellm-response-cost",
    "litellm_version": "x-litellm-version",
    "slot": "x-gwops-slot",
    "replica": "x-gwops-replica",
}


@dataclass
class Trial:
    model: str
    stream: bool
    status: int = 0
    ok: bool = False
    answer: str = ""
    answered_by: str = ""  # the `model` the answer names (the deployment's model)
    ttft_ms: float | None = None  # streams: the first content chunk
    total_ms: float = 0.0
    served: dict[str, str] = field(default_factory=dict)  # HEADERS' keys found on the response
    headers: dict[str, str] = field(default_factory=dict)  # every x-litellm-* and x-gwops-* header
    error: str = ""  # the raw error body (or the connection error)
    next: str = ""
    gateway_log: list[str] = field(default_factory=list)  # what the gateway logged of it (its errors)


def next_step(status: int, model: str, body: str) -> str:
    text = body.lower()
    if status == 0:
        return "the gateway did not answer: `bin/ops status`; `bin/ops up`"
    if status == 401:
        return "the key was refused: the master key is in `.env`; `bin/ops keys info ALIAS` for a virtual key"
    if status == 400 and ("invalid model" in text or "no deployment" in text or "not found" in text):
        return f"no route serves `{model}`: `bin/ops routes` lists them; `bin/ops routes explain {model}`"
    if status == 429:
        return "a limit refused it (a key's rpm/tpm or budget, or the provider's): `bin/ops keys info ALIAS`"
    if status >= 500:
        return f"the provider behind `{model}` failed: `bin/ops providers`; `bin/ops logs gateway`"
    return f"`bin/ops routes explain {model}`; `bin/ops logs gateway`"


def run(url: str, key: str, model: str, prompt: str, stream: bool, timeout: float) -> Trial:
    """Send one chat completion for `model` through the gateway at `url`."""
    t = Trial(model, stream)
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    headers = {"Authorization": f"Bearer {key}"}
    t0 = time.monotonic()
    try:
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as r,
        ):
            t.status = r.status_code
            t.headers = {k: v for k, v in r.headers.items() if k.startswith(("x-litellm-", "x-gwops-"))}
            t.served = {name: r.headers[h] for name, h in HEADERS.items() if h in r.headers}
            if "slot" in t.served:  # the proxy's backend name, `slot_<slot>`
                t.served["slot"] = t.served["slot"].removeprefix("slot_")
            if r.status_code != 200:
                t.error = r.read().decode(errors="replace")
            elif stream:
                _read_stream(t, r, t0)
            else:
                _read_answer(t, r.read())
    except httpx.HTTPError as exc:
        t.error = f"{type(exc).__name__}: {exc}"
    t.total_ms = (time.monotonic() - t0) * 1000
    if t.error:
        t.next = next_step(t.status, model, t.error)
    else:
        t.ok = True
    return t


def _read_answer(t: Trial, raw: bytes) -> None:
    try:
        doc: Any = json.loads(raw)
        t.answer = doc["choices"][0]["message"].get("content") or ""
        t.answered_by = doc.get("model", "")
    except (ValueError, KeyError, IndexError, TypeError):
        t.error = f"not a chat completion: {raw[:500].decode(errors='replace')}"


def _read_stream(t: Trial, r: httpx.Response, t0: float) -> None:
    done = False
    parts: list[str] = []
    for line in r.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            t.error = f"a stream chunk is not JSON: {data[:300]}"
            return
        if "error" in chunk:
            t.error = json.dumps(chunk["error"])[:1000]
            return
        t.answered_by = t.answered_by or chunk.get("model", "")
        delta = ((chunk.get("choices") or [{}])[0].get("delta") or {}).get("content")
        if delta:
            if t.ttft_ms is None:
                t.ttft_ms = (time.monotonic() - t0) * 1000
            parts.append(delta)
    t.answer = "".join(parts)
    if not done:
        t.error = "the stream ended without `data: [DONE]`"
