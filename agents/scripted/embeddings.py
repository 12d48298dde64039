"""The scripted embedding model (`engram/scripted-embed`): deterministic hashed bag-of-words vectors, so that
search tests know which passage is nearest without a real model."""

import hashlib
import re

_EMBED_STOP = {
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "at",
    "is",
    "are",
    "was",
    "were",
    "be",
    "it",
    "that",
    "this",
    "for",
    "with",
    "as",
    "by",
    "my",
    "your",
    "i",
    "you",
    "we",
    "me",
    "do",
    "did",
}


def _features(text: str):
    """Hashed features: content words (weight 1) and their character trigrams (weight 0.5)."""
    for word in re.findall(r"\w+", text.lower()):
        if word in _EMBED_STOP:
            continue
        stem = word[:-1] if len(word) > 3 and word.endswith("s") else word
        yield "w:" + stem, 1.0
        padded = f"#{stem}#"
        for i in range(len(padded) - 2):
            yield "t:" + padded[i : i + 3], 0.5


def embed_text(text: str, dimensions: int = 384) -> list[float]:
    """A deterministic, L2-normalised bag-of-words vector: texts sharing words are close in cosine distance."""
    vec = [0.0] * dimensions
    for feature, weight in _features(text):
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vec[index] += weight if digest[4] & 1 else -weight
    norm = sum(v * v for v in vec) ** 0.5
    if norm == 0:  # no features (empty text): a fixed unit vector, still valid for cosine search
        vec[0], norm = 1.0, 1.0
    return [v / norm for v in vec]
