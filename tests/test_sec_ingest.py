"""Ingestion bombs and where ingestion runs (issue 10, high 5).

A small .docx that unpacks to hundreds of MB, or a document that makes hundreds of thousands of chunks, is refused
with an error on the file before it is expanded or embedded. On the embedded default (eager Celery) ingestion runs
on a background thread, never in the request that uploaded the file; an ingestion interrupted by a restart ends as
an error that can be deleted, never "embedding" for good.
"""

import io
import time
import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from memory.ingest import INTERRUPTED, upload_file
from memory.models import File, Folder, Passage


@pytest.fixture
def folder(org):
    return Folder.objects.create(organization=org, name="notes", embedding_config={})


def docx_bomb(unpacked_mb: int) -> bytes:
    """A real .docx whose document.xml repeats one paragraph until it unpacks to `unpacked_mb` MB."""
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    paragraph = b"<w:p><w:r><w:t>" + b"boom " * 200 + b"</w:t></w:r></w:p>"
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                head, tail = data.split(b"<w:body>", 1)
                body = paragraph * (unpacked_mb * 1024 * 1024 // len(paragraph))
                data = head + b"<w:body>" + body + tail
            bomb.writestr(item, data)
    return out.getvalue()


def ingest(org, folder, name, data, capture):
    with capture(execute=True):
        file = upload_file(org, folder, name=name, data=data)
    file.refresh_from_db()
    return file


def test_a_docx_that_unpacks_past_the_limit_is_refused_before_parsing(
    org, folder, settings, django_capture_on_commit_callbacks
):
    settings.INGEST_MAX_UNPACKED_BYTES = 5 * 1024 * 1024
    data = docx_bomb(20)
    assert len(data) < 200_000  # small on the wire
    file = ingest(org, folder, "bomb.docx", data, django_capture_on_commit_callbacks)
    assert file.processing_status == "error" and "unpacks to 22 MB; the limit is 5 MB" in file.error_message, (
        file.error_message
    )
    assert not Passage.objects.filter(file=file).exists() and file.content == ""


def test_too_many_chunks_or_characters_are_refused_with_a_clear_error(
    org, folder, settings, django_capture_on_commit_callbacks
):
    text = "\n\n".join(f"Paragraph {i}. " + "words " * 300 for i in range(30)).encode()
    settings.INGEST_MAX_CHUNKS = 10
    file = ingest(org, folder, "many.txt", text, django_capture_on_commit_callbacks)
    assert file.processing_status == "error" and "the limit is 10 per file" in file.error_message
    assert not Passage.objects.filter(file=file).exists()

    settings.INGEST_MAX_CHUNKS, settings.INGEST_MAX_CHARS = 10_000, 1000
    file = ingest(org, folder, "long.md", text, django_capture_on_commit_callbacks)
    assert file.processing_status == "error" and "more than 1,000 characters" in file.error_message
    assert ingest(org, folder, "small.md", b"Just a few words.", django_capture_on_commit_callbacks).progress == 100


@pytest.mark.django_db(transaction=True)
def test_ingestion_does_not_run_in_the_request_thread(alice_api, scripted_llm, settings):
    from ade.celery import app

    settings.INGEST_INLINE = False  # as deployed on the embedded default: eager Celery, background thread
    assert app.conf.task_always_eager
    config = {"embedding_endpoint_type": "openai", "embedding_endpoint": scripted_llm.api_base,
              "embedding_model": "scripted-embed", "embedding_dim": 384}  # fmt: skip
    folder = alice_api.post("/v1/folders/", {"name": "slow", "embedding_config": config}).json()
    scripted_llm.queue({"endpoint": "embeddings", "delay_ms": 1500})  # the embedder takes its time
    r = alice_api.upload(f"/v1/folders/{folder['id']}/upload", {"file": SimpleUploadedFile("a.txt", b"Some text.")})
    assert r.status_code == 200
    assert File.objects.get(id=r.json()["id"]).processing_status != "completed"  # the request did not wait
    deadline = time.monotonic() + 30
    while File.objects.get(id=r.json()["id"]).processing_status != "completed":
        assert time.monotonic() < deadline, File.objects.get(id=r.json()["id"]).error_message
        time.sleep(0.05)
    assert Passage.objects.filter(file_id=r.json()["id"]).count() == 1


def test_an_interrupted_ingestion_ends_as_an_error_that_can_be_deleted(alice, alice_api, settings):
    folder = alice_api.post("/v1/folders/", {"name": "f"}).json()
    stuck = File.objects.create(
        organization=alice.organization, folder_id=folder["id"], file_name="stuck.pdf", processing_status="embedding"
    )
    fresh = File.objects.create(
        organization=alice.organization, folder_id=folder["id"], file_name="busy.pdf", processing_status="embedding"
    )
    old = timezone.now() - timedelta(seconds=settings.INGEST_STALE_SECONDS + 1)
    File.objects.filter(id=stuck.id).update(updated_at=old)
    files = {f["file_name"]: f for f in alice_api.get(f"/v1/folders/{folder['id']}/files").json()}
    assert files["stuck.pdf"]["processing_status"] == "error" and files["stuck.pdf"]["error_message"] == INTERRUPTED
    assert files["busy.pdf"]["processing_status"] == "embedding"  # still making progress: left alone
    r = alice_api.delete(f"/v1/folders/{folder['id']}/{stuck.id}")
    assert r.status_code in (200, 204) and not File.objects.filter(id=stuck.id).exists(), r.content
    assert fresh.id
