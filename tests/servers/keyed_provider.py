"""An OpenAI-compatible provider that checks its API key, for organization-provider tests: `GET /v1/models` lists
two models to the right key and answers 401 to any other; chat completions record the headers they got and answer
a fixed text (streamed when asked). `fail=True` makes every request answer 503."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = "hello from the organization's provider"


class KeyedProvider:
    def __init__(self, key: str, models=("fast-1", "text-embed-1")):
        self.key, self.models, self.seen, self.fail = key, list(models), [], False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.seen.append({"path": self.path, "headers": dict(self.headers)})
                if not self._authorised():
                    return
                data = [{"id": m, "object": "model", "context_length": 64_000} for m in outer.models]
                self._send(200, {"object": "list", "data": data})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if not self._authorised():
                    return
                if body.get("stream"):
                    return self._stream(body.get("model"))
                message = {"role": "assistant", "content": REPLY, "tool_calls": None}
                self._send(200, {
                    "id": "x", "object": "chat.completion", "created": 1, "model": body.get("model"),
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                })  # fmt: skip

            def _authorised(self) -> bool:
                if outer.fail:
                    self._send(503, {"error": {"message": "down"}})
                    return False
                if self.headers.get("Authorization") != f"Bearer {outer.key}":
                    self._send(401, {"error": {"message": "Incorrect API key provided"}})
                    return False
                return True

            def _stream(self, model):
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": model}
                deltas = [{"role": "assistant", "content": REPLY}, {}]
                events = [
                    {**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": None if d else "stop"}]}
                    for d in deltas
                ]
                events.append({**chunk, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
                data = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def authorizations(self) -> list[str]:
        return [s["headers"].get("Authorization", "") for s in self.seen]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
