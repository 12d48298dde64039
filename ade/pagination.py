"""Cursor pagination as Letta clients expect it: bare lists, `after`/`before` are item ids.

The SDK's auto-pager asks again with `after=<last id>` until it gets an empty page, so `after` must be honoured
strictly (an ignored cursor makes it loop forever). Items are ordered by a sort key with the id as tie-breaker,
so the order is total and a cursor always has a well-defined position.
"""

from django.db.models import F, Q, QuerySet

from .errors import Invalid

MAX_LIMIT = 1000


def paginate(
    qs: QuerySet,
    page,
    *,
    default_limit: int = 50,
    default_order: str = "desc",
    key: str = "created_at",
    sort_keys: dict[str, str] | None = None,
    first_page=None,
) -> list:
    """One page of `qs` (already scoped to what the caller may see) for the `ade.schemas.Page` params `page`.

    `sort_keys` maps the `order_by` values this list accepts to model fields; `key` is the field used otherwise.
    `first_page(key, ascending, limit)`, when given, reads a page without cursors instead of `qs` (a prepared query
    of the same rows in the same order: see `ordering`).
    """
    key = _sort_key(page, key, sort_keys)
    order = page.order or default_order
    if page.ascending is not None and page.order is None:
        order = "asc" if page.ascending else "desc"
    limit = min(page.limit or default_limit, MAX_LIMIT)
    forward = order == "asc"
    scope = qs
    if page.after:
        qs = qs.filter(_beyond(scope, page.after, "after", key, ascending=forward))
    if page.before:
        qs = qs.filter(_beyond(scope, page.before, "before", key, ascending=not forward))
    if page.before and not page.after:
        # The page nearest the cursor: walk back from it, then restore the requested order.
        return list(qs.order_by(*ordering(key, not forward))[:limit])[::-1]
    if first_page is not None and not page.after:
        return first_page(key, forward, limit)
    return list(qs.order_by(*ordering(key, forward))[:limit])


def ordering(key: str, ascending: bool) -> list:
    # Nulls (only nullable sort keys have them) count as the smallest values, on every database.
    if ascending:
        return [F(key).asc(nulls_first=True), F("pk").asc()]
    return [F(key).desc(nulls_last=True), F("pk").desc()]


def _sort_key(page, key: str, sort_keys: dict[str, str] | None) -> str:
    if page.order_by is None or page.order_by == "created_at" and not sort_keys:
        return key
    sort_keys = sort_keys or {"created_at": key}
    if page.order_by not in sort_keys:
        raise Invalid(f"order_by: this list can only be sorted by {', '.join(sorted(sort_keys))}", field="order_by")
    return sort_keys[page.order_by]


def _beyond(qs: QuerySet, cursor: str, name: str, key: str, *, ascending: bool) -> Q:
    """Items strictly past the cursor item, going up (`ascending`) or down the sort key."""
    row = qs.filter(pk=cursor).values_list(key, "pk").first()
    if row is None:
        raise Invalid(f"{name}: no item with id {cursor!r} in this list", field=name)
    value, pk = row
    op = "gt" if ascending else "lt"
    if value is None:  # among the nulls, the smallest values
        past = Q(**{f"{key}__isnull": True, f"pk__{op}": pk})
        return past | Q(**{f"{key}__isnull": False}) if ascending else past
    past = Q(**{f"{key}__{op}": value}) | Q(**{key: value, f"pk__{op}": pk})
    return past if ascending else past | Q(**{f"{key}__isnull": True})
