"""File ingestion: upload → parse → chunk → embed → passages, with progress on the file and no orphans on failure.

The embedded tests run the Celery task inline; the `services` ones hand it to real worker processes.
"""

import io

import pytest

from ade.events import folder_group
from memory.embeddings import embed, model_name
from memory.ingest import chunk_text, upload_file
from memory.models import File, Folder, Passage
from memory.queries import search_passages
from tests.events import GroupListener
from tests.pdfgen import make_pdf

MARKDOWN = """# Field notes

The penguin colony on the eastern shore moved two kilometres south after the storm in March.

## Supplies

We ordered forty litres of diesel for the generator and a spare satellite modem.
"""


@pytest.fixture
def folder(org):
    return Folder.objects.create(organization=org, name="notes", embedding_config={})


def search(folder, query, k=3):
    vector = embed([query], folder.embedding_config)[0]
    hits = search_passages(
        Passage.objects.filter(folder=folder), vector, top_k=k, embedding_model=model_name(folder.embedding_config)
    )
    return [p.text for p, _ in hits]


def finished(events, file_id):
    return any(e.get("file_id") == file_id and e["status"] in ("completed", "error") for e in events)


def upload(org, folder, name, data, capture):
    with capture(execute=True):
        return upload_file(org, folder, name=name, data=data)


def test_markdown_is_chunked_embedded_and_searchable_with_progress(org, folder, django_capture_on_commit_callbacks):
    listener = GroupListener(folder_group(folder.id))
    file = upload(org, folder, "notes.md", MARKDOWN.encode(), django_capture_on_commit_callbacks)
    file.refresh_from_db()
    assert (file.processing_status, file.progress, file.error_message) == ("completed", 100, "")
    assert file.total_chunks == file.chunks_embedded == Passage.objects.filter(file=file).count() >= 1
    assert "penguin colony" in file.content
    events = listener.collect(lambda ev: finished(ev, file.id), timeout=5)
    statuses = [(e["status"], e["progress"]) for e in events]
    assert statuses[0] == ("parsing", 0) and statuses[-1] == ("completed", 100)
    assert [p for _, p in statuses] == sorted(p for _, p in statuses)  # progress only moves forward
    assert "diesel" in search(folder, "fuel for the generator")[0]


def test_pdf_pages_become_passages(org, folder, django_capture_on_commit_callbacks):
    pdf = make_pdf(
        [
            ["Quarterly report (draft)", "Revenue grew by 12 percent in the north."],
            ["Appendix: the lighthouse keeper retired in June."],
        ]
    )
    file = upload(org, folder, "report.pdf", pdf, django_capture_on_commit_callbacks)
    file.refresh_from_db()
    assert file.processing_status == "completed", file.error_message
    assert "lighthouse keeper retired" in file.content and "Revenue grew" in file.content
    assert "lighthouse" in search(folder, "who retired from the lighthouse?")[0]


def test_docx_and_html_are_parsed(org, folder, django_capture_on_commit_callbacks):
    import docx

    document = docx.Document()
    document.add_paragraph("Minutes of the garden committee.")
    document.add_paragraph("Tomatoes will be planted along the south wall.")
    buffer = io.BytesIO()
    document.save(buffer)
    doc_file = upload(org, folder, "minutes.docx", buffer.getvalue(), django_capture_on_commit_callbacks)
    page = b"<html><head><style>p{}</style><script>track()</script></head><body><h1>Menu</h1><p>Soup &amp; bread</p>"
    html_file = upload(org, folder, "menu.html", page, django_capture_on_commit_callbacks)
    doc_file.refresh_from_db()
    html_file.refresh_from_db()
    assert doc_file.processing_status == html_file.processing_status == "completed"
    assert "Tomatoes will be planted" in doc_file.content
    assert html_file.content == "Menu\n\nSoup & bread"  # no markup, no script, no style


def test_corrupt_pdf_is_an_error_on_the_file_with_no_passages(org, folder, django_capture_on_commit_callbacks):
    listener = GroupListener(folder_group(folder.id))
    file = upload(org, folder, "broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", django_capture_on_commit_callbacks)
    file.refresh_from_db()
    assert file.processing_status == "error"
    assert "PDF could not be read" in file.error_message
    assert not Passage.objects.filter(file=file).exists()
    error = listener.collect(lambda ev: finished(ev, file.id), timeout=5)[-1]
    assert error["status"] == "error" and "PDF" in error["error"]


def test_unsupported_and_oversized_files_are_refused_on_the_file_and_not_stored(org, folder, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.MAX_UPLOAD_BYTES = 1000
    exe = upload_file(org, folder, name="tool.exe", data=b"MZ\x90\x00")
    big = upload_file(org, folder, name="big.txt", data=b"x" * 1001)
    for file, reason in ((exe, "Unsupported file type .exe"), (big, "File too large")):
        file.refresh_from_db()
        assert file.processing_status == "error" and reason in file.error_message
        assert file.file_path == ""
    assert not (tmp_path / "uploads").exists()


def test_embedding_failure_midway_leaves_no_orphan_passages(org, scripted_llm, django_capture_on_commit_callbacks):
    config = {
        "embedding_endpoint_type": "openai",
        "embedding_endpoint": scripted_llm.api_base,
        "embedding_model": "scripted-embed",
        "embedding_dim": 384,
        "embedding_chunk_size": 50,
    }
    folder = Folder.objects.create(organization=org, name="long", embedding_config=config)
    text = "\n\n".join(f"Paragraph {i} talks about topic number {i} at some length." for i in range(200))
    assert len(chunk_text(text, 200)) > 64  # more than one embedding batch
    scripted_llm.queue(
        {"endpoint": "embeddings", "usage": {"prompt_tokens": 1}},  # first batch: normal answer
        {"endpoint": "embeddings", "error": {"status": 400, "message": "quota exhausted"}},
    )
    file = upload(org, folder, "long.txt", text.encode(), django_capture_on_commit_callbacks)
    file.refresh_from_db()
    assert file.processing_status == "error" and "quota exhausted" in file.error_message
    assert file.chunks_embedded == 64 and file.progress > 10  # it got part of the way
    assert not Passage.objects.filter(file=file).exists()


def test_duplicate_names_get_a_suffix_or_replace(org, folder, django_capture_on_commit_callbacks):
    first = upload(org, folder, "a.txt", b"alpha", django_capture_on_commit_callbacks)
    second = upload(org, folder, "a.txt", b"beta", django_capture_on_commit_callbacks)
    assert second.file_name == "a (1).txt"
    with django_capture_on_commit_callbacks(execute=True):
        third = upload_file(org, folder, name="a.txt", data=b"gamma", duplicate_handling="replace")
    assert not File.objects.filter(id=first.id).exists()
    assert sorted(Passage.objects.filter(folder=folder).values_list("text", flat=True)) == ["beta", "gamma"]
    assert third.file_name == "a.txt"


def test_chunker_keeps_order_and_respects_the_size():
    text = "Intro line.\n\n" + " ".join(f"Sentence {i} is here." for i in range(100)) + "\n\nOutro."
    chunks = chunk_text(text, 120)
    assert all(len(c) <= 120 for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_worker_ingests_pdf_and_markdown_with_live_progress(org, celery_workers):
    folder = Folder.objects.create(organization=org, name="shared", embedding_config={})
    listener = GroupListener(folder_group(folder.id))
    pdf = make_pdf([["Maintenance log", "The north pump was replaced on Tuesday."]])
    files = [
        upload_file(org, folder, name="log.pdf", data=pdf),
        upload_file(org, folder, name="notes.md", data=MARKDOWN.encode()),
    ]
    events = listener.collect(lambda ev: all(finished(ev, f.id) for f in files), timeout=60)
    for file in files:
        file.refresh_from_db()
        assert file.processing_status == "completed", (file.error_message, celery_workers.logs())
        mine = [e for e in events if e["file_id"] == file.id]
        assert mine[0]["status"] == "parsing" and mine[-1]["status"] == "completed"
        assert any(e["status"] == "embedding" for e in mine)
    assert "memory.ingest_file" in celery_workers.logs(tail=None)  # the workers did it, not this process
    assert "pump was replaced" in search(folder, "which pump was swapped out?", k=1)[0]
    assert "penguin" in search(folder, "where did the birds go after the storm?", k=1)[0]
