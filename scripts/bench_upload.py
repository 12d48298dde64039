"""How fast a 25 MB upload is answered (#15 broken 1): a daphne server on DATABASE_URL's database, a signed-in
session, N uploads of a 25 MB text file to a folder of an agent; prints each answer's time. Ingestion goes on in the
background after each answer, as on the embedded default. Everything it made is deleted at the end.

    DATABASE_URL=... python scripts/bench_upload.py [N]
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ade.settings")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.actions import create_user  # noqa: E402
from accounts.models import Organization  # noqa: E402
from agents.actions import attach_folder, create_agent  # noqa: E402
from agents.pages.templates_catalog import blank_spec  # noqa: E402
from memory.folders import create_folder, embedding_config_for  # noqa: E402

LINE = b"Engram keeps what matters and forgets the rest; this line pads a large upload.\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(runs: int) -> None:
    org = Organization.objects.create(name=f"bench-upload-{uuid.uuid4().hex[:6]}")
    user = create_user(f"bench{uuid.uuid4().hex[:8]}", "correct horse battery", organization=org)
    agent = create_agent(user, blank_spec("Upload bench"))
    folder = create_folder(user, name="Bench", embedding_config=embedding_config_for("engram/scripted-embed"))
    attach_folder(user, agent.id, folder.id)
    client = Client()
    client.force_login(user)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ade.serve", "-b", "127.0.0.1", "-p", str(port), "ade.asgi:application"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        http = httpx.Client(base_url=base, cookies={"sessionid": client.cookies["sessionid"].value}, timeout=120)
        for _ in range(300):
            try:
                page = http.get(reverse("agents:workspace", args=[agent.id]))
                break
            except httpx.TransportError:
                time.sleep(0.1)
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
        data = LINE * (25_000_000 // len(LINE))
        url = reverse("agents:file_upload", args=[agent.id, folder.id])
        headers = {"X-CSRFToken": token, "HX-Request": "true", "Referer": f"{base}/"}
        for i in range(runs):
            started = time.perf_counter()
            answer = http.post(url, files={"file": (f"big{i}.txt", data, "text/plain")}, headers=headers)
            print(
                f"upload {i + 1}: {len(data) / 1e6:.1f} MB answered {answer.status_code} in "
                f"{time.perf_counter() - started:.3f} s"
            )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(Path(settings.MEDIA_ROOT) / "uploads" / str(org.id), ignore_errors=True)
        agent.delete()
        folder.delete()
        user.delete()
        org.delete()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
