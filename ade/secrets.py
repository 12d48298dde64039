"""Secrets stored at rest (provider keys, MCP auth tokens and headers, tool secrets): encrypted with a key derived
from SECRET_KEY, and masked whenever they are shown.

`encrypt(text) -> token`, `decrypt(token) -> text`, and the dict forms for header/env maps. A token that no longer
decrypts (SECRET_KEY changed) raises `SecretUnreadable`: the owner must re-enter it. `mask(text)` keeps the last
four characters of a long value only, so people can tell keys apart without reading them.
"""

import base64
import hashlib
import json
import logging

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

from ade.errors import DomainError

log = logging.getLogger(__name__)


class SecretUnreadable(DomainError):
    status = 409

    def __init__(self, what: str = "A stored secret"):
        super().__init__(f"{what} can no longer be decrypted (the server's SECRET_KEY changed); enter it again")


def _fernet() -> Fernet:
    # A separate derivation, so the session-signing key itself never serves as the encryption key.
    digest = hashlib.sha256(b"engram-secrets:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str, what: str = "A stored secret") -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable(what) from exc


def encrypt_map(values: dict[str, str] | None) -> str:
    return encrypt(json.dumps(values or {})) if values else ""


def decrypt_map(token: str, what: str = "Stored secrets") -> dict[str, str]:
    return json.loads(decrypt(token, what)) if token else {}


def mask(text: str | None) -> str | None:
    """`sk-…` → `****abcd` (values of 12+ characters keep their last 4; shorter ones are fully hidden)."""
    if text is None:
        return None
    return "****" + text[-4:] if len(text) >= 12 else "****"


def mask_map(values: dict[str, str] | None) -> dict[str, str] | None:
    return None if values is None else {k: mask(v) for k, v in values.items()}


class EncryptedMapField(models.TextField):
    """A {name: value} map of secrets, encrypted in its column (a Fernet token; "" when empty) and a dict in Python.

    Reads a plain JSON object too (values stored before the column was encrypted) until the row is saved again. A
    token that no longer decrypts (SECRET_KEY changed) reads as {} with a warning: the agent still loads, and its
    owner enters the secrets again."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return self.to_python(value)

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        if value.lstrip().startswith("{"):
            return json.loads(value)
        try:
            return decrypt_map(value)
        except SecretUnreadable:
            log.warning("stored secrets can no longer be decrypted (SECRET_KEY changed); they read as empty")
            return {}

    def get_prep_value(self, value):
        return encrypt_map(value if isinstance(value, dict) else self.to_python(value))

    def value_to_string(self, obj):
        return ""  # serialisers (dumpdata) never see the values
