"""The model catalog: handles, Letta-shaped configs, and litellm arguments that reach real servers."""

import httpx
import pytest
from letta_client.types import EmbeddingConfig, EmbeddingModel, LlmConfig, Model

from ade.errors import Invalid, NotFound, Unprocessable
from agents.runtime import providers
from agents.scripted import server as scripted


@pytest.fixture
def no_keys(settings):
    settings.OPENAI_API_KEY = settings.ANTHROPIC_API_KEY = ""
    settings.OLLAMA_BASE_URL = settings.OPENAI_COMPATIBLE_BASE_URL = ""
    providers._listing_cache.clear()
    return settings


def test_default_catalog_is_the_simulator_and_local_embeddings(no_keys, scripted_llm):
    models = providers.llm_models()
    assert [m["handle"] for m in models] == ["engram/scripted"]
    model = Model.model_validate(models[0])
    assert (model.name, model.context_window, model.provider_type) == ("scripted", 32000, "openai")
    assert "simulator" in model.display_name.lower()
    embeddings = providers.embedding_models()
    assert [e["handle"] for e in embeddings] == ["local/all-minilm-l6-v2", "engram/scripted-embed"]
    for e in embeddings:
        parsed = EmbeddingModel.model_validate(e)
        assert parsed.embedding_dim == 384 and parsed.api_model_type == "embedding"


def test_scripted_config_resolves_its_endpoint_when_called(no_keys, scripted_llm):
    config = providers.resolve_llm("engram/scripted")
    parsed = LlmConfig.model_validate(config)
    assert (parsed.model, parsed.handle, parsed.context_window) == ("scripted", "engram/scripted", 32000)
    assert config["model_endpoint_type"] == "openai"
    stale = {**config, "model_endpoint": "http://127.0.0.1:1/v1"}  # stored before the server moved
    kwargs = providers.litellm_kwargs(stale)
    assert kwargs == {"model": "openai/scripted", "api_base": scripted_llm.api_base, "api_key": "scripted"}
    assert httpx.get(kwargs["api_base"] + "/models").status_code == 200


def test_scripted_embedding_config_goes_through_litellm_to_the_server(no_keys, scripted_llm):
    import litellm

    config = providers.resolve_embedding("engram/scripted-embed")
    assert EmbeddingConfig.model_validate(config).embedding_dim == 384
    result = litellm.embedding(input=["tea"], **providers.litellm_kwargs(config))
    assert len(result.data[0]["embedding"]) == 384
    assert scripted_llm.requests("embeddings")[0]["input"] == ["tea"]
    with pytest.raises(Invalid):  # computed in-process, never through litellm
        providers.litellm_kwargs(providers.resolve_embedding("local/all-minilm-l6-v2"))


def test_overrides_are_applied_and_checked(no_keys, scripted_llm):
    config = providers.resolve_llm(
        "engram/scripted",
        {"context_window": 8000, "temperature": 0, "max_tokens": None, "model": "ignored", "unknown": 1},
    )
    assert (config["context_window"], config["temperature"], config["model"]) == (8000, 0.0, "scripted")
    assert "unknown" not in config
    with pytest.raises(Invalid) as err:
        providers.resolve_llm("engram/scripted", {"context_window": "big"})
    assert err.value.field == "context_window"
    with pytest.raises(Invalid) as err:
        providers.resolve_llm("engram/scripted", {"max_tokens": 0})
    assert err.value.field == "max_tokens"


@pytest.mark.parametrize(
    ("handle", "field"), [("scripted", "model"), ("", "model"), (None, "model"), ("/scripted", "model")]
)
def test_malformed_llm_handles_name_the_field(no_keys, handle, field):
    with pytest.raises(Invalid) as err:
        providers.resolve_llm(handle)
    assert err.value.field == field and "provider/model" in err.value.message


def test_unknown_or_unconfigured_handles_are_not_found(no_keys):
    for handle in ("nope/model", "engram/other", "openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-5"):
        with pytest.raises(NotFound) as err:
            providers.resolve_llm(handle)
        assert "engram/scripted" in err.value.message  # tells what is available
    with pytest.raises(NotFound):
        providers.resolve_embedding("openai/text-embedding-3-small")
    with pytest.raises(Invalid) as err:
        providers.resolve_embedding("minilm")
    assert err.value.field == "embedding"


def test_keyed_providers_appear_with_their_models(no_keys):
    no_keys.OPENAI_API_KEY, no_keys.ANTHROPIC_API_KEY = "sk-test", "ak-test"
    handles = [m["handle"] for m in providers.llm_models()]
    assert {"openai/gpt-4.1-mini", "openai/gpt-4o", "anthropic/claude-sonnet-4-5"} <= set(handles)
    config = providers.resolve_llm("openai/gpt-4.1-mini")
    assert config["context_window"] == 1_047_576 and config["model_endpoint"] == "https://api.openai.com/v1"
    assert providers.litellm_kwargs(config) == {"model": "openai/gpt-4.1-mini", "api_base": None, "api_key": "sk-test"}
    assert "sk-test" not in str(config)  # keys are read at call time, never stored in a config
    claude = providers.resolve_llm("anthropic/claude-sonnet-4-5")
    assert providers.litellm_kwargs(claude)["model"] == "anthropic/claude-sonnet-4-5"
    assert LlmConfig.model_validate(claude).api_model_endpoint_type == "anthropic"
    assert "openai/text-embedding-3-small" in [e["handle"] for e in providers.embedding_models()]
    for m in providers.llm_models():
        Model.model_validate(m)


def test_openai_compatible_server_is_listed_and_called(no_keys, scripted_llm):
    import litellm

    no_keys.OPENAI_COMPATIBLE_BASE_URL = scripted_llm.api_base  # any OpenAI-compatible server will do
    assert "openai-compatible/scripted" in [m["handle"] for m in providers.llm_models()]
    assert "openai-compatible/scripted-embed" in [e["handle"] for e in providers.embedding_models()]
    kwargs = providers.litellm_kwargs(providers.resolve_llm("openai-compatible/scripted"))
    assert kwargs["api_base"] == scripted_llm.api_base
    reply = litellm.completion(messages=[{"role": "user", "content": "hello"}], **kwargs)
    assert reply.choices[0].message.content == "Hello! How can I help you today?"


def test_an_unreachable_ollama_lists_nothing_but_its_handles_resolve(no_keys):
    no_keys.OLLAMA_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    assert [m["handle"] for m in providers.llm_models()] == ["engram/scripted"]
    kwargs = providers.litellm_kwargs(providers.resolve_llm("ollama/llama3.1"))
    assert kwargs == {"model": "ollama_chat/llama3.1", "api_base": "http://127.0.0.1:9", "api_key": None}


def test_autostart_starts_one_server_per_process(no_keys, monkeypatch):
    no_keys.SCRIPTED_LLM_URL = ""
    no_keys.SCRIPTED_LLM_AUTOSTART = False
    monkeypatch.setattr(scripted, "_autostarted", None)
    assert scripted.server_url(start=False) is None
    with pytest.raises(Unprocessable):
        providers.litellm_kwargs(providers.resolve_llm("engram/scripted"))
    no_keys.SCRIPTED_LLM_AUTOSTART = True
    url = scripted.server_url()
    try:
        assert scripted.server_url() == url  # started once
        assert providers.resolve_llm("engram/scripted")["model_endpoint"] == url + "/v1"
        assert httpx.get(url + "/v1/models").json()["data"][0]["id"] == "scripted"
    finally:
        scripted._autostarted.stop()
