"""Combining rankings: reciprocal rank fusion (each ranking adds 1 / (k + rank) to an item's score)."""

RRF_K = 60


def fuse(rankings: list[list], key) -> list[tuple[object, float, list[int | None]]]:
    """[(item, score, [rank in each ranking or None])], best first; `key(item)` identifies an item across lists.

    One ranking passes through in its own order."""
    scores, items, ranks = {}, {}, {}
    for n, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking):
            k = key(item)
            items.setdefault(k, item)
            ranks.setdefault(k, [None] * len(rankings))[n] = rank + 1
            scores[k] = scores.get(k, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(((items[k], scores[k], ranks[k]) for k in scores), key=lambda triple: -triple[1])
