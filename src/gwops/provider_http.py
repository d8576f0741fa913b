"""Ask model servers which models they serve: one GET each, in parallel, with a deadline.

Self-contained on purpose (standard library only, no gwops import): `bin/ops providers` runs this
same file on the host and, as `python3 -c`, inside the gateway container, so both views are
measured the same way. Keys are never passed in: a request names the environment variable that
holds its key (`key_env`), read where the request is made.

Input (JSON, one argument): [{"name", "url", "list_key", "name_key", "key_env", "key_header",
"headers"}]. Output (JSON on stdout): {"host_alias": address of host.docker.internal or null,
"results": [{"name", "ok", "ms", "models", "error"}]}.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 3.0


def fetch(req: dict, env: dict) -> dict:
    headers = dict(req.get("headers") or {})
    key = env.get(req["key_env"]) if req.get("key_env") else None
    if key:
        headers[req.get("key_header") or "Authorization"] = key if req.get("key_header") else f"Bearer {key}"
    out = {"name": req["name"], "ok": False, "ms": None, "models": None, "error": None}
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(req["url"], headers=headers), timeout=TIMEOUT) as r:
            body = r.read(2_000_000)
        out["ms"] = round((time.monotonic() - t0) * 1000, 1)
        doc = json.loads(body)
        items = doc.get(req["list_key"]) if isinstance(doc, dict) else None
        if not isinstance(items, list):
            out["error"] = f"answered, but not with a model list (no `{req['list_key']}`)"
            return out
        out["models"] = sorted(str(m.get(req["name_key"])) for m in items if isinstance(m, dict))
        out["ok"] = True
    except urllib.error.HTTPError as exc:
        out["ms"] = round((time.monotonic() - t0) * 1000, 1)
        out["error"] = f"HTTP {exc.code}" + (" (the key is missing or wrong)" if exc.code in (401, 403) else "")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        out["error"] = f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason
    return out


def run(requests: list[dict], env: dict) -> dict:
    try:
        alias = socket.gethostbyname("host.docker.internal")
    except OSError:
        alias = None
    with ThreadPoolExecutor(max(1, min(16, len(requests)))) as pool:
        results = list(pool.map(lambda r: fetch(r, env), requests))
    return {"host_alias": alias, "results": results}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]), dict(os.environ))))
