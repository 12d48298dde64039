"""Embeddings: the offline MiniLM in numpy, and providers through litellm (the scripted model over HTTP)."""

import numpy as np
import pytest

from memory.embeddings import LOCAL_HANDLE, EmbeddingError, embed, model_name

LOCAL = {
    "embedding_endpoint_type": "hugging-face",
    "embedding_model": "all-minilm-l6-v2",
    "embedding_dim": 384,
    "embedding_endpoint": None,
    "handle": LOCAL_HANDLE,
}


def cos(a, b) -> float:
    return float(np.dot(a, b))  # rows are unit length


def test_minilm_puts_similar_sentences_closer_than_unrelated_ones():
    cat, kitten, revenue, weather = embed(
        [
            "The cat sits on the mat.",
            "A kitten is resting on a rug.",
            "Quarterly revenue grew by ten percent.",
            "Heavy rain is expected tomorrow afternoon.",
        ],
        LOCAL,
    )
    assert cos(cat, kitten) > 0.5
    assert cos(cat, kitten) > cos(cat, revenue) + 0.3
    assert cos(cat, kitten) > cos(cat, weather) + 0.3


def test_minilm_rows_are_384_unit_float32_and_deterministic():
    texts = ["short", "a considerably longer sentence that needs several more tokens to encode", ""]
    first = embed(texts, LOCAL)
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, embed(texts, LOCAL))
    # A text's vector does not depend on what it was batched (and padded) with.
    alone = embed([texts[0]], LOCAL)[0]
    assert np.allclose(alone, first[0], atol=1e-5)
    assert embed([], LOCAL).shape == (0, 384)


def test_an_empty_config_means_the_local_model():
    assert model_name({}) == model_name(LOCAL) == LOCAL_HANDLE
    assert np.allclose(embed(["hello there"], {}), embed(["hello there"], LOCAL))


def test_long_text_is_truncated_not_refused():
    vec = embed(["word " * 2000], LOCAL)
    assert vec.shape == (1, 384) and np.isfinite(vec).all()


def test_provider_embeddings_go_through_litellm_to_the_server(scripted_llm):
    from agents.runtime.providers import resolve_embedding

    config = resolve_embedding("engram/scripted-embed")
    assert model_name(config) == "engram/scripted-embed"
    vectors = embed(["apples and pears", "pears and apples", "tax forms due"], config)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    [request] = scripted_llm.requests("embeddings")
    assert request["input"] == ["apples and pears", "pears and apples", "tax forms due"]
    assert request["model"] == "scripted-embed"


def test_provider_batches_follow_the_config(scripted_llm):
    from agents.runtime.providers import resolve_embedding

    config = {**resolve_embedding("engram/scripted-embed"), "batch_size": 2}
    assert embed(["a", "b", "c", "d", "e"], config).shape == (5, 384)
    assert [len(r["input"]) for r in scripted_llm.requests("embeddings")] == [2, 2, 1]


def test_a_failing_provider_raises_one_readable_error(scripted_llm):
    from agents.runtime.providers import resolve_embedding

    scripted_llm.queue({"endpoint": "embeddings", "error": {"status": 400, "message": "bad input here"}, "repeat": 5})
    with pytest.raises(EmbeddingError, match="embedding request to openai/scripted-embed failed: .*bad input here"):
        embed(["x"], resolve_embedding("engram/scripted-embed"))
