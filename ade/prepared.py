"""Querysets compiled once per process and run again with new values.

Django builds and compiles a queryset's SQL anew each time it runs: for the one-row reads every request or turn
makes (the API key, the agent) that is ~0.3–0.7 ms of CPU, more than the database takes to answer. A `Prepared`
query is built once from marker strings and compiled once per process, and each run swaps the markers in its
parameters for the values and runs the SQL on the current connection.
Rows pass through the same converters Django applies, and `objects()` builds model instances like a queryset.

Only string values can be swapped in (the markers are strings), each must reach the SQL as one parameter, and the
query must not depend on anything but those values (no `now()`, no settings read while building).
"""

from django.db import connections

MARKER = "\x00prepared:{}\x00"


class Prepared:
    def __init__(self, build, *, fields: list[str] | None = None, using: str = "default"):
        """`build(*values)` returns a `values_list` queryset, or with `fields` (attnames of one model) a queryset
        whose `values_list(*fields)` gives those fields in that order."""
        self.build, self.fields, self.using = build, fields, using
        self._entry = None  # (compiler, sql, params, positions of the values)

    def _compiled(self, arity: int):
        # Once per process: a request's connection lives only as long as its thread. The compiler's converters
        # (kept for their conversions only: dates, JSON, booleans) never touch the connection they came from.
        entry = self._entry
        if entry is None:
            markers = [MARKER.format(i) for i in range(arity)]
            queryset = self.build(*markers)
            if self.fields is not None:
                queryset = queryset.values_list(*self.fields)
            compiler = queryset.query.get_compiler(using=self.using)
            sql, params = compiler.as_sql()
            params = list(params)
            if any(params.count(m) != 1 for m in markers):
                raise ValueError("each value of a prepared query must be exactly one parameter")
            entry = self._entry = (compiler, sql, params, [params.index(m) for m in markers])
        return entry

    def rows(self, *values: str) -> list[list]:
        compiler, sql, params, positions = self._compiled(len(values))
        params = list(params)
        for position, value in zip(positions, values, strict=True):
            params[position] = value
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        return list(compiler.results_iter(results=[fetched]))

    def objects(self, model, *values: str) -> list:
        """Instances of `model` (whose `fields` the query selects), as a queryset would give them."""
        return [model.from_db(self.using, self.fields, row) for row in self.rows(*values)]


def attnames(model) -> list[str]:
    """Every concrete field of `model` (attribute names), to select whole rows."""
    return [f.attname for f in model._meta.concrete_fields]
