"""Hardening settings: off for the local default (plain http://127.0.0.1), on for a public instance (HTTPS=1, set
by docker-compose.yml)."""

import json
import os
import subprocess
import sys

from django.conf import settings

NAMES = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_AGE",
         "ALLOWED_MODEL_HOSTS"]  # fmt: skip


def settings_with(**env) -> dict:
    code = f"import json; from ade import settings as s; print(json.dumps({{n: getattr(s, n) for n in {NAMES!r}}}))"
    base = {
        k: v for k, v in os.environ.items() if k not in ("HTTPS", "ALLOWED_MODEL_HOSTS", "DATABASE_URL", "REDIS_URL")
    }
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                         cwd=settings.BASE_DIR, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_local_default_is_plain_http_and_allows_loopback_models():
    local = settings_with()
    assert not local["SESSION_COOKIE_SECURE"] and not local["CSRF_COOKIE_SECURE"] and local["SECURE_HSTS_SECONDS"] == 0
    assert local["ALLOWED_MODEL_HOSTS"] == ["127.0.0.0/8", "::1"]


def test_public_instance_settings():
    public = settings_with(HTTPS="1", DATABASE_URL="postgresql://u:p@db:5432/engram", REDIS_URL="redis://r:6379/0")
    assert public["SESSION_COOKIE_SECURE"] and public["CSRF_COOKIE_SECURE"]
    assert public["SECURE_HSTS_SECONDS"] >= 31_536_000 and public["SESSION_COOKIE_AGE"] <= 8 * 3600
    assert public["ALLOWED_MODEL_HOSTS"] == []  # no internal model hosts unless the operator lists them


def test_compose_turns_hardening_on():
    compose = (settings.BASE_DIR / "docker-compose.yml").read_text()
    assert "HTTPS: ${HTTPS:-1}" in compose and "ALLOWED_MODEL_HOSTS: ${ALLOWED_MODEL_HOSTS:-}" in compose


def test_every_user_can_change_their_password(alice, bob):
    from django.test import Client

    other_session = Client()
    other_session.force_login(alice)
    client = Client()
    client.force_login(alice)
    page = client.get("/account/password/")
    assert page.status_code == 200 and 'name="new_password1"' in page.content.decode()
    assert "/account/password/" in client.get("/account/api-keys/").content.decode()  # linked from the menu
    r = client.post("/account/password/", {"old_password": "wrong", "new_password1": "x", "new_password2": "x"})
    assert r.status_code == 200 and "has-error" in r.content.decode()
    new = "a completely new passphrase 7"
    r = client.post("/account/password/", {"old_password": "correct horse battery", "new_password1": new,
                                           "new_password2": new})  # fmt: skip
    assert r.status_code == 302 and r["Location"].endswith("?done=1")
    alice.refresh_from_db()
    assert alice.check_password(new)
    assert client.get("/account/password/?done=1").status_code == 200  # this session stays signed in
    assert other_session.get("/account/password/").status_code == 302  # the other one ended


def test_pages_send_a_content_security_policy_their_scripts_satisfy(alice):
    import re

    from django.test import Client

    client = Client()
    client.force_login(alice)
    r = client.get("/")
    policy = r["Content-Security-Policy"]
    assert (
        "script-src 'self' 'nonce-" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    )
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    html = r.content.decode()
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline), inline
    templates = settings.BASE_DIR / "templates"
    handlers = [p for p in templates.rglob("*.html") if re.search(r"\son[a-z]+=[\"']", p.read_text())]
    assert handlers == [], handlers  # inline event handlers would be blocked
