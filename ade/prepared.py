"""Querysets compiled once per process and run again with new values.

Django builds and compiles a queryset's SQL anew each time it runs: for the one-row reads every request or turn
makes (the API key, the agent) that is ~0.3–0.7 ms of CPU, more than the database takes to answer. A `Prepared`
query is built once from marker strings and compiled once per process, and each run swaps the markers in its
parameters for the values and runs the SQL on the current connection.
Rows pass through the same converters Django applies, and `objects()` builds model instances like a queryset.

Only string values can be swapped in (the markers are strings), each must reach the SQL as parameters (once or
more), and the query must not depend on anything but those values (no `now()`, no settings read while building).
"""

import itertools

from django.db import DatabaseError, connections
from django.db.models import Exists, prefetch_related_objects
from django.db.models.base import ModelState
from django.db.models.query import get_related_populators
from django.db.models.signals import post_init, pre_init

MARKER = "\x00prepared:{}\x00"


class Prepared:
    def __init__(self, build, *, fields: list[str] | None = None, using: str = "default"):
        """`build(*values)` returns a `values_list` queryset, or with `fields` (attnames of one model) a queryset
        whose `values_list(*fields)` gives those fields in that order."""
        self.build, self.fields, self.using = build, fields, using
        self._entry = None  # (compiler, sql, params, positions of the values, converters)
        self._populate = None  # for instances(): the model, its columns, and the select_related populators

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
            positions = [[i for i, p in enumerate(params) if p == m] for m in markers]
            inside = [p for p in params if isinstance(p, str) and "\x00prepared:" in p and p not in markers]
            if not all(positions) or inside:  # a value lost, or changed on its way (e.g. into a LIKE pattern)
                raise ValueError("each value of a prepared query must reach it as whole parameters")
            # The converters too: Django looked them up again on every run (~0.1 ms for a row of an agent).
            converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
            entry = self._entry = (compiler, sql, params, positions, converters)
        return entry

    def rows(self, *values: str) -> list:
        compiler, sql, params, positions, converters = self._compiled(len(values))
        params = list(params)
        for places, value in zip(positions, values, strict=True):
            for position in places:
                params[position] = value
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        return list(compiler.apply_converters(fetched, converters)) if converters else fetched

    def objects(self, model, *values: str) -> list:
        """Instances of `model` (whose `fields` the query selects), as a queryset would give them."""
        return [row_object(model, self.using, self.fields, row) for row in self.rows(*values)]

    def instances(self, *values: str) -> list:
        """The model instances of a plain queryset (built without `fields`), with what it select_related()s
        attached, as iterating the queryset would give them."""
        compiler = self._compiled(len(values))[0]
        if self._populate is None:  # once: which columns make which object
            info, select = compiler.klass_info, compiler.select
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            names = [column[0].target.attname for column in select[start:end]]
            self._populate = (info["model"], start, end, names, get_related_populators(info, select, self.using))
        model, start, end, names, related = self._populate
        found = []
        for row in self.rows(*values):
            obj = row_object(model, self.using, names, row[start:end])
            for populator in related:
                populator.populate(row, obj)
            found.append(obj)
        return found


class PreparedByShape:
    """A query whose SQL depends on a small shape as well as on its values (how many ids it takes; a page's size and
    order): one `Prepared` per shape, compiled on first use, at most `size` kept. `build(shape, *values)`."""

    def __init__(self, build, *, fields: list[str] | None = None, size: int = 64):
        self.build, self.fields, self.size, self.by_shape = build, fields, size, {}

    def __getitem__(self, shape) -> Prepared:
        prepared = self.by_shape.get(shape)
        if prepared is None:
            if len(self.by_shape) >= self.size:  # shapes come from clients: bounded whatever they send
                self.by_shape.clear()
            prepared = Prepared(lambda *values: self.build(shape, *values), fields=self.fields)
            self.by_shape[shape] = prepared
        return prepared


class PreparedRelations:
    """prefetch_related() for one object at a time, each relation read by a query compiled once per process.

    `lookups` are relation names of `model`, or (name, queryset) pairs for a Prefetch with its own queryset;
    "a__b" loads `a` so and then `b` on what it found through Django's own prefetch (only when there is some).
    Afterwards `obj.a.all()` answers from memory, exactly as after prefetch_related_objects([obj], ...).
    One query first tells which relations have rows (EXISTS each): only those are read (most agents have no files,
    folders, tags, group or identities: 3 queries instead of 7)."""

    def __init__(self, model, lookups):
        self.model, self.nested, queries = model, {}, {}
        for lookup in lookups:
            name, queryset = lookup if isinstance(lookup, tuple) else (lookup, None)
            head, _, rest = name.partition("__")
            self.nested.setdefault(head, [])
            if rest:
                self.nested[head].append(rest)
            if head not in queries or queryset is not None:
                queries[head] = self._related(head, queryset)
        self.first = {name: Prepared(build) for name, build in queries.items()}
        self.present = Prepared(
            lambda pk: (
                model.objects.filter(pk=pk)
                .annotate(**{f"has_{i}": Exists(build(pk)) for i, build in enumerate(queries.values())})
                .values_list(*(f"has_{i}" for i in range(len(queries))))
            )
        )

    def _related(self, name, queryset):
        def build(pk):
            manager = getattr(self.model(pk=pk), name)
            return manager.get_queryset() if queryset is None else manager._apply_rel_filters(queryset.all())

        return build

    def load(self, obj) -> None:
        cache = obj.__dict__.setdefault("_prefetched_objects_cache", {})
        present = next(iter(self.present.rows(str(obj.pk))), ())
        for (name, prepared), has_rows in itertools.zip_longest(self.first.items(), present, fillvalue=False):
            manager = getattr(obj, name)
            found = prepared.instances(str(obj.pk)) if has_rows else []
            reverse_fk = getattr(manager, "field", None) if not hasattr(manager, "prefetch_cache_name") else None
            for item in found if reverse_fk is not None else ():
                reverse_fk.set_cached_value(item, obj)  # link.agent is this object, as Django's prefetch sets it
            queryset = manager.get_queryset()
            queryset._result_cache, queryset._prefetch_done = found, True
            key = manager.prefetch_cache_name if reverse_fk is None else reverse_fk.remote_field.cache_name
            cache[key] = queryset
            if found and self.nested[name]:
                prefetch_related_objects(found, *self.nested[name])


class PreparedUpdate:
    """`UPDATE table SET <columns> WHERE <columns> = values`, its SQL built once per process: what
    `Model.objects.filter(**where).update(**changes)` does for plain equality filters, without compiling a queryset
    each time (~0.3–0.5 ms of CPU for the few UPDATEs every turn makes). Values are converted by the fields as
    Django converts them (`get_db_prep_save` for SET, `get_db_prep_value` for WHERE), None included (NULL; in
    WHERE it never matches, as SQL's `= NULL` never does). No signals, no auto_now: the same as QuerySet.update."""

    def __init__(self, model, changes: list[str], where: list[str], *, using: str = "default"):
        meta = model._meta
        self.changes, self.where = [meta.get_field(n) for n in changes], [meta.get_field(n) for n in where]
        self.model, self.using, self._sql = model, using, None

    def run(self, changes: dict, **where) -> int:
        """The number of rows changed. `changes` and `where` name exactly the fields given at construction."""
        connection = connections[self.using]
        if self._sql is None:
            quote = connection.ops.quote_name
            table = quote(self.model._meta.db_table)
            sets = ", ".join(f"{quote(f.column)} = %s" for f in self.changes)
            wheres = " AND ".join(f"{table}.{quote(f.column)} = %s" for f in self.where)
            self._sql = f"UPDATE {table} SET {sets} WHERE {wheres}"
        if len(changes) != len(self.changes) or len(where) != len(self.where):
            raise TypeError(f"{self.model.__name__}: update names other fields than it was prepared for")
        params = [f.get_db_prep_save(changes[f.name], connection) for f in self.changes]
        params += [f.get_db_prep_value(where[f.name], connection, prepared=False) for f in self.where]
        with connection.cursor() as cursor:
            cursor.execute(self._sql, params)
            return cursor.rowcount

    @classmethod
    def whole_rows(cls, model) -> "PreparedUpdate":
        """Every column but the primary key, WHERE the primary key: for `save_row`."""
        pk = model._meta.pk
        return cls(model, [f.name for f in model._meta.concrete_fields if f is not pk], [pk.name])

    def save_row(self, obj) -> None:
        """What `obj.save(force_update=True)` writes (auto_now fields set as it sets them), through an update
        built by `whole_rows`. Raises DatabaseError when the row is gone, as a forced update does."""
        changes = {f.name: f.pre_save(obj, False) for f in self.changes}
        if not self.run(changes, **{self.where[0].name: obj.pk}):
            raise DatabaseError(f"{self.model.__name__} {obj.pk}: the row to update is gone")


class PreparedInsert:
    """`INSERT INTO table (columns) VALUES (...), ...` for up to MAX_ROWS whole rows, its SQL built once per process
    and row count: what `bulk_create` (or `save(force_insert=True)`) does for rows whose every value is plain,
    without compiling an insert query each time. Each field converts its value as Django's insert does
    (`pre_save(obj, add=True)`, then `get_db_prep_save`): ids and timestamps are filled in on the objects, and a
    database-numbered key comes back through RETURNING. No signals, as bulk_create. More rows, or a value that is
    an expression, go through bulk_create itself."""

    MAX_ROWS = 16  # a new agent's tools fit; SQLite's 999 parameters still hold for our widest rows

    def __init__(self, model, *, using: str = "default"):
        self.model, self.using, self._sql = model, using, {}
        pk = model._meta.pk
        self.returning = pk if pk.db_returning else None  # an AutoField: the database numbers the row
        self.fields = [f for f in model._meta.concrete_fields if f is not self.returning]

    def run(self, objs: list) -> list:
        """Insert `objs`; return them, now saved."""
        if not objs:
            return objs
        connection = connections[self.using]
        params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in self.fields]
        plain = not any(hasattr(p, "resolve_expression") for p in params)
        can_return = self.returning is None or connection.features.can_return_rows_from_bulk_insert
        if len(objs) > self.MAX_ROWS or not plain or not can_return:
            return self.model.objects.using(self.using).bulk_create(objs, batch_size=500)
        with connection.cursor() as cursor:
            cursor.execute(self._statement(connection, len(objs)), params)
            numbers = cursor.fetchall() if self.returning is not None else ()
        for obj, number in itertools.zip_longest(objs, numbers):
            if number is not None:
                setattr(obj, self.returning.attname, number[0])
            obj._state.adding, obj._state.db = False, self.using
        return objs

    def _statement(self, connection, count: int) -> str:
        sql = self._sql.get(count)
        if sql is None:
            quote = connection.ops.quote_name
            row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
            columns = ", ".join(quote(f.column) for f in self.fields)
            returning = f" RETURNING {quote(self.returning.column)}" if self.returning is not None else ""
            values = ", ".join([row] * count)
            sql = f"INSERT INTO {quote(self.model._meta.db_table)} ({columns}) VALUES {values}{returning}"
            self._sql[count] = sql
        return sql


_INSERTS: dict = {}


def insert_rows(objs: list) -> list:
    """Insert new rows of one model (`bulk_create` / `save(force_insert=True)` for plain values) through that model's
    PreparedInsert, one per model and process. Returns the objects, now saved."""
    if not objs:
        return objs
    model = type(objs[0])
    prepared = _INSERTS.get(model) or _INSERTS.setdefault(model, PreparedInsert(model))
    return prepared.run(objs)


def row_object(model, using: str, names: list[str], values):
    """`model.from_db(using, names, values)`, without Model.__init__ when the row holds every concrete field.

    __init__ sets each field through its descriptor and sends the init signals. For a new instance that is the
    same as filling its __dict__ (a foreign key's descriptor only drops a cached object, which a new instance has
    not got), as long as no field transforms what it is set to (none of ours does) and nothing listens to the init
    signals (otherwise, and for partial rows, this is from_db). A test compares the two for each model we read.
    ~4x faster per row: 60 messages of a page, an agent's tools, a turn's rows."""
    if len(values) != len(model._meta.concrete_fields) or pre_init.receivers or post_init.receivers:
        return model.from_db(using, names, values)
    obj = model.__new__(model)
    state = obj._state = ModelState()
    state.adding, state.db = False, using
    obj.__dict__.update(zip(names, values, strict=True))
    return obj


def attnames(model) -> list[str]:
    """Every concrete field of `model` (attribute names), to select whole rows."""
    return [f.attname for f in model._meta.concrete_fields]
