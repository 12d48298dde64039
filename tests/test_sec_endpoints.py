"""Provider keys and tenant-chosen endpoints (issue 10, critical 3).

An agent's `llm_config.model_endpoint`, a folder's `embedding_config.embedding_endpoint` and an imported `.af`
name URLs a tenant chose. The operator's key must never go there; internal addresses are refused unless the
operator allowed them; and what such an endpoint answers on failure is not relayed to the caller.
A fake provider on loopback stands for the attacker's server (loopback is allowed in the tests, as on a laptop).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ade.errors import Invalid
from ade.netguard import check_outbound_url

OPERATOR_KEY = "sk-operator-secret-0123456789"
INTERNAL_PAGE = "INTERNAL ADMIN PAGE: db password hunter2"


class FakeProvider:
    """An OpenAI-compatible server that records what it receives; `fail=True` answers 500 with a private page."""

    def __init__(self):
        self.seen, self.fail = [], False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if outer.fail:
                    return self._send(500, INTERNAL_PAGE.encode(), "text/plain")
                if self.path.endswith("/embeddings"):
                    data = [
                        {"object": "embedding", "index": i, "embedding": [0.5] * 384} for i in range(len(body["input"]))
                    ]
                    answer = {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                else:
                    message = {"role": "assistant", "content": "pwned", "tool_calls": None}
                    answer = {
                        "id": "x", "object": "chat.completion", "created": 1, "model": body["model"],
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }  # fmt: skip
                self._send(200, json.dumps(answer).encode(), "application/json")

            def _send(self, status, data, kind):
                self.send_response(status)
                self.send_header("Content-Type", kind)
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


@pytest.fixture
def provider(settings):
    settings.OPENAI_API_KEY = OPERATOR_KEY
    settings.LLM_RETRY_DELAYS = []
    fake = FakeProvider()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def custom_llm(url):
    return {"model": "gpt-4o", "model_endpoint_type": "openai", "model_endpoint": url, "context_window": 8000}


def create_agent(api, **body):
    return api.post("/v1/agents/", {"name": "a", "embedding": "local/all-minilm-l6-v2", **body})


def test_a_custom_model_endpoint_never_gets_the_operator_key(alice_api, provider):
    agent = create_agent(alice_api, llm_config=custom_llm(provider.url)).json()
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"})
    assert r.status_code == 200, r.content
    assert provider.seen, "the custom endpoint was called"
    assert all(OPERATOR_KEY not in a for a in provider.authorizations()), provider.authorizations()


def test_the_provider_own_base_url_still_gets_its_key(settings):
    from agents.runtime.providers import litellm_kwargs

    settings.OPENAI_API_KEY = OPERATOR_KEY
    assert litellm_kwargs(custom_llm("https://api.openai.com/v1"))["api_key"] == OPERATOR_KEY
    assert litellm_kwargs({**custom_llm(None), "handle": "openai/gpt-4o"})["api_key"] == OPERATOR_KEY
    assert litellm_kwargs(custom_llm("https://93.184.216.34/v1"))["api_key"] != OPERATOR_KEY


def test_an_operator_configured_compatible_server_keeps_its_key(settings):
    from agents.runtime.providers import litellm_kwargs

    settings.OPENAI_COMPATIBLE_BASE_URL, settings.OPENAI_COMPATIBLE_API_KEY = "http://10.1.2.3/v1", "vllm-key"
    settings.ALLOWED_MODEL_HOSTS = []
    config = {
        "model": "m",
        "model_endpoint_type": "openai",
        "model_endpoint": "http://evil/v1",
        "handle": "openai-compatible/m",
    }
    assert litellm_kwargs(config) == {"model": "openai/m", "api_base": "http://10.1.2.3/v1", "api_key": "vllm-key"}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://169.254.169.254/latest", "http://10.0.0.7/v1",
            "http://[::1]:8000/v1", "http://[::ffff:127.0.0.1]/v1", "http://0.0.0.0:8000/", "ftp://example.com/"],
)  # fmt: skip
def test_internal_endpoints_are_refused_unless_allowed(alice_api, provider, settings, url):
    settings.ALLOWED_MODEL_HOSTS = []
    r = create_agent(alice_api, llm_config=custom_llm(url))
    assert r.status_code == 400 and "llm_config.model_endpoint" in r.json()["detail"], r.content
    with pytest.raises(Invalid) as refused:
        check_outbound_url(url, field="x")
    assert refused.value.field == "x"


def test_allowed_hosts_names_and_networks(settings):
    settings.ALLOWED_MODEL_HOSTS = ["10.0.0.0/8", "ollama"]
    check_outbound_url("http://10.9.8.7:11434/", field="x")
    check_outbound_url("http://ollama:11434/", field="x")  # a compose service name, allowed by name
    check_outbound_url("https://93.184.216.34/v1", field="x")  # public: always allowed
    with pytest.raises(Invalid, match="could not be resolved"):
        check_outbound_url("http://no-such-host.invalid/", field="x")
    with pytest.raises(Invalid, match="192.168.1.1"):
        check_outbound_url("http://192.168.1.1/", field="x")


def test_an_endpoint_allowed_when_stored_is_checked_again_at_call_time(alice_api, provider, settings):
    agent = create_agent(alice_api, llm_config=custom_llm(provider.url)).json()
    settings.ALLOWED_MODEL_HOSTS = []
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"})
    assert r.status_code == 502 and "ALLOWED_MODEL_HOSTS" in r.json()["detail"]
    assert provider.seen == []


def test_patching_an_agent_to_an_internal_endpoint_is_refused(alice_api, settings):
    agent = create_agent(alice_api).json()
    settings.ALLOWED_MODEL_HOSTS = []
    r = alice_api.patch(f"/v1/agents/{agent['id']}", {"llm_config": custom_llm("http://127.0.0.1:8000/v1")})
    assert r.status_code == 400 and "llm_config.model_endpoint" in r.json()["detail"]
    assert alice_api.get(f"/v1/agents/{agent['id']}").json()["llm_config"]["model"] == agent["llm_config"]["model"]


def test_upstream_error_text_of_a_custom_endpoint_is_not_relayed(alice_api, provider):
    provider.fail = True
    agent = create_agent(alice_api, llm_config=custom_llm(provider.url)).json()
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"})
    assert r.status_code == 502 and provider.seen
    assert "hunter2" not in r.content.decode() and "500" in r.json()["detail"]


def embedding_config(url):
    return {"embedding_endpoint_type": "openai", "embedding_model": "text-embedding-3-small", "embedding_dim": 384,
            "embedding_endpoint": url, "embedding_chunk_size": 300}  # fmt: skip


def test_a_folder_embedding_endpoint_never_gets_the_operator_key(
    alice_api, provider, django_capture_on_commit_callbacks
):
    folder = alice_api.post("/v1/folders/", {"name": "f", "embedding_config": embedding_config(provider.url)}).json()
    with django_capture_on_commit_callbacks(execute=True):
        r = alice_api.upload(
            f"/v1/folders/{folder['id']}/upload", {"file": SimpleUploadedFile("a.txt", b"some words to embed")}
        )
    assert r.status_code == 200, r.content
    assert alice_api.get(f"/v1/folders/{folder['id']}/files").json()[0]["processing_status"] == "completed"
    assert provider.seen and all(OPERATOR_KEY not in a for a in provider.authorizations())


def test_folder_endpoints_inside_the_host_are_refused(alice_api, settings):
    settings.ALLOWED_MODEL_HOSTS = []
    r = alice_api.post("/v1/folders/", {"name": "f", "embedding_config": embedding_config("http://127.0.0.1:1/v1")})
    assert r.status_code == 400 and "embedding_config.embedding_endpoint" in r.json()["detail"]
    folder = alice_api.post("/v1/folders/", {"name": "g"}).json()
    r = alice_api.patch(f"/v1/folders/{folder['id']}", {"embedding_config": embedding_config("http://10.0.0.1/v1")})
    assert r.status_code == 400 and "embedding_config.embedding_endpoint" in r.json()["detail"]


def test_an_imported_agent_file_never_sends_the_operator_key(alice_api, provider, scripted_llm, settings):
    agent = create_agent(alice_api, model="engram/scripted").json()
    doc = alice_api.get(f"/v1/agents/{agent['id']}/export").json()
    doc["agents"][0]["llm_config"] = custom_llm(provider.url)
    upload = {"file": SimpleUploadedFile("a.af", json.dumps(doc).encode(), "application/json")}
    [copy] = alice_api.upload("/v1/agents/import", upload).json()["agent_ids"]
    alice_api.post(f"/v1/agents/{copy}/messages", {"input": "hi"})
    assert provider.seen and all(OPERATOR_KEY not in a for a in provider.authorizations())

    settings.ALLOWED_MODEL_HOSTS = []
    upload = {"file": SimpleUploadedFile("a.af", json.dumps(doc).encode(), "application/json")}
    r = alice_api.upload("/v1/agents/import", upload)
    assert r.status_code == 400 and "model_endpoint" in r.json()["detail"], r.content
