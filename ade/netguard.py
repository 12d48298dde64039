"""Outbound URLs chosen by a tenant (a model endpoint, an embedding endpoint, an MCP server): may we call them?

A URL whose host resolves to a private, loopback, link-local or otherwise internal address is refused unless the
operator allowed it in `ALLOWED_MODEL_HOSTS` (comma-separated host names, addresses or CIDR networks). The embedded
default allows loopback, so a local Ollama or vLLM works on a laptop; the compose deployment allows nothing. Every
address the host resolves to is checked: one public and one internal address is still refused.

What this does not stop: DNS that answers differently between this check and the connection (rebinding). The call
sites check right before they connect, which narrows the window; it does not close it.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from ade.errors import Invalid


def allowed_hosts() -> tuple[set[str], list]:
    """(host names, networks) the operator allowed."""
    names, networks = set(), []
    for entry in settings.ALLOWED_MODEL_HOSTS:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return names, networks


def _internal(address) -> bool:
    if address.version == 6 and address.ipv4_mapped:  # ::ffff:127.0.0.1 reaches 127.0.0.1
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check_outbound_url(url, *, field: str) -> None:
    """Raise Invalid (naming `field`) unless `url` is an http(s) URL whose host resolves only to public addresses
    or to ones the operator allowed."""
    if not isinstance(url, str) or not url.strip():
        raise Invalid(f"{field} must be an http(s) URL", field=field)
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Invalid(f"{field} is not a valid URL", field=field) from None
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise Invalid(f"{field} must be an http(s) URL with a host (got {url[:200]!r})", field=field)
    names, networks = allowed_hosts()
    if host in names:
        return
    for address in _resolve(host, port, field):
        if _internal(address) and not any(address in net or _mapped(address) in net for net in networks):
            raise Invalid(
                f"{field}: {host} resolves to {address}, an internal address. Outbound calls to private, loopback "
                "and link-local addresses are refused unless the operator lists them in ALLOWED_MODEL_HOSTS",
                field=field,
            )


def _mapped(address):
    return address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address


def _resolve(host: str, port: int, field: str) -> list:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        raise Invalid(f"{field}: the host {host!r} could not be resolved", field=field) from None
    # An IPv6 address may carry a zone ("fe80::1%eth0"); the address before it decides.
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def provider_error_message(exc: BaseException) -> str:
    """What may be shown of a failed call to an endpoint a tenant chose: the kind of failure, its HTTP status, and
    the `error.message` of an OpenAI-style JSON error, never the raw response (which may be an internal page)."""
    status = getattr(exc, "status_code", None)
    text = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        body = getattr(cause, "body", None)
        error = body.get("error", body) if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return f"{text}: {error['message'][:300]}"
        cause = cause.__cause__ or cause.__context__
    return text
