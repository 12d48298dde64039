"""Model calls on our own kept-alive HTTP/1.1 connections (agents/runtime/model_http.py): one connection for many
calls, a connection the endpoint dropped replaced without sending a request twice, litellm's timeout, TLS verified
as litellm's client verifies it, and litellm's httpx client wherever the environment asks for more (a proxy)."""

import datetime
import json
import socket
import ssl
import struct
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import litellm
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agents.runtime import model_http, openai_wire

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}], "usage": {}}


@contextmanager
def endpoint(*, drop_after_answer=False, reset_after_answer=False, delay=0.0, tls=None):
    """A chat endpoint on HTTP/1.1 that counts connections and requests. `drop_after_answer` closes each
    connection after its answer without saying so (as a server dropping idle connections does);
    `reset_after_answer` aborts it (a reset: the next send on it fails)."""
    seen = {"connections": 0, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            seen["connections"] += 1
            super().setup()

        def do_POST(self):  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["requests"] += 1
            time.sleep(delay)
            body = json.dumps(ANSWER).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if drop_after_answer:
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            if reset_after_answer:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{scheme}://localhost:{server.server_port}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def kwargs_for(api_base, **extra) -> dict:
    return {"model": "openai/any", "api_base": api_base, "api_key": "k", "timeout": 10} | {
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


def test_calls_share_one_kept_alive_connection():
    with endpoint() as (api_base, seen):
        for _ in range(3):
            assert openai_wire.complete(kwargs_for(api_base))["choices"][0]["message"]["content"] == "Hi."
    assert seen == {"connections": 1, "requests": 3}


def test_a_connection_the_endpoint_dropped_is_replaced_and_no_request_is_sent_twice(monkeypatch):
    checked, readable = [], model_http._readable
    monkeypatch.setattr(model_http, "_readable", lambda sock: checked.append(readable(sock)) or checked[-1])
    with endpoint(drop_after_answer=True) as (api_base, seen):
        for _ in range(3):
            assert openai_wire.complete(kwargs_for(api_base))["choices"][0]["message"]["content"] == "Hi."
            time.sleep(0.1)  # the endpoint's close has arrived
    assert seen == {"connections": 3, "requests": 3}
    assert checked == [True, True]  # each dropped connection was seen closed before any request went on it


def test_a_request_that_meets_a_just_closed_connection_goes_again_on_a_new_one(monkeypatch):
    """The endpoint closes a kept-alive connection just as the next request goes out (here: it reset it, and the
    check for closed idle connections is made to miss it): sending fails, nothing reached the endpoint, and the
    request goes once more, on a new connection."""
    monkeypatch.setattr(model_http, "_readable", lambda sock: False)
    with endpoint(reset_after_answer=True) as (api_base, seen):
        assert openai_wire.complete(kwargs_for(api_base))["choices"][0]["message"]["content"] == "Hi."
        time.sleep(0.2)  # the reset has arrived
        assert openai_wire.complete(kwargs_for(api_base))["choices"][0]["message"]["content"] == "Hi."
    assert seen == {"connections": 2, "requests": 2}


def test_a_slow_endpoint_raises_litellms_timeout_and_its_connection_is_not_reused():
    with endpoint(delay=1.5) as (api_base, seen):
        with pytest.raises(litellm.Timeout):
            openai_wire.complete(kwargs_for(api_base, timeout=0.3))
        assert openai_wire.complete(kwargs_for(api_base))["choices"][0]["message"]["content"] == "Hi."
    assert seen == {"connections": 2, "requests": 2}


def test_tls_is_verified_against_the_ca_litellm_would_use(tmp_path, monkeypatch):
    ca_file, server_context = certificate_authority(tmp_path)
    with endpoint(tls=server_context) as (api_base, seen):
        with pytest.raises(litellm.InternalServerError, match="CERTIFICATE_VERIFY_FAILED"):
            openai_wire.complete(kwargs_for(api_base))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # litellm's own setting for its CA bundle
        assert openai_wire.complete(kwargs_for(api_base))["choices"][0]["message"]["content"] == "Hi."
    assert seen["requests"] == 1


def test_a_proxy_in_the_environment_sends_calls_through_litellms_client(monkeypatch):
    monkeypatch.setattr(model_http, "_plain", None)
    assert model_http.direct("http://127.0.0.1:9/v1/chat/completions")
    monkeypatch.setattr(model_http, "_plain", None)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert not model_http.direct("https://api.openai.com/v1/chat/completions")
    monkeypatch.setattr(model_http, "_plain", None)


def test_a_refused_connection_is_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed
    with pytest.raises(httpx.ConnectError):
        model_http.post(f"http://127.0.0.1:{port}/v1/chat/completions", {}, b"{}", 5)


def certificate_authority(tmp_path):
    """A CA (its PEM file) and a server context with a certificate for localhost that the CA signed."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject, issuer, key, signer, *, ca):
        builder = x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        builder = (
            builder.serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Engram test CA")])
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    ca_cert = certificate(ca_name, ca_name, ca_key, ca_key, ca=True)
    server_cert = certificate(server_name, ca_name, server_key, ca_key, ca=False)
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context
