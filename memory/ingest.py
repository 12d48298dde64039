"""File ingestion: an upload to a folder becomes searchable passages.

`upload_file` stores the bytes (under MEDIA_ROOT/uploads/, a volume web and workers share) and enqueues
`memory.tasks.ingest_file`, which calls `ingest_file`: parse → chunk → embed in batches → passages. Progress
(status + percent) is saved on the File row and broadcast to the folder's group after each commit. Every
failure (unsupported type, oversized file, corrupt or empty document, embedding error) is recorded on the file.
All passages of a file are written in the same transaction that marks it completed, so a failure or a killed
worker leaves none behind, and a retried ingestion replaces them rather than adding duplicates.
"""

import logging
import queue
import re
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from accounts import audit
from ade.errors import Conflict, Invalid, NotFound
from ade.events import broadcast, folder_group
from ade.queue import enqueue

from .models import File, Folder, Passage
from .parsing import (
    SUPPORTED_TYPES,
    TEXT_TYPES,  # noqa: F401 - read by the agent-file importer
    IngestError,
    parse,
)

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4  # chunk sizes are given in tokens; characters are what we can count without a tokenizer
EMBED_BATCH = 64
DUPLICATE_HANDLING = ("suffix", "skip", "error", "replace")


# ---------------------------------------------------------------------------------------------------------------
# Upload


def upload_file(
    organization,
    folder: Folder,
    *,
    name: str,
    data: bytes,
    content_type: str = "",
    duplicate_handling: str = "suffix",
    created_by=None,
    as_text: bool = False,
) -> File:
    """Add a file to `folder` and start its ingestion (after commit). Unsupported or oversized files are kept
    as rows with status `error` and the reason, and are not stored. `duplicate_handling` decides what happens
    when the folder already has a file of that name: suffix (`name (1).ext`), skip (return it), error (409) or
    replace (the old file and its passages go). `as_text`: `data` is the document's text already (an agent file
    carries a PDF's text, not the PDF): the file keeps its name and is ingested as plain text."""
    name = Path((name or "").replace("\\", "/")).name.strip()
    if not name:
        raise Invalid("file: a file name is required", field="file")
    if duplicate_handling not in DUPLICATE_HANDLING:
        raise Invalid(f"duplicate_handling must be one of {', '.join(DUPLICATE_HANDLING)}", field="duplicate_handling")
    existing = folder.files.filter(file_name=name).first()
    if existing is not None:
        if duplicate_handling == "skip":
            return existing
        if duplicate_handling == "error":
            raise Conflict(f"A file named {name!r} already exists in folder {folder.name!r}")
        if duplicate_handling == "replace":
            delete_file(organization, existing.id)
        else:
            name = _free_name(folder, name)
    suffix = Path(name).suffix.lower()
    file = File(
        organization=organization,
        folder=folder,
        file_name=name,
        original_file_name=name,
        file_type=SUPPORTED_TYPES.get(suffix) or content_type or "application/octet-stream",
        file_size=len(data),
    )
    problem = _upload_problem(".txt" if as_text else suffix, len(data))
    if problem:
        file.processing_status, file.error_message = "error", problem
        file.save()
        return file
    # the stored copy's own suffix says how to parse it when it is not the name's (see _parse_suffix)
    path = Path(settings.MEDIA_ROOT) / "uploads" / str(organization.id) / (file.id + (".txt" if as_text else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    file.file_path = str(path.relative_to(settings.MEDIA_ROOT))
    try:
        with transaction.atomic():
            file.save()
            summary = f"{folder.name}/{name} ({len(data)} bytes)"
            audit.record(organization.id, created_by, "file.upload", object_id=file.id, summary=summary)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    transaction.on_commit(lambda: start_ingestion(file.id))
    return file


def start_ingestion(file_id: str) -> None:
    """Ingest on a Celery worker, or, where Celery runs eagerly (the embedded default), on this process's
    background ingestion thread: never in the request thread that uploaded the file. `INGEST_INLINE` (tests)
    runs it right here."""
    from ade.celery import app

    if getattr(settings, "INGEST_INLINE", False) or not app.conf.task_always_eager:
        try:
            enqueue("memory.ingest_file", file_id)
        except Exception as exc:  # the broker refused: fail the file now (retry it), so it never waits forever
            log.warning("could not enqueue the ingestion of file %s: %s", file_id, exc)
            file = File.objects.filter(id=file_id).first()
            if file is not None and file.processing_status != "completed":
                _fail(file, QUEUE_DOWN)
    else:
        _background().put(file_id)


_queue: queue.Queue | None = None
_queue_lock = threading.Lock()


def _background() -> queue.Queue:
    """One daemon thread per process takes files in order (a daemon: a shutdown does not wait for a long file;
    what it leaves half done is failed as interrupted by `fail_interrupted_files`)."""
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = queue.Queue()
            threading.Thread(target=_ingest_forever, args=(_queue,), name="ingest", daemon=True).start()
    return _queue


def _ingest_forever(files: queue.Queue) -> None:
    while True:
        file_id = files.get()
        try:
            close_old_connections()
            ingest_file(file_id)
        except Exception:  # the thread must survive a database hiccup
            log.exception("background ingestion of %s failed", file_id)
        finally:
            close_old_connections()
            files.task_done()


INTERRUPTED = "Ingestion was interrupted (the server stopped). Upload the file again or delete it."
QUEUE_DOWN = "The task queue (Redis) was unavailable: this file was stored but not ingested. Retry it."


def fail_interrupted_files(folder_id: str | None = None) -> int:
    """Files whose ingestion has made no progress for `INGEST_STALE_SECONDS` were interrupted (a killed worker, a
    restarted server): they end as errors that can be deleted or uploaded again. Returns how many."""
    stale = timezone.now() - timedelta(seconds=settings.INGEST_STALE_SECONDS)
    files = File.objects.filter(processing_status__in=("parsing", "embedding"), updated_at__lt=stale)
    if folder_id:
        files = files.filter(folder_id=folder_id)
    return files.update(processing_status="error", error_message=INTERRUPTED, updated_at=timezone.now())


def _upload_problem(suffix: str, size: int) -> str:
    if suffix not in SUPPORTED_TYPES:
        kinds = ", ".join(sorted(SUPPORTED_TYPES))
        return f"Unsupported file type {suffix or '(no extension)'}: supported types are {kinds}"
    if size > settings.MAX_UPLOAD_BYTES:
        return f"File too large: {size / 1e6:.1f} MB (the limit is {settings.MAX_UPLOAD_BYTES / 1e6:.0f} MB)"
    if size == 0:
        return "The file is empty"
    return ""


def _free_name(folder: Folder, name: str) -> str:
    stem, suffix = Path(name).stem, Path(name).suffix
    taken = set(folder.files.values_list("file_name", flat=True))
    n = 1
    while f"{stem} ({n}){suffix}" in taken:
        n += 1
    return f"{stem} ({n}){suffix}"


def delete_file(organization, file_id: str, *, actor=None) -> None:
    """Delete a file, its passages (cascade) and its stored bytes."""
    file = File.objects.filter(id=file_id, organization=organization).first()
    if file is None:
        raise NotFound("File not found")
    path = Path(settings.MEDIA_ROOT) / file.file_path if file.file_path else None
    agent_ids = list(file.agent_links.values_list("agent_id", flat=True))
    folder_id = file.folder_id
    with transaction.atomic():
        audit.record(organization.id, actor, "file.delete", object_id=file.id, summary=file.file_name)
        file.delete()
    if path is not None:
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
    broadcast(folder_group(folder_id), {"type": "file_deleted", "file_id": file_id, "folder_id": folder_id})
    if agent_ids:
        from .context import rebuild_system_prompts

        rebuild_system_prompts(agent_ids)


def retry_file(organization, file_id: str, *, actor=None) -> File:
    """Ingest a failed file again from its stored bytes. A file refused at upload was never stored: upload it
    again instead."""
    file = File.objects.filter(id=file_id, organization=organization).first()
    if file is None:
        raise NotFound("File not found")
    if file.processing_status != "error":
        raise Conflict(f"{file.file_name} has not failed ({file.processing_status}): nothing to retry", field="file")
    if not file.file_path or not (Path(settings.MEDIA_ROOT) / file.file_path).exists():
        raise Conflict(f"{file.file_name} was refused at upload and not kept: delete it and upload again", field="file")
    with transaction.atomic():
        audit.record(organization.id, actor, "file.retry", object_id=file.id, summary=file.file_name)
        File.objects.filter(id=file.id).update(
            processing_status="pending", progress=0, error_message="", updated_at=timezone.now()
        )
    file.processing_status, file.progress, file.error_message = "pending", 0, ""
    transaction.on_commit(lambda: start_ingestion(file.id))
    return file


# ---------------------------------------------------------------------------------------------------------------
# Ingestion (in a worker)


def ingest_file(file_id: str) -> File | None:
    """Parse, chunk, embed and store one uploaded file, recording progress and any error on it."""
    file = File.objects.select_related("folder").filter(id=file_id).first()
    if file is None or file.processing_status == "completed":
        return file  # deleted meanwhile, or a redelivered task for finished work
    try:
        _progress(file, "parsing", 0)
        text = parse(_read(file), _parse_suffix(file))
        File.objects.filter(id=file.id).update(content=text)
        chunks = chunk_text(text, _chunk_chars(file.folder))
        if len(chunks) > settings.INGEST_MAX_CHUNKS:
            raise IngestError(
                f"The document makes {len(chunks):,} chunks; the limit is {settings.INGEST_MAX_CHUNKS:,} per file"
            )
        _progress(file, "embedding", 10, total_chunks=len(chunks), chunks_embedded=0)
        vectors = _embed_with_progress(file, chunks)
        _store(file, chunks, vectors)
    except IngestError as exc:
        _fail(file, str(exc))
    except Exception as exc:  # anything else still ends on the file, never as a silent stuck status
        log.exception("ingestion of file %s failed", file_id)
        _fail(file, f"Ingestion failed: {type(exc).__name__}: {exc}"[:1000])
    file.refresh_from_db()
    return file


def _parse_suffix(file: File) -> str:
    """How to parse: as the stored copy's suffix says (text given for a PDF), else as the file's name says."""
    return (Path(file.file_path).suffix or Path(file.file_name).suffix).lower()


def _read(file: File) -> bytes:
    path = Path(settings.MEDIA_ROOT) / file.file_path
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"The uploaded file could not be read ({exc.strerror})") from exc


def _chunk_chars(folder: Folder) -> int:
    tokens = int((folder.embedding_config or {}).get("embedding_chunk_size") or 300)
    return max(200, tokens * CHARS_PER_TOKEN)


def _embed_with_progress(file: File, chunks: list[str]):
    import numpy as np

    from .embeddings import embed

    config = file.folder.embedding_config
    parts = []
    for start in range(0, len(chunks), EMBED_BATCH):
        parts.append(embed(chunks[start : start + EMBED_BATCH], config))
        done = min(start + EMBED_BATCH, len(chunks))
        _progress(file, "embedding", 10 + int(85 * done / len(chunks)), chunks_embedded=done)
    return np.concatenate(parts) if parts else None


def _store(file: File, chunks: list[str], vectors) -> None:
    from .actions import create_passages
    from .embeddings import model_name

    with transaction.atomic():
        Passage.objects.filter(file=file).delete()  # a redelivered task replaces, never duplicates
        create_passages(
            file.organization,
            chunks,
            vectors,
            embedding_model=model_name(file.folder.embedding_config),
            folder=file.folder,
            file=file,
            metadata={"file_name": file.file_name},
        )
        _progress(file, "completed", 100, chunks_embedded=len(chunks), error_message="")
        _open_for_agents(file)


def _open_for_agents(file: File) -> None:
    """Agents that have the folder see the new file (tools/files.py decides how)."""
    from tools.files import attach_file_to_agents

    attach_file_to_agents(file)


def _fail(file: File, message: str) -> None:
    with transaction.atomic():
        Passage.objects.filter(file=file).delete()
        _progress(file, "error", file.progress, error_message=message)


def _progress(file: File, status: str, percent: int, **fields) -> None:
    """Save status and percent on the row; tell the folder's watchers once it is committed."""
    File.objects.filter(id=file.id).update(
        processing_status=status, progress=percent, updated_at=timezone.now(), **fields
    )
    file.processing_status, file.progress = status, percent
    broadcast(
        folder_group(file.folder_id),
        {
            "type": "file_updated",
            "file_id": file.id,
            "folder_id": file.folder_id,
            "status": status,
            "progress": percent,
            "error": fields.get("error_message", ""),
        },
    )


# ---------------------------------------------------------------------------------------------------------------
# Chunking


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Split text into chunks of at most `max_chars`, cutting between paragraphs, else between sentences,
    else at a space. Chunks keep the text's order and lose nothing but the whitespace at the cuts."""
    pieces = []  # (separator before it, text)
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if len(paragraph) <= max_chars:
            pieces.append(("\n\n", paragraph))
            continue
        parts = [p for sentence in _SENTENCE_END.split(paragraph) for p in _hard_split(sentence, max_chars)]
        pieces.extend(("\n\n" if i == 0 else " ", part) for i, part in enumerate(parts))
    chunks, current = [], ""
    for separator, piece in pieces:
        if not piece:
            continue
        if current and len(current) + len(separator) + len(piece) <= max_chars:
            current += separator + piece
        else:
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _hard_split(text: str, max_chars: int) -> list[str]:
    out = []
    while len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars + 1)
        cut = cut if cut > max_chars // 2 else max_chars
        out.append(text[:cut].strip())
        text = text[cut:].strip()
    out.append(text)
    return out
