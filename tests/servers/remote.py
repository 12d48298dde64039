"""Start the MCP test server (mcp_test_server.py) in a subprocess for tests: HTTP or SSE, with a bearer token."""

import socket
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = str(Path(__file__).parent / "mcp_test_server.py")
TOKEN = "mcp-secret-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MCPTestServer:
    """`kind` is "http" (streamable HTTP at /mcp) or "sse" (at /sse). restart() gives a fresh process, so tools
    added at run time (learn_more) are gone again."""

    def __init__(self, kind: str):
        self.kind, self.port, self.process = kind, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}{'/mcp' if kind == 'http' else '/sse'}"

    def start(self):
        argv = [sys.executable, SCRIPT, self.kind, str(self.port), "--token", TOKEN]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the MCP test server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self):
        self.stop()
        return self.start()
