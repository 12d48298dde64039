"""Chat completions with OpenAI-compatible endpoints through litellm's lower-level pieces.

`litellm.completion` spent ~4.6 ms of CPU per call here, the HTTP exchange itself ~1 ms: the rest is its wrapper
(argument binding, logging objects, the provider lookup, the OpenAI SDK and its pydantic response). For a model
litellm sends to an OpenAI-compatible endpoint ("openai/…"), the request is still litellm's: its chat config for
that model maps the parameters (dropping what the model lacks, renaming `max_tokens` where the model wants
another name) and builds the body and the headers; `model_http` sends it on a kept-alive connection (litellm's
pooled httpx client where a proxy, HTTP/2 or a client certificate is configured); a failure goes through
litellm's exception mapping, so the caller sees the exceptions `litellm.completion` raises. We read the JSON answer
(or the server-sent events of a stream) ourselves, as plain dicts.

Differences from the wrapper, on purpose: no retries inside the call (`llm.complete` retries, once per attempt,
instead of the SDK retrying up to twice more inside each of its attempts), and redirects are not followed (a
tenant's endpoint must not bounce the call to a host the outbound check never saw).
"""

import json
import os

import httpx

from ade import jsoncodec
from agents.runtime import model_http

DEFAULT_BASE = "https://api.openai.com/v1"
# What `llm.complete` may pass: anything else (a key litellm alone understands) takes litellm.completion.
CALL_KEYS = frozenset(
    {"model", "messages", "api_base", "api_key", "timeout", "temperature", "max_tokens", "tools", "tool_choice"}
    | {"parallel_tool_calls", "stream_options", "_skip_mcp_handler"}
)
EMBED_KEYS = frozenset({"model", "api_base", "api_key", "dimensions", "timeout"})
PARAMETERS = ("temperature", "max_tokens", "tools", "tool_choice", "parallel_tool_calls", "stream_options")


def handles(kwargs: dict) -> bool:
    """Whether this call goes to an OpenAI-compatible chat endpoint with only parameters we know."""
    return str(kwargs.get("model", "")).startswith("openai/") and kwargs.keys() <= CALL_KEYS


def complete(kwargs: dict) -> dict:
    """The chat completion's JSON (`choices`, `usage`, `model`…)."""
    response = _send(kwargs, stream=False)
    try:
        return response.json()
    except ValueError as exc:
        raise _mapped(kwargs, 502, f"the model endpoint answered with invalid JSON: {response.text[:200]}") from exc


def stream(kwargs: dict):
    """The chunks (dicts) of a streamed chat completion, as they arrive."""
    response = _send(kwargs, stream=True)
    try:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # SSE comments, `event:` lines, keep-alives
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = jsoncodec.loads(data)
            if isinstance(chunk, dict) and chunk.get("error"):  # an error the endpoint sent inside the stream
                error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
                code = error.get("code")
                status = code if isinstance(code, int) and 400 <= code < 600 else 500  # else a name, not a status
                raise _mapped(kwargs, status, error.get("message") or str(error))
            yield chunk
    except httpx.TimeoutException as exc:
        raise _timeout(kwargs) from exc
    except (httpx.TransportError, ValueError) as exc:
        raise _mapped(kwargs, 500, f"the model's stream broke off: {exc}") from exc
    finally:
        response.close()


def embed(kwargs: dict, texts: list[str]) -> list[list[float]]:
    """The embedding vectors of `texts`, in order, from an OpenAI-compatible endpoint: the parameters as litellm
    maps them for the model (`dimensions` only where it has them), sent and failing as `complete` does."""
    import litellm
    from litellm.utils import get_optional_params_embeddings

    model = kwargs["model"].removeprefix("openai/")
    params = get_optional_params_embeddings(
        model=model, dimensions=kwargs.get("dimensions"), custom_llm_provider="openai", drop_params=litellm.drop_params
    )
    body = {"model": model, "input": texts, **params}
    response = _post(kwargs, _url(kwargs, "embeddings"), _headers(kwargs, {}), body, stream=False)
    try:
        data = response.json()["data"]
        return [item["embedding"] for item in sorted(data, key=lambda item: item["index"])]
    except (ValueError, KeyError, TypeError) as exc:
        raise _mapped(kwargs, 502, f"the embedding endpoint answered with no vectors: {response.text[:200]}") from exc


def embeds(kwargs: dict) -> bool:
    """Whether this embedding call goes to an OpenAI-compatible endpoint with only parameters we know."""
    return str(kwargs.get("model", "")).startswith("openai/") and kwargs.keys() <= EMBED_KEYS


def _send(kwargs: dict, *, stream: bool):
    url, headers, body = _request(kwargs, stream)
    return _post(kwargs, url, headers, body, stream=stream)


def _post(kwargs: dict, url: str, headers: dict, body: dict, *, stream: bool):
    """The endpoint's response (an httpx.Response or its like from `model_http`), once its status is 2xx."""
    from litellm.llms.custom_httpx.http_handler import _get_httpx_client

    content = jsoncodec.dumps(body)
    try:
        if model_http.direct(url):
            response = model_http.post(url, headers, content, kwargs["timeout"])
        else:
            client = _get_httpx_client().client
            request = client.build_request("POST", url, content=content, headers=headers, timeout=kwargs["timeout"])
            response = client.send(request, stream=stream, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise _timeout(kwargs) from exc
    except httpx.TransportError as exc:
        raise _mapped(kwargs, 500, f"Connection error: {exc}") from exc
    if response.status_code >= 300:
        text = response.read().decode("utf-8", "replace") if stream else response.text
        response.close()
        raise _mapped(kwargs, response.status_code, text, headers=response.headers)
    return response


def _request(kwargs: dict, stream: bool) -> tuple[str, dict, dict]:
    """litellm's URL, headers and body for this call."""
    import litellm
    from litellm.types.utils import LlmProviders
    from litellm.utils import ProviderConfigManager

    model = kwargs["model"].removeprefix("openai/")
    config = ProviderConfigManager.get_provider_chat_config(model, LlmProviders.OPENAI)
    chosen = {k: kwargs[k] for k in PARAMETERS if kwargs.get(k) is not None}
    if stream:
        chosen["stream"] = True
    params = config.map_openai_params(chosen, {}, model, drop_params=litellm.drop_params)
    litellm_params = {"custom_llm_provider": "openai", "api_base": kwargs.get("api_base")}
    # As litellm.completion sends them: without fields set to None (an assistant's `content` beside its tool calls).
    messages = [_without_nones(m) for m in kwargs["messages"]]
    body = config.transform_request(model, messages, params, litellm_params, {})
    headers = config.validate_environment({}, model, messages, params, litellm_params, kwargs.get("api_key"))
    return _url(kwargs, "chat/completions"), _headers(kwargs, headers), body


def _headers(kwargs: dict, headers: dict) -> dict:
    if kwargs.get("api_key") is not None:
        headers.setdefault("Authorization", f"Bearer {kwargs['api_key']}")
    headers.setdefault("Content-Type", "application/json")
    organization = os.environ.get("OPENAI_ORGANIZATION")
    if organization and not kwargs.get("api_base"):  # the SDK sent it to OpenAI itself; to nobody else
        headers["OpenAI-Organization"] = organization
    return headers


def _url(kwargs: dict, path: str) -> str:
    import litellm

    base = kwargs.get("api_base") or litellm.api_base or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE
    return f"{base.rstrip('/')}/{path}"


def _without_nones(message):
    if isinstance(message, dict) and None in message.values():
        return {k: v for k, v in message.items() if v is not None}
    return message


def _mapped(kwargs: dict, status: int, text: str, *, headers=None) -> Exception:
    """The exception litellm.completion would raise for this HTTP failure (RateLimitError, BadRequestError,
    ContextWindowExceededError…): made by litellm's own mapping, with the endpoint's error body attached."""
    from litellm.litellm_core_utils.exception_mapping_utils import exception_type
    from litellm.llms.openai.common_utils import OpenAIError

    try:
        body = json.loads(text)
    except ValueError:
        body = None
    message = text
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message") or text
    error = OpenAIError(status, message, headers=headers, body=body if isinstance(body, dict) else None)
    try:
        exception_type(model=kwargs["model"], original_exception=error, custom_llm_provider="openai")
    except Exception as mapped:  # it raises the mapped exception
        mapped.body = getattr(mapped, "body", None) or error.body
        return mapped
    return error


def _timeout(kwargs: dict) -> Exception:
    import litellm

    return litellm.Timeout(
        message=f"the model did not answer within {kwargs['timeout']} seconds",
        model=kwargs["model"],
        llm_provider="openai",
    )
