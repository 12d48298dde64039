"""HTTP/1.1 to model endpoints reached directly: the standard library's client, kept-alive connections, litellm's TLS.

litellm's httpx client spent ~1.0 ms of CPU per model call here (its request and response models, the transport
and connection-pool layers, h11's state machine); `http.client` sends the same bytes and reads the same answer in
~0.3 ms. A call that needs more than a direct HTTP/1.1 connection — a proxy from the environment, HTTP/2, a client
certificate, a transport set on litellm — still goes through litellm's httpx client: `direct()` says which.

Failures are raised as httpx's exceptions (`ConnectError`, `ReadTimeout`…), so callers handle both paths alike.
Redirects are never followed: the response is the endpoint's own.
"""

import http.client
import os
import select
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

import httpx

from ade import jsoncodec

KEEP_IDLE_SECONDS = 5.0  # as httpx: endpoints drop idle connections soon after (uvicorn: 5 s)
MAX_IDLE_PER_HOST = 8

_idle: dict[tuple, list[tuple[float, http.client.HTTPConnection]]] = {}
_lock = threading.Lock()
NETWORK_ERRORS = (OSError, http.client.HTTPException)
_plain: bool | None = None  # no proxy, HTTP/2, client certificate or custom transport configured


def direct(url: str) -> bool:
    """Whether a call to `url` goes on a plain connection of ours (else through litellm's httpx client).
    Decided once per process from the environment and litellm's settings, as litellm builds its client once."""
    global _plain
    if _plain is None:
        _plain = _nothing_special()
    return _plain and url.startswith(("http://", "https://"))


def post(url: str, headers: dict, body: bytes, timeout: float) -> "Response":
    """POST `body` and return once the status and headers are in; the body is read through the `Response`.

    An idle connection the endpoint has closed is not used (it shows readable); one closed the moment the request
    went out fails while sending it, and the request goes again on a new connection. Once sent, it is never sent
    again here (the caller's retries decide)."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {**_default_headers(), **headers}
    while True:
        conn, reused = _take(key, timeout)
        try:
            try:
                conn.request("POST", target, body=body, headers=headers)
            except (ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                conn.close()
                continue
            return Response(key, conn, conn.getresponse())
        except NETWORK_ERRORS as exc:
            connected = conn.sock is not None
            conn.close()
            raise _as_httpx(exc, connected=connected) from exc
        except BaseException:
            conn.close()
            raise


class Response:
    """The parts of an httpx.Response that callers use. Its connection goes back to the pool once the body has
    been read to its end; `close()` before that drops the connection."""

    def __init__(self, key: tuple, conn: http.client.HTTPConnection, raw: http.client.HTTPResponse):
        self._key, self._conn, self._raw = key, conn, raw
        self.status_code = raw.status
        self._content: bytes | None = None

    @property
    def headers(self) -> httpx.Headers:
        return httpx.Headers(self._raw.getheaders())

    def read(self) -> bytes:
        if self._content is None:
            try:
                self._content = self._raw.read()
            except NETWORK_ERRORS as exc:
                raise _as_httpx(exc) from exc
            finally:
                self._release()
        return self._content

    @property
    def text(self) -> str:
        return self.read().decode("utf-8", "replace")

    def json(self):
        return jsoncodec.loads(self.read())

    def iter_lines(self):
        """The body's lines as they arrive (server-sent events), without their line ends."""
        try:
            for line in self._raw:
                yield line.decode("utf-8").rstrip("\r\n")
        except NETWORK_ERRORS as exc:
            raise _as_httpx(exc) from exc
        finally:
            self._release()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _release(self) -> None:
        """Back to the pool if the body was read to its end, else closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if not self._raw.isclosed() or self._raw.will_close or conn.sock is None:
            conn.close()
            return
        with _lock:
            idle = _idle.setdefault(self._key, [])
            if len(idle) < MAX_IDLE_PER_HOST:
                idle.append((time.monotonic(), conn))
                return
        conn.close()


def _take(key: tuple, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
    now, conn = time.monotonic(), None
    with _lock:
        idle = _idle.get(key) or []
        while idle:
            since, candidate = idle.pop()
            if now - since < KEEP_IDLE_SECONDS and not _readable(candidate.sock):
                conn = candidate
                break
            candidate.close()
    if conn is not None:
        conn.timeout = timeout
        conn.sock.settimeout(timeout)
        return conn, True
    scheme, host, port = key
    if scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls_context()), False
    return http.client.HTTPConnection(host, port, timeout=timeout), False


def _readable(sock) -> bool:
    """Whether an idle connection has something to read: the endpoint closed it (or sent what nobody asked for).
    Either way it is not to be used again."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _as_httpx(exc: Exception, *, connected: bool = True) -> httpx.TransportError:
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return httpx.ReadTimeout(message) if connected else httpx.ConnectTimeout(message)
    if isinstance(exc, http.client.HTTPException):
        return httpx.RemoteProtocolError(message)
    return httpx.ReadError(message) if connected else httpx.ConnectError(message)


def _tls_context() -> ssl.SSLContext:
    """The context litellm's client verifies with: SSL_VERIFY, SSL_CERT_FILE, litellm.ssl_verify, certifi."""
    from litellm.llms.custom_httpx.http_handler import get_ssl_configuration

    context = get_ssl_configuration()
    if isinstance(context, ssl.SSLContext):
        return context
    return ssl._create_unverified_context()  # noqa: S323 - the operator turned verification off (SSL_VERIFY=False)


def _default_headers() -> dict:
    from litellm.llms.custom_httpx.http_handler import get_default_headers

    return get_default_headers()


def _nothing_special() -> bool:
    import litellm
    from httpx._utils import get_environment_proxies
    from litellm.llms.custom_httpx.http_handler import http2_enabled

    proxied = any(proxy is not None for proxy in get_environment_proxies().values())
    certificate = os.getenv("SSL_CERTIFICATE", litellm.ssl_certificate)
    transport = litellm.force_ipv4 or getattr(litellm, "sync_transport", None)
    return not (proxied or certificate or transport or http2_enabled())


def _forget_after_fork() -> None:
    global _lock
    _idle.clear()  # the parent's sockets: never shared with a child
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
