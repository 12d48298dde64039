"""The one NinjaAPI: Letta-compatible /v1 routes. Routers live in each app's api module.

Errors always answer JSON `{"detail": "<message>"}` (FastAPI style, what the Letta SDK reads):
domain errors with their status (404/400/409/422), request validation 422 naming the field, a missing or bad
API key 401, a malformed or oversize body 400/413, and anything unexpected a 500 without internals.
"""

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from .auth import ApiKeyAuth
from .dbretry import DATABASE_LOST, is_disconnect
from .errors import Conflict, DomainError, Invalid
from .ids import _UUID4
from .jsoncodec import dumps

log = logging.getLogger(__name__)
VERSION = "0.16.8"  # the Letta server version whose API we speak


class StrictJsonParser(Parser):
    """JSON bodies and query strings, refusing NUL characters (no database stores them)."""

    def parse_body(self, request):
        try:
            data = json.loads(request.body, parse_constant=_refuse_constant)
            _refuse_nul(data, "body")
        except RecursionError:
            raise Invalid("body: JSON nested too deeply", field="body") from None
        return data

    def parse_querydict(self, data, list_fields, request):
        for key, values in data.lists():
            _refuse_nul([key, *values], f"query.{key}")
        return super().parse_querydict(data, list_fields, request)


def _refuse_constant(name: str):
    # Python's json reads NaN and Infinity, which are not JSON and no database or client stores faithfully.
    raise Invalid(f"body: {name} is not a JSON number (non-finite numbers are refused)", field="body")


def _refuse_nul(value, where: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise Invalid(f"{where}: text must not contain NUL (\\u0000) characters", field=where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, where)
            _refuse_nul(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_nul(item, f"{where}[{i}]" if where.startswith("body") else where)


class OrjsonRenderer(JSONRenderer):
    """ninja's JSON answers written by orjson (ade/jsoncodec.py), with ninja's encoder for what it converts itself
    (datetimes in Django's format, schemas, decimals…). A page of 60 messages took ~0.3 ms to write with json.
    One difference, unused: a plain Enum member is written as its value, where ninja wrote `str(member)`."""

    _convert = NinjaJSONEncoder().default

    def render(self, request, data, *, response_status):
        return dumps(data, self._convert, datetimes_by_default=True)


ERROR_RESPONSES = {
    "400": "Bad input (the message names the field)",
    "401": "Missing or invalid API key",
    "403": "Your role in the organization (or a read-only key) does not allow this",
    "404": "No such object in your organization",
    "409": "Conflict: a stale version, a pending approval, or nothing to cancel",
    "413": "Request body or file too large",
    "422": "Request validation failed (the message names the field)",
}


class EngramApi(NinjaAPI):
    """The NinjaAPI whose OpenAPI document also lists the error answers every operation can give."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
            "type": "object",
            "required": ["detail"],
            "title": "Error",
            "properties": {"detail": {"type": "string", "title": "Detail"}},
        }
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                codes = {k: v for k, v in ERROR_RESPONSES.items() if k not in ("401", "403") or path != "/v1/health/"}
                for code, text in codes.items():
                    operation["responses"].setdefault(code, {"description": text, **error})
        return schema


api = EngramApi(
    title="Engram API",
    version=VERSION,
    description="Letta-compatible REST API of the Engram agent development environment. "
    "Authenticate with `Authorization: Bearer <API key>`.",
    urls_namespace="v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=ApiKeyAuth(),
    parser=StrictJsonParser(),
    renderer=OrjsonRenderer(),
)


def _error(request, status: int, detail: str, **extra):
    response = api.create_response(request, {"detail": detail, **extra}, status=status)
    if status == 409 or status >= 500:
        response["x-should-retry"] = "false"  # the SDK would otherwise retry a write twice
    return response


@api.exception_handler(DomainError)
def domain_error(request, exc: DomainError):
    extra = {}
    if isinstance(exc, Conflict) and getattr(exc.current, "version", None) is not None:
        extra["current_version"] = exc.current.version
    return _error(request, exc.status, exc.message, **extra)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    errors = [_clean(e) for e in exc.errors]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors) or "Invalid request"
    extra = {"errors": errors}
    examples = [e["example"] for e in errors if "example" in e]
    if examples:
        extra["examples"] = examples
    return _error(request, 422, detail, **extra)


def _clean(error: dict) -> dict:
    """A pydantic error as plain JSON, its location without our Python parameter names."""
    loc = [str(part) for part in error.get("loc", [])]
    if len(loc) > 2 and loc[0] == "body" and loc[1] in ("payload", "body"):
        loc = [loc[0], *loc[2:]]
    clean = {"loc": loc, "msg": error.get("msg", "invalid"), "type": error.get("type", "value_error")}
    pattern = (error.get("ctx") or {}).get("pattern", "")
    if loc[:1] == ["path"] and pattern.endswith(f"{_UUID4}$"):
        clean["example"] = f"{pattern[1 : -len(_UUID4) - 1]}123e4567-e89b-42d3-8456-426614174000"
        clean["msg"] = f"malformed id, expected the form {clean['example']}"
    return clean


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    cause = exc.__cause__
    if isinstance(cause, RequestDataTooBig):
        return body_too_big(request, cause)
    if isinstance(cause, DomainError):
        return domain_error(request, cause)
    if isinstance(cause, ValueError):  # json.JSONDecodeError, UnicodeDecodeError
        return _error(request, 400, f"Malformed JSON body: {cause}")
    if isinstance(exc, AuthenticationError):
        return _error(request, 401, "Unauthorized: send a valid API key as `Authorization: Bearer <key>`")
    return _error(request, exc.status_code, exc.message)


@api.exception_handler(RequestDataTooBig)
def body_too_big(request, exc):
    from django.conf import settings

    return _error(request, 413, f"Request body too large (limit {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)")


@api.exception_handler(MultiPartParserError)
def bad_multipart(request, exc):
    return _error(request, 400, f"Malformed multipart body: {exc}")


@api.exception_handler(RecursionError)
def too_deep(request, exc):
    return _error(request, 400, "The request holds data nested too deeply")


@api.exception_handler(Http404)
def not_found(request, exc):
    return _error(request, 404, "Not Found")


@api.exception_handler(OverflowError)
@api.exception_handler(DataError)
def data_error(request, exc):
    # Backstop: the schemas bound sizes and types; a value the database still refuses is bad input.
    log.warning("database refused a value: %s", exc)
    return _error(request, 400, "A value is out of range or too long for its field")


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_lost(request, exc):
    if not is_disconnect(exc):
        return unexpected(request, exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    return api.create_response(request, {"detail": DATABASE_LOST}, status=503)  # the SDK may retry this one


@api.exception_handler(Exception)
def unexpected(request, exc):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _error(request, 500, "An unknown error occurred")


for _router in (
    "memory.api.router",
    "agents.api.agents.router",
    "agents.api.relations.router",
    "agents.api.search.router",  # before messages: "/messages/search" is not a message id
    "agents.api.messages.router",
    "agents.api.conversations.router",
    "tools.mcp_api.legacy",
    "tools.api.router",
    "tools.mcp_api.router",
    "memory.archives_api.router",
    "agents.api.identities.router",
    "agents.api.steps.router",
    "agents.api.providers.router",
    "accounts.api.router",
    "agents.api.windows.router",
    "evals.api.router",
):
    api.add_router("", _router)


@api.get("/health/", auth=None, tags=["health"], operation_id="check_health")
def health(request):
    return {"status": "ok", "version": VERSION}


@api.get("/health", auth=None, include_in_schema=False)
def health_no_slash(request):
    return health(request)


@api.get("/ready/", auth=None, tags=["health"], operation_id="check_ready")
def ready(request):
    return {"status": "ok", "version": VERSION}


@csrf_exempt
def unknown_route(request):
    return JsonResponse({"detail": f"Not Found: no route {request.method} {request.path}"}, status=404)
