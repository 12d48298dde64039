"""`conversation_search` by meaning: message embeddings, made when a search first needs them.

A turn never embeds its messages (that would put an embedding call on every turn). A search embeds the newest
messages of its scope that have no vector for the agent's embedding model yet, at most EMBED_PER_SEARCH of them;
older ones are embedded by later searches and are meanwhile still found by the word ranking. Vectors are kept in
`RecallVector`, one per message and model, so a change of the agent's embedding model re-embeds as it goes.
"""

import logging

from .embeddings import EmbeddingError, embed, model_name
from .models import RecallVector

log = logging.getLogger(__name__)

EMBED_PER_SEARCH = 128  # MiniLM in the server embeds ~60 texts a second; a provider takes them in one call
VECTOR_HITS = 50  # candidates the meaning ranking hands to the fusion


def rank_by_meaning(agent, scope, query: str, text_of) -> list:
    """Messages of `scope` (a queryset with the role and date filters applied) nearest in meaning to `query`,
    best first; [] when the agent has no embedding model or its embedder fails (the word ranking still answers).
    `text_of(message)` is the text a message is searched by ("" for a message that is never a result)."""
    config = agent.embedding_config or None
    if not config:
        return []
    try:
        embed_missing(agent, scope, text_of)
        wanted = embed([query], config)[0]
    except EmbeddingError as exc:
        log.warning("conversation_search of agent %s ranks by words only: %s", agent.id, exc)
        return []
    rows = list(
        RecallVector.objects.filter(
            message__in=scope.order_by().values("id"), embedding_model=model_name(config)
        ).values_list("message_id", "embedding")
    )
    rows = [(i, v) for i, v in rows if v is not None and v.shape == wanted.shape]
    if not rows:
        return []
    import numpy as np  # not at start-up (~40 ms); embed() above has loaded it

    scores = np.stack([v for _, v in rows]) @ wanted  # rows and query are unit length: cosine similarity
    top = [rows[i][0] for i in np.argsort(-scores, kind="stable")[:VECTOR_HITS] if scores[i] > 0]
    by_id = scope.model.objects.in_bulk(top)
    return [by_id[i] for i in top if i in by_id]


def embed_missing(agent, scope, text_of, limit: int = EMBED_PER_SEARCH) -> int:
    """Embed the newest `limit` messages of `scope` without a vector of the agent's model; how many it did."""
    import numpy as np

    config, model = agent.embedding_config, model_name(agent.embedding_config)
    missing = list(scope.exclude(recall_vector__embedding_model=model).order_by("-seq")[:limit])
    if not missing:
        return 0
    texts = [text_of(m) for m in missing]
    searchable = [i for i, t in enumerate(texts) if t.strip()]
    vectors = embed([texts[i] for i in searchable], config) if searchable else np.zeros((0, 1), np.float32)
    dim = vectors.shape[1] if len(searchable) else 1
    rows = np.zeros((len(missing), dim), np.float32)  # a zero vector marks a message that is never a result
    rows[searchable] = vectors
    RecallVector.objects.bulk_create(
        [
            RecallVector(message_id=m.id, agent_id=agent.id, embedding=row, embedding_model=model)
            for m, row in zip(missing, rows, strict=True)
        ],
        update_conflicts=True,  # replaces another model's vector, or one a concurrent search just wrote
        unique_fields=["message"],
        update_fields=["embedding", "embedding_model"],
    )
    return len(missing)
