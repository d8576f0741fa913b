"""OptiLLM behind gwops' guard: the sidecar's entrypoint (stdlib + OptiLLM's own Flask app).

What it adds to `optillm` (0.4.0), before OptiLLM serves anything:
- The client key comes from the environment variable OPTILLM_CLIENT_KEY and is handed to OptiLLM
  as its `--optillm-api-key` flag inside this process: never in the process's arguments (visible
  to every user of the host) and never as OPTILLM_API_KEY (which switches OptiLLM to its local
  inference engine).
- Only the selectors the stack compiled (`<approach>-<base>`, read from ALLOW_FILE, re-read when
  it changes) may run. A request naming any other model, or choosing an approach by the body
  field `optillm_approach` or by an `<optillm_approach>` tag in a message, is refused (403)
  before any upstream call.
- Upstream, only the selectors' bases may be called: any other model (a loop back into an
  ensemble, for one) is refused inside the process, before it leaves.
- Its upstream client never retries by itself (the OpenAI SDK's default is 2 retries per call,
  with backoff): the gateway retries the base's calls already, and an outage must not multiply.
- An answer that is only OptiLLM's failure text ("Error: Could not generate any completions",
  HTTP 200 when every upstream call failed) becomes HTTP 502, so the gateway, probes and metrics
  count it as the failure it is.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

ALLOW_FILE = os.environ.get("GWOPS_OPTILLM_ALLOW", "/etc/gwops-optillm/allow.json")
UPSTREAM = os.environ.get("GWOPS_OPTILLM_UPSTREAM", "http://proxy:4001/v1")
FAILURE_TEXTS = ("Error: Could not generate any completions",)
TAG = "<optillm_approach>"


class Allowed:
    """The compiled selectors (selector -> base), reloaded when the file changes."""

    def __init__(self, path: str):
        self.path, self.mtime, self.selectors = path, None, {}
        self.lock = threading.Lock()

    def get(self) -> dict[str, str]:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return {}
        with self.lock:
            if mtime != self.mtime:
                try:
                    with open(self.path) as fh:
                        doc = json.load(fh)
                    self.selectors = {str(k): str(v) for k, v in (doc.get("selectors") or {}).items()}
                except (OSError, ValueError, AttributeError):
                    self.selectors = {}
                self.mtime = mtime
            return dict(self.selectors)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def refusal(body: Any, selectors: dict[str, str]) -> str | None:
    """Why a client's chat request must not run (None: it may)."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if "optillm_approach" in body:
        return "choosing an approach with `optillm_approach` is disabled: request one of the stack's ensembles"
    for msg in body.get("messages") or []:
        if isinstance(msg, dict) and any(TAG in t for t in _texts(msg.get("content"))):
            return (
                "choosing an approach with an <optillm_approach> tag is disabled: request one of the stack's ensembles"
            )
    model = body.get("model")
    if model not in selectors:
        allowed = ", ".join(sorted(selectors)) or "(none)"
        return f"`{model}` is not one of the stack's ensembles; allowed: {allowed}"
    return None


def upstream_refusal(model: Any, selectors: dict[str, str]) -> str | None:
    if model in set(selectors.values()):
        return None
    return f"upstream call for `{model}` refused: only the ensembles' bases may be called (a loop?)"


def is_failure(payload: Any) -> bool:
    """OptiLLM's 200 answer whose every choice is its failure text."""
    try:
        choices = payload["choices"]
        texts = [(c.get("message") or c.get("delta") or {}).get("content") for c in choices]
    except (KeyError, TypeError, AttributeError):
        return False
    return bool(texts) and all(isinstance(t, str) and t.strip() in FAILURE_TEXTS for t in texts)


def _stream_failure(text: str) -> bool:
    payloads = []
    for line in text.splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            try:
                payloads.append(json.loads(line[6:]))
            except ValueError:
                return False
    return bool(payloads) and all(is_failure(p) for p in payloads)


def install(server: Any, allowed: Allowed) -> None:
    """The guard on OptiLLM's Flask app and on its upstream client."""
    import openai
    from flask import jsonify, request
    from openai.resources.chat.completions import Completions

    app = server.app

    def error(status: int, message: str, kind: str):
        return jsonify({"error": {"message": message, "type": kind, "code": status}}), status

    @app.before_request
    def guard():  # registered after OptiLLM's own key check: unauthenticated requests get 401 first
        if request.path == "/health":
            return None
        if request.method == "POST" and request.path.rstrip("/").endswith("/chat/completions"):
            why = refusal(request.get_json(silent=True), allowed.get())
            if why:
                return error(403, f"gwops: {why}", "permission_error")
            return None
        if request.method == "GET" and request.path.rstrip("/") == "/v1/models":
            return None
        return error(404, f"gwops: {request.method} {request.path} is not served", "not_found")

    @app.after_request
    def honest(response):
        if response.status_code != 200 or request.path == "/health":
            return response
        text = response.get_data(as_text=True)  # a stream is one chunk: OptiLLM never streams upstream
        if response.mimetype == "text/event-stream":
            failed = _stream_failure(text)
        else:
            try:
                failed = is_failure(json.loads(text))
            except ValueError:
                failed = False
        if failed:
            out, status = error(
                502,
                "gwops: every upstream call of the ensemble failed (OptiLLM answered with its failure text)",
                "upstream_error",
            )
            out.status_code = status
            return out
        return response

    original = Completions.create

    def create(self, *args, **kwargs):
        why = upstream_refusal(kwargs.get("model"), allowed.get())
        if why:
            raise PermissionError(why)
        return original(self, *args, **kwargs)

    Completions.create = create

    init = openai.OpenAI.__init__

    def no_retries(self, *args, **kwargs):
        kwargs["max_retries"] = 0
        init(self, *args, **kwargs)

    openai.OpenAI.__init__ = no_retries


def main() -> None:
    key = os.environ.pop("OPTILLM_CLIENT_KEY", "")
    os.environ.pop("OPTILLM_API_KEY", None)  # would switch OptiLLM to its local inference engine
    if not key:
        sys.exit("gwops-optillm: OPTILLM_CLIENT_KEY is not set (it is generated into .env by `bin/ops up`)")
    from optillm import server

    install(server, Allowed(ALLOW_FILE))
    # OptiLLM's own flags, set here: the key never appears in the process's arguments
    sys.argv = [sys.argv[0], "--host", "0.0.0.0", "--base-url", UPSTREAM, *sys.argv[1:], "--optillm-api-key", key]
    server.main()


if __name__ == "__main__":
    main()
