"""Secrets stored at rest (provider keys, MCP auth tokens and headers, tool secrets): encrypted with a key derived
from SECRET_KEY, and masked whenever they are shown.

`encrypt(text) -> token`, `decrypt(token) -> text`, and the dict forms for header/env maps. A token that no longer
decrypts (SECRET_KEY changed) raises `SecretUnreadable`: the owner must re-enter it. `mask(text)` keeps the last
four characters of a long value only, so people can tell keys apart without reading them.
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from ade.errors import DomainError


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
