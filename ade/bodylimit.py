"""Request bodies are limited before anything reads them into memory.

Daphne receives a whole body (into a temporary file) before it starts the application, then queues all of it, in
8 KB chunks, for the application at once: a 100 MB upload cost ~1 GB of server memory even when Django refused it.
So the limit is enforced in daphne's request reader (`install_daphne_limits`, called by `ade/asgi.py`): a declared
`Content-Length` over the limit is answered 413 as soon as the headers arrive, and a chunked body is counted as
it comes and cut off at the limit. `BodyLimit` does the same in front of Django for any other ASGI server.

The limit depends on what the request could legitimately be: without credentials (no API key, no session cookie)
only `UNAUTHENTICATED_BODY_BYTES`; with them `MAX_BODY_BYTES` (Django's own parsing limit), or the upload limit on
the upload paths. Credentials are only looked at, not checked here: Django still refuses a bad key (401).

Daphne also gets idle timeouts: a connection that sends nothing for `HTTP_IDLE_TIMEOUT_SECONDS` is closed, and a
body must arrive within `HTTP_BODY_TIMEOUT_SECONDS` of its headers (slow-body clients hold no connection for long).
"""

import io
import json
import logging
import re

from django.conf import settings

log = logging.getLogger(__name__)
UPLOAD_PATHS = re.compile(
    r"^/(v1/agents/import|v1/folders/[^/]+/upload|agents/import|agents/[^/]+/folders/[^/]+/upload)/?$"
)
MULTIPART_ALLOWANCE = 64 * 1024  # form fields and part headers around an uploaded file


def body_limit(path: str, headers) -> int:
    """The largest body accepted for a request to `path` with these (lower-case name, value) byte headers."""
    names = dict(headers)
    cookie = names.get(b"cookie", b"").decode("latin-1")
    credentials = b"authorization" in names or f"{settings.SESSION_COOKIE_NAME}=" in cookie
    if not credentials:
        return settings.UNAUTHENTICATED_BODY_BYTES
    if UPLOAD_PATHS.match(path):
        return max(settings.MAX_UPLOAD_BYTES + MULTIPART_ALLOWANCE, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def refusal(limit: int) -> bytes:
    return json.dumps({"detail": f"Request body too large (the limit for this request is {limit} bytes)"}).encode()


class BodyLimit:
    """ASGI middleware: 413 for a body over `body_limit`, by its Content-Length or by counting what arrives."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit(scope["path"], scope["headers"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _send_413(send, limit)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await _send_413(send, limit)


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        self.limit = limit


async def _send_413(send, limit: int) -> None:
    body = refusal(limit)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ---- daphne ----------------------------------------------------------------------------------------------------


def install_daphne_limits() -> None:
    """Make daphne's request reader enforce `body_limit` and the idle/body timeouts (idempotent)."""
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "engram_limited", False):
        return
    http_protocol.WebRequest = _limited_request(http_protocol.WebRequest)
    build = http_protocol.HTTPFactory.buildProtocol

    def build_protocol(self, addr):
        protocol = build(self, addr)
        if protocol is not None:
            # daphne hands a received body to the application in request_buffer_size pieces (8 KB by default: a
            # 25 MB upload was 3,200 queue messages, each copied on its own); 1 MB pieces answer it sooner
            self.server.request_buffer_size = max(self.server.request_buffer_size, REQUEST_PIECE_BYTES)
            protocol.timeOut = settings.HTTP_IDLE_TIMEOUT_SECONDS
            # Twisted allows 16 KB of request line and headers and silently drops a connection past that: a long
            # search query (6,000 characters, percent-encoded) got no answer at all. Allow more; answer past it.
            channel = getattr(protocol, "_channel", protocol)  # twisted wraps the HTTP/1.1 channel
            channel.MAX_LENGTH = channel.totalHeadersSize = HEADER_BYTES
            channel.lineLengthExceeded = lambda line, channel=channel: _too_long(channel)
        return protocol

    http_protocol.HTTPFactory.buildProtocol = build_protocol


HEADER_BYTES = 64 * 1024
REQUEST_PIECE_BYTES = 1024 * 1024


def _unsent(transport) -> int:
    """Bytes written to a twisted TCP transport and not yet taken by the kernel."""
    buffered = getattr(transport, "dataBuffer", b"")
    return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


def _too_long(protocol) -> None:
    body = b'{"detail": "The request line or headers are too long (the limit is 64 KB)"}'
    head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
    protocol.transport.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    protocol.transport.loseConnection()


def _limited_request(base):
    class LimitedRequest(base):
        engram_limited = True
        _refused = False
        _deadline = None
        _watch = None

        def gotLength(self, length):  # noqa: N802 - twisted's name
            self._limit = body_limit(self.channel._path.split(b"?", 1)[0].decode("latin-1"), self._header_pairs())
            self._received = 0
            if length is not None and length > self._limit:
                return self._refuse(413)
            super().gotLength(length)
            from twisted.internet import reactor

            self._deadline = reactor.callLater(settings.HTTP_BODY_TIMEOUT_SECONDS, self._refuse, 408)

        def _header_pairs(self):
            return [
                (name.lower(), value) for name, values in self.requestHeaders.getAllRawHeaders() for value in values
            ]

        def handleContentChunk(self, data):  # noqa: N802 - twisted's name
            if self._refused:
                return
            self._received += len(data)
            if self._received > self._limit:
                return self._refuse(413)
            super().handleContentChunk(data)

        def requestReceived(self, command, path, version):  # noqa: N802 - twisted's name
            if self._deadline is not None and self._deadline.active():
                self._deadline.cancel()
            if self._refused:
                return
            # twisted would parse a form body into request.args (with the email package: 0.4 s of a 25 MB
            # upload's answer), which daphne never reads: it hands the raw body to Django
            self._parsePOSTFormSubmission = False
            super().requestReceived(command, path, version)

        def handle_reply(self, message):
            """A response (an SSE stream) to a client that stops reading piles up in the server's send buffer,
            as daphne has no back-pressure. Past HTTP_MAX_UNSENT_BYTES unsent, a client that takes nothing more
            for HTTP_IDLE_TIMEOUT_SECONDS is dropped (a run goes on and can be followed again); a slow reader
            that keeps reading is not."""
            super().handle_reply(message)
            if self._watch is None and self._unsent() > settings.HTTP_MAX_UNSENT_BYTES:
                self._watch_progress(self._taken())

        def _transport(self):
            # Twisted deletes the request's channel once the response is finished, while its unsent bytes may
            # still wait: keep the transport that was watched.
            channel = getattr(self, "channel", None)
            if channel is not None and channel.transport is not None:
                self._watched = channel.transport
            return getattr(self, "_watched", None)

        def _unsent(self) -> int:
            transport = self._transport()
            return _unsent(transport) if transport is not None else 0

        def _taken(self) -> int:
            return self.sentLength - self._unsent()

        def _watch_progress(self, taken: int) -> None:
            from twisted.internet import reactor

            self._watch = reactor.callLater(settings.HTTP_IDLE_TIMEOUT_SECONDS, self._check_progress, taken)

        def _check_progress(self, taken_before: int) -> None:
            self._watch = None
            transport = self._transport()
            if (
                transport is None
                or getattr(transport, "disconnected", False)
                or self._unsent() <= settings.HTTP_MAX_UNSENT_BYTES
            ):
                return
            if self._taken() <= taken_before:
                log.warning("dropping a connection that stopped reading its response (%s)", self.uri[:200])
                transport.abortConnection()
            else:
                self._watch_progress(self._taken())

        def connectionLost(self, reason):  # noqa: N802 - twisted's name
            for timer in (self._deadline, self._watch):
                if timer is not None and timer.active():
                    timer.cancel()
            super().connectionLost(reason)

        def _refuse(self, status: int):
            """Answer at once and close, without reading the rest of the body."""
            if self._refused:
                return
            self._refused = True
            self.content = io.BytesIO()  # twisted may still look at it while the connection closes
            if status == 413:
                body, reason = refusal(self._limit), b"Content Too Large"
            else:
                body, reason = b'{"detail": "The request body was not sent in time"}', b"Request Timeout"
            head = (
                b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            )
            channel = getattr(self, "channel", None)
            transport = channel.transport if channel is not None else None
            if transport is not None:
                transport.write(head % (status, reason, len(body)) + body)
                transport.loseConnection()

    return LimitedRequest
