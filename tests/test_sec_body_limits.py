"""Request bodies are refused before they are buffered (issue 10, high 4), against a real daphne server.

The attack: a 100 MB multipart POST without credentials to any path. Before, daphne read it whole and queued it
for Django, costing ~1 GB of server memory. Now it is answered 413 as soon as its headers arrive (or, without a
Content-Length, as soon as the counted bytes pass the limit), and the server's memory barely moves.
"""

import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

MB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(django_db_setup, scripted_llm_server, tmp_path_factory):
    from django.conf import settings

    port = _free_port()
    log_path = tmp_path_factory.mktemp("bodylimit") / "daphne.log"
    env = {
        **os.environ,
        "DATABASE_NAME": str(settings.DATABASES["default"]["NAME"]),
        "HTTP_BODY_TIMEOUT_SECONDS": "1",
        "HTTP_IDLE_TIMEOUT_SECONDS": "2",
        "HTTP_MAX_UNSENT_BYTES": str(1024 * 1024),
        "CELERY_EAGER": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ade.serve", "-b", "127.0.0.1", "-p", str(port), "ade.asgi:application"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health/", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(log_path.read_text()[-3000:]) from None
            time.sleep(0.1)
    yield port, proc.pid
    proc.terminate()
    proc.wait(timeout=10)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


class PeakRss:
    """The largest RSS of a process while the block runs (sampled every 10 ms)."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self):
        self.before = rss_mb(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __exit__(self, *exc):
        time.sleep(0.2)  # let the server finish whatever the request started
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))


def send(port, head: bytes, body_size: int, *, chunked=False) -> tuple[bytes, float]:
    """Send the head, then up to `body_size` body bytes while the server lets us; return (response, seconds to the
    first response byte)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    sock.sendall(head)
    piece = (b"%x\r\n" % MB + b"x" * MB + b"\r\n") if chunked else b"x" * MB
    sent = 0
    sock.setblocking(False)
    response = b""
    try:
        while sent < body_size and not response:
            try:
                sock.send(piece)
                sent += MB
            except BlockingIOError:
                time.sleep(0.001)
            try:
                response = sock.recv(65536)
            except BlockingIOError:
                pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(10)
    sock.setblocking(True)
    try:
        response = response or sock.recv(65536)
    except (ConnectionResetError, TimeoutError):
        pass
    elapsed = time.monotonic() - started
    sock.close()
    return response, elapsed


def multipart_head(path: str, size: int, extra: bytes = b"") -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=xyz\r\n"
        b"Content-Length: %d\r\n%s\r\n" % (path.encode(), size, extra)
    )


@pytest.mark.django_db(transaction=True)
def test_unauthenticated_100mb_multipart_is_refused_at_once_and_costs_no_memory(server):
    port, pid = server
    with PeakRss(pid) as rss:
        response, _ = send(port, multipart_head("/nothing-here/", 100 * MB), 100 * MB)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert rss.peak - rss.before < 50, (rss.before, rss.peak)


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_counted_and_cut_off(server):
    port, pid = server
    head = (
        b"POST /v1/agents/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    with PeakRss(pid) as rss:
        response, _ = send(port, head, 100 * MB, chunked=True)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert rss.peak - rss.before < 50, (rss.before, rss.peak)


@pytest.mark.django_db(transaction=True)
def test_an_oversized_authenticated_upload_is_refused_before_it_is_read(server):
    port, pid = server
    head = multipart_head("/v1/folders/source-1/upload", 200 * MB, b"Authorization: Bearer sk-whatever\r\n")
    with PeakRss(pid) as rss:
        response, _ = send(port, head, 200 * MB)
    assert response.startswith(b"HTTP/1.1 413") and b"limit" in response
    assert rss.peak - rss.before < 50, (rss.before, rss.peak)


@pytest.mark.django_db(transaction=True)
def test_bodies_within_the_limits_reach_django(server):
    port, _ = server
    # Without credentials a small body passes the limit and Django answers (401: no key).
    response, _ = send(port, multipart_head("/v1/agents/", 10), 0)
    assert response.startswith(b"HTTP/1.1 "), response
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"POST /v1/agents/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer sk-wrong\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert sock.recv(65536).startswith(b"HTTP/1.1 401")
    sock.close()


@pytest.mark.django_db(transaction=True)
def test_a_slow_body_and_an_idle_connection_are_dropped(server):
    port, _ = server
    sock = socket.create_connection(("127.0.0.1", port), timeout=0.3)
    sock.sendall(multipart_head("/login/", 1000) + b"--xyz")
    deadline, answer = time.monotonic() + 10, b""
    while not answer and time.monotonic() < deadline:  # a byte now and then: never idle, never done
        try:
            answer = sock.recv(65536)
            break
        except TimeoutError:
            sock.sendall(b"x")
    assert answer.startswith(b"HTTP/1.1 408"), answer
    sock.close()
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    assert idle.recv(100) == b""  # closed by the server
    assert time.monotonic() - started < 9
    idle.close()


@pytest.mark.django_db(transaction=True)
def test_a_long_search_query_gets_an_answer(server):
    """A 6,000-character query, percent-encoded to 36,000 bytes, used to get the connection dropped unanswered."""
    from urllib.parse import quote

    port, _ = server
    for query, status in [("é" * 6000, b"401"), ("x" * 100_000, b"431")]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        path = "/v1/agents/agent-1/archival-memory/search?query=" + quote(query)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 " + status)
        sock.close()


@pytest.mark.django_db(transaction=True)
def test_a_stream_nobody_reads_is_dropped_not_buffered(server, alice, alice_key, scripted_llm):
    """An SSE stream whose client stops reading used to pile up in the server (+65 MB over 300 steps). Past
    HTTP_MAX_UNSENT_BYTES (1 MB here) of unsent response the server drops the connection; the run still ends."""
    from agents.actions import create_agent
    from agents.models import Run

    port, _ = server
    agent = create_agent(alice, {"name": "talker"})
    reply = " ".join(f"{i:07d}" + "y" * 10_000 for i in range(600))  # 6 MB of tokens, no two alike
    scripted_llm.queue_text(reply)
    body = b'{"input": "talk", "stream_tokens": true}'
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel holds little for us either
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/agents/%s/messages/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
        % (agent.id.encode(), alice_key.encode(), len(body), body)
    )
    deadline = time.monotonic() + 150  # a shared machine streams 6 MB through litellm slowly
    while not Run.objects.filter(agent=agent, status__in=("completed", "failed", "cancelled")).exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # Still reading nothing: the server gives up on us (a reset) once we take nothing for its idle timeout.
    poller = select.poll()
    poller.register(sock, select.POLLERR | select.POLLHUP)
    assert poller.poll(60_000), "the server kept the unread response"
    received = 0
    sock.settimeout(5)
    try:
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    assert Run.objects.get(agent=agent).status == "completed"
    assert 0 < received < len(reply) // 2, received  # cut off, not delivered whole from a server-side buffer
