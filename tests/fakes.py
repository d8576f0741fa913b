"""Small fakes of model servers' APIs (providers: we do not ship those) for tests.

`start_openai`: the OpenAI API. By model name: `full` does everything (chat, streaming in several chunks, embeddings, tool calls,
JSON mode); `embed` only embeds (a chat is refused with HTTP 400); any other name chats only (its
stream is one chunk, embeddings are refused); `broken` fails with HTTP 500; `liar` answers 200 with an error as the text. A chat with `n` gets n choices.
Every POST's model is appended to the server's `calls` list, its headers to `headers`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Fake(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # the model list
        self.answer(200, {"data": [{"id": "full"}, {"id": "plain"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = body["model"]
        self.server.calls.append(model)  # type: ignore[attr-defined]
        self.server.headers.append(dict(self.headers))  # type: ignore[attr-defined]
        if self.path == "/v1/embeddings":
            if model in ("full", "embed"):
                return self.answer(200, {"data": [{"embedding": [0.1, 0.2, 0.3]}]})
            return self.answer(400, {"error": f"{model} is not an embedding model"})
        if model == "embed":
            return self.answer(400, {"error": "embed is an embedding model: it does not chat"})
        if model == "broken":
            return self.answer(500, {"error": "upstream connection refused"})
        if model == "liar":  # 200 with the error as the answer (OptiLLM's moa/bon do this)
            return self.answer(200, {"choices": [{"message": {"content": "Error: upstream failed"}}]})
        if body.get("stream"):
            return self.stream(["1", " 2", " 3", " 4"] if model == "full" else ["1 2 3 4"])
        if body.get("tools") and model == "full":
            return self.answer(
                200,
                {
                    "choices": [
                        {
                            "message": {
                                "content": None,
                                "tool_calls": [
                                    {
                                        "type": "function",
                                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                                    }
                                ],
                            }
                        }
                    ]
                },
            )
        if body.get("response_format") and model == "full":
            return self.answer(200, {"choices": [{"message": {"content": '{"ok": true}'}}]})
        n = int(body.get("n") or 1)
        return self.answer(
            200,
            {
                "choices": [
                    {"index": i, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "stop"}
                    for i in range(n)
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": 3 + n},
            },
        )

    def answer(self, code, doc):
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, pieces):
        lines = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': p}}]})}\n\n" for p in pieces]
        lines.append(f"data: {json.dumps({'choices': [], 'usage': {'completion_tokens': 8}})}\n\n")
        data = ("".join(lines) + "data: [DONE]\n\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _serve(bind: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((bind, 0), handler)
    server.calls = []  # type: ignore[attr-defined]
    server.headers = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_openai(bind: str = "127.0.0.1") -> ThreadingHTTPServer:
    return _serve(bind, Fake)


def serve_json(bind: str, paths: dict[str, dict], need_key: str | None = None) -> ThreadingHTTPServer:
    """GET of one of `paths` answers its JSON document (a model list), else 404; with `need_key`,
    only to `Authorization: Bearer need_key` (401 otherwise)."""

    class Lists(BaseHTTPRequestHandler):
        def do_GET(self):
            if need_key and self.headers.get("Authorization") != f"Bearer {need_key}":
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            doc = paths.get(self.path)
            Fake.answer(self, 200 if doc else 404, doc or {"error": "not found"})

        def log_message(self, *args):
            pass

    return _serve(bind, Lists)
