"""Letta wire conventions shared by every app's API router: path ids, list parameters, request bodies that refuse
unknown fields, deletions that answer JSON, collection routes that work with and without the trailing slash."""

import types
import typing
from datetime import date, datetime
from functools import cache
from typing import Annotated, Literal

from ninja import Field, Path, Schema
from pydantic import BaseModel, ConfigDict, model_validator

from . import ninja_tuning  # noqa: F401  (before any schema or operation is defined)
from .errors import Invalid
from .ids import _UUID4


def id_path(prefix: str, example: str = "123e4567-e89b-42d3-8456-426614174000"):
    """A path parameter holding a `<prefix>-<uuid4>` id; anything else is refused with 422, as Letta does."""
    return Annotated[str, Path(pattern=f"^{prefix}-{_UUID4}$", examples=[f"{prefix}-{example}"])]


AgentId = id_path("agent")
BlockId = id_path("block")
ToolId = id_path("tool")
RunId = id_path("run")
MessageId = id_path("message")
PassageId = id_path("passage")
FolderId = id_path("source")
FileId = id_path("file")


class StrictScalars(BaseModel):
    """No lax coercion between JSON kinds: `true` is not the number 1, `0` is not false, and a number is not a
    date-time (pydantic would read -2438 as 1969-12-31T23:19:22). Refused with 422 naming the field."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_lax_scalars(cls, data):
        if isinstance(data, dict):
            for key, kinds in _scalar_fields(cls):
                if key in data:
                    problem = _lax(kinds, data[key])
                    if problem:
                        raise ValueError(f"{key} must be {problem} (got {data[key]!r})")
        return data


_SCALARS = {int, float, bool, datetime, date}


@cache
def _scalar_fields(cls) -> tuple[tuple[str, set], ...]:
    """(wire name, accepted plain types) of the fields of `cls` that a lax coercion could reach, worked out once
    per class: reading the annotations on every validation was ~10 % of validating an agent's request and reply."""
    fields = ((field.alias or name, _kinds(field.annotation)) for name, field in cls.model_fields.items())
    return tuple((key, kinds) for key, kinds in fields if kinds & _SCALARS)


def _kinds(annotation) -> set:
    """The plain types an annotation accepts (through Optional, unions and Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_kinds(arg) for arg in typing.get_args(annotation)))
    return {annotation}


def _lax(kinds: set, value) -> str:
    numeric = bool(kinds & {int, float})
    if isinstance(value, bool):
        return "a number" if numeric and bool not in kinds else ""
    if isinstance(value, int | float):
        if bool in kinds and not numeric:
            return "true or false"
        if kinds & {datetime, date} and not numeric:
            return "an ISO 8601 date-time string"
    return ""


class RequestSchema(Schema, StrictScalars):
    """A request body: fields a client may send; anything else is refused with 422 naming the field."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(cls, values, handler, info):
        """Replaces ninja's: that one wraps the input in its getter for ORM rows (a body is JSON) and, on a schema
        that forbids extra fields, validates it all once more before, at every level: an agent's two blocks were
        validated 8 times."""
        return handler(values)


class Page(Schema):
    """Cursor pagination (see ade.pagination): ids of neighbours, page size, direction."""

    after: str | None = Field(None, max_length=100, description="Return items after this id, in the requested order.")
    before: str | None = Field(None, max_length=100, description="Return items before this id, in the requested order.")
    limit: int | None = Field(None, ge=1, description="Page size (at most 1000).")
    order: Literal["asc", "desc"] | None = Field(None, description="Sort direction; the default depends on the list.")
    order_by: Literal["created_at", "updated_at", "last_run_completion"] | None = None
    ascending: bool | None = Field(None, description="Deprecated spelling of order.")


class Deleted(Schema):
    message: str


def collection_route(router, method: str, path: str, **kwargs):
    """Register `path` (ending in "/") and, hidden from the schema, the same path without the slash.

    Django would otherwise redirect the slashless spelling, which turns a POST into a GET.
    """

    def register(view):
        getattr(router, method)(path, **kwargs)(view)
        hidden = {k: v for k, v in kwargs.items() if k != "operation_id"}
        getattr(router, method)(path.rstrip("/"), include_in_schema=False, **hidden)(view)
        return view

    return register


def expected_version(request, body_version: int | None) -> int | None:
    """The version a client says it edited: `"version": n` in the body, or an `If-Match: "n"` header.

    Writes with it are refused (409) when the row has changed since; without it they apply to the current row.
    """
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return body_version
    try:
        from_header = int(header.removeprefix("W/").strip('"'))
    except ValueError:
        raise Invalid('If-Match must be a version number, e.g. If-Match: "3"', field="If-Match") from None
    if body_version is not None and body_version != from_header:
        raise Invalid("version and If-Match disagree", field="version")
    return from_header


def check_upload_size(upload) -> None:
    """Refuse an uploaded file over settings.MAX_UPLOAD_BYTES (413, naming the `file` field)."""
    from django.conf import settings

    from .errors import PayloadTooLarge

    if upload.size > settings.MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"file: too large ({upload.size} bytes; the limit is {settings.MAX_UPLOAD_BYTES})")
