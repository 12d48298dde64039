"""A real MCP server for the tests, written with the `mcp` package's own server API.

Run: python tests/servers/mcp_test_server.py stdio | http PORT | sse PORT [--token TOKEN]
Tools: add(a, b), echo(text), secret_env(name), read_path(path), connect(host, port) (isolation tests),
learn_more() (registers `multiply`; refresh tests), crash() (the process dies mid-call), slow(seconds).
With --token, HTTP requests without `Authorization: Bearer TOKEN` get 401.
"""

import os
import sys
import time

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("engram-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Repeat the text back."""
    return f"echo: {text}"


@server.tool()
def secret_env(name: str) -> str:
    """The value of an environment variable of the server process (or '<unset>')."""
    return os.environ.get(name, "<unset>")


@server.tool()
def read_path(path: str) -> str:
    """The start of a file the server can read (or why it cannot): isolation tests."""
    try:
        with open(path, "rb") as f:
            return f.read(200).decode(errors="replace")
    except OSError as exc:
        return f"<{type(exc).__name__}>"


@server.tool()
def connect(host: str, port: int) -> str:
    """Whether the server can open a TCP connection: isolation tests."""
    import socket

    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as exc:
        return f"<{type(exc).__name__}>"


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@server.tool()
def learn_more() -> str:
    """Register one more tool (multiply)."""
    server.add_tool(multiply)
    return "multiply added"


@server.tool()
def crash() -> str:
    """Die in the middle of the call."""
    os._exit(3)


@server.tool()
def slow(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return "done"


def _guarded(app, token):
    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return guarded


def main(argv):
    kind = argv[0]
    if kind == "stdio":
        server.run("stdio")
        return
    port = int(argv[1])
    token = argv[argv.index("--token") + 1] if "--token" in argv else None
    app = server.streamable_http_app() if kind == "http" else server.sse_app()
    uvicorn.run(_guarded(app, token) if token else app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
