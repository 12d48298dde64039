"""How ninja is made to serve our API faster, with the same answers: responses read rows without template lookups
and in one pass, and schemas and operations are built on first use instead of as the URLs load. Imported by
ade/wire.py, which every API module imports before it defines a schema or an operation: the settings below apply
to classes made after them.
"""

import threading
from functools import cache

import ninja.operation as ninja_operation
from django.db.models import Model
from ninja import Schema
from ninja.constants import NOT_SET
from ninja.operation import Operation
from ninja.schema import DjangoGetter


def _miss_model_attributes_at_once() -> None:
    """ninja's DjangoGetter, asked for an attribute a row lacks, looks it up again as a template variable (dir() of
    the row, ~20 µs) before giving up; on a model instance that can only fail the same way. Our blocks and tools lack
    Letta's project/template/deployment fields, so every response with them paid it for each: half of validating an
    AgentState (GET one agent: 27 lookups). Rows now answer from the attribute alone; dicts and resolvers as before."""

    def __getattr__(self, key: str):
        obj = self._obj
        if not isinstance(obj, Model) or key in self._schema_cls._ninja_resolvers:
            return ninja_getattr(self, key)
        try:
            value = getattr(obj, key)
        except AttributeError:
            raise AttributeError(key) from None
        return self._convert_result(value)

    DjangoGetter.__getattr__ = __getattr__


ninja_getattr = DjangoGetter.__getattr__  # ninja's own, kept for the test that the answers are the same
_miss_model_attributes_at_once()


def _read_rows_and_dicts_in_one_pass() -> None:
    """ninja validates every schema (each nested row of a response too) through its DjangoGetter: pydantic then
    asks it for each field in turn, a call into Python per field (GET one agent: ~200). A row or dict is now read
    into a dict of its schema's fields at once, with ninja's own resolvers and conversions (managers and querysets
    to lists, callables called, files to URLs), which pydantic validates natively; what a row lacks gets the field's
    default as before. Schemas with aliases, and other objects, go through the getter as before. Set on ninja's
    `Schema` before our schemas are defined: pydantic binds a subclass's validators by name."""

    def _run_root_validator(cls, values, handler, info):
        if cls.model_config.get("extra") == "forbid" or cls.model_config.get("validate_assignment", False):
            handler(values)  # ninja's check of the object itself (RequestSchema replaces this validator)
        fields = _fields_to_read(cls)
        if fields is not None and (type(values) is dict or isinstance(values, Model)):
            return handler(_read(cls, values, fields, info.context))
        return handler(DjangoGetter(values, cls, info.context))

    Schema._run_root_validator = classmethod(_run_root_validator)


@cache
def _fields_to_read(cls) -> tuple | None:
    """(name, its resolver or None) for each field; None when an alias makes ninja's getter necessary."""
    if any(f.alias or f.validation_alias for f in cls.model_fields.values()):
        return None
    return tuple((name, cls._ninja_resolvers.get(name)) for name in cls.model_fields)


def _read(cls, values, fields: tuple, context) -> dict:
    """What pydantic would have asked ninja's getter for, field by field (an AttributeError: not there)."""
    convert, getter, read = DjangoGetter._convert_result, None, {}
    is_dict = type(values) is dict
    for name, resolver in fields:
        try:
            if resolver is not None:
                getter = getter or DjangoGetter(values, cls, context)
                read[name] = convert(None, resolver(getter))
            elif is_dict:
                if name in values:
                    read[name] = convert(None, values[name])
            else:
                read[name] = convert(None, getattr(values, name))
        except AttributeError:
            pass
    return read


_read_rows_and_dicts_in_one_pass()


def _build_schemas_when_first_used() -> None:
    """Registering our ~190 operations made ninja build ~570 pydantic models (our schemas, each operation's
    parameter and response models) as the URLs loaded, before a server could answer its first request. They are
    now built on first use instead (pydantic's `defer_build`, thread-safe since 2.12): the first call of an
    operation pays a few ms, and operations nobody calls cost nothing. Set on ninja's bases, which every one of
    those models derives from; only models defined after this takes effect (our modules all import ade.wire, which imports this one)."""
    from ninja.params.models import ParamModel

    bases = [Schema, ParamModel]
    while bases:
        base = bases.pop()
        base.model_config["defer_build"] = True
        bases.extend(base.__subclasses__())


_build_schemas_when_first_used()


class LazyOperation(Operation):
    """An operation whose signature and models are made on first use. Registering our ~190 operations made ninja
    inspect each view and create its parameter and response model classes before the server could answer: loading
    the URLs took 0.44-0.70 s of CPU here, now 0.14-0.23 s; an operation's first call pays ~1-2 ms for it. Everything else an operation holds (path, methods, auth, summary, tags…) is set at once by
    ninja's own code, with a stand-in view that has no parameters; the first request or OpenAPI document that asks
    for the signature or models gets them from ninja's own code too, for the real view."""

    LAZY = ("signature", "models", "response_models", "stream_format", "stream_item_model")
    _building = threading.Lock()

    def __init__(self, path: str, methods: list[str], view_func, **kwargs):
        if hasattr(view_func, "_ninja_contribute_args") or hasattr(view_func, "_ninja_contribute_to_operation"):
            super().__init__(path, methods, view_func, **kwargs)  # decorators that edit the models: at once
            return
        super().__init__("", methods, _stand_in(view_func), **{**kwargs, "response": NOT_SET})
        self.path, self.view_func, self._made_from = path, view_func, (path, methods, view_func, kwargs)
        for name in self.LAZY:
            del self.__dict__[name]

    def clone(self) -> Operation:
        """ninja binds a copy of each operation to the API (a router can be mounted twice); the copy stays unmade."""
        if "_made_from" not in self.__dict__ or self.LAZY[0] in self.__dict__:
            return super().clone()
        self.__dict__.update(dict.fromkeys(self.LAZY), response_models={})  # what ninja's clone copies, for now
        try:
            cloned = super().clone()
        finally:
            for name in self.LAZY:
                del self.__dict__[name]
        for name in self.LAZY:
            del cloned.__dict__[name]
        cloned._made_from = self._made_from
        return cloned

    def __getattr__(self, name: str):
        if name not in self.LAZY:
            raise AttributeError(name)
        with self._building:
            if name not in self.__dict__:
                path, methods, view_func, kwargs = self._made_from
                made = Operation.__new__(Operation)
                Operation.__init__(made, path, methods, view_func, **kwargs)
                self.__dict__.update({lazy: getattr(made, lazy) for lazy in self.LAZY})
        return self.__dict__[name]


def _stand_in(view_func):
    """A view with the real one's name, docstring and flags (csrf_exempt…) but no parameters: nothing to model."""

    def view(request): ...

    view.__name__, view.__qualname__ = view_func.__name__, view_func.__qualname__
    view.__module__, view.__doc__ = view_func.__module__, view_func.__doc__
    view.__dict__.update({k: v for k, v in vars(view_func).items() if k != "__wrapped__"})
    return view


ninja_operation.Operation = LazyOperation  # the class PathView.add_operation makes sync operations of
