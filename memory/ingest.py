"""File ingestion: an upload to a folder becomes searchable passages.

`upload_file` stores the bytes (under MEDIA_ROOT/uploads/, a volume web and workers share) and enqueues
`memory.tasks.ingest_file`, which calls `ingest_file`: parse → chunk → embed in batches → passages. Progress
(status + percent) is saved on the File row and broadcast to the folder's group after each commit. Every
failure (unsupported type, oversized file, corrupt or empty document, embedding error) is recorded on the file.
All passages of a file are written in the same transaction that marks it completed, so a failure or a killed
worker leaves none behind, and a retried ingestion replaces them rather than adding duplicates.
"""

import html.parser
import io
import logging
import re
from pathlib import Path

from django.conf import settings
from django.db import transaction

from ade.celery import enqueue
from ade.errors import Conflict, Invalid, NotFound
from ade.events import broadcast, folder_group

from .models import File, Folder, Passage

log = logging.getLogger(__name__)

TEXT_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".rst": "text/x-rst",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".yaml": "application/x-yaml",
    ".yml": "application/x-yaml",
    ".xml": "application/xml",
    ".log": "text/plain",
    ".py": "text/x-python",
    ".js": "text/javascript",
    ".ts": "text/x-typescript",
    ".java": "text/x-java",
    ".c": "text/x-c",
    ".h": "text/x-c",
    ".cpp": "text/x-c++",
    ".go": "text/x-go",
    ".rs": "text/x-rust",
    ".rb": "text/x-ruby",
    ".sh": "text/x-shellscript",
    ".sql": "application/sql",
    ".toml": "application/toml",
}
DOCUMENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
SUPPORTED_TYPES = {**TEXT_TYPES, **DOCUMENT_TYPES}
CHARS_PER_TOKEN = 4  # chunk sizes are given in tokens; characters are what we can count without a tokenizer
EMBED_BATCH = 64
DUPLICATE_HANDLING = ("suffix", "skip", "error", "replace")


class IngestError(Exception):
    """A problem with the file itself; the message is shown on the file."""


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
) -> File:
    """Add a file to `folder` and start its ingestion (after commit). Unsupported or oversized files are kept
    as rows with status `error` and the reason, and are not stored. `duplicate_handling` decides what happens
    when the folder already has a file of that name: suffix (`name (1).ext`), skip (return it), error (409) or
    replace (the old file and its passages go)."""
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
    problem = _upload_problem(suffix, len(data))
    if problem:
        file.processing_status, file.error_message = "error", problem
        file.save()
        return file
    path = Path(settings.MEDIA_ROOT) / "uploads" / str(organization.id) / file.id
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    file.file_path = str(path.relative_to(settings.MEDIA_ROOT))
    try:
        file.save()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    transaction.on_commit(lambda: enqueue("memory.ingest_file", file.id))
    return file


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


def delete_file(organization, file_id: str) -> None:
    """Delete a file, its passages (cascade) and its stored bytes."""
    file = File.objects.filter(id=file_id, organization=organization).first()
    if file is None:
        raise NotFound("File not found")
    path = Path(settings.MEDIA_ROOT) / file.file_path if file.file_path else None
    agent_ids = list(file.agent_links.values_list("agent_id", flat=True))
    folder_id = file.folder_id
    file.delete()
    if path is not None:
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
    broadcast(folder_group(folder_id), {"type": "file_deleted", "file_id": file_id, "folder_id": folder_id})
    if agent_ids:
        from .context import rebuild_system_prompts

        rebuild_system_prompts(agent_ids)


# ---------------------------------------------------------------------------------------------------------------
# Ingestion (in a worker)


def ingest_file(file_id: str) -> File | None:
    """Parse, chunk, embed and store one uploaded file, recording progress and any error on it."""
    file = File.objects.select_related("folder").filter(id=file_id).first()
    if file is None or file.processing_status == "completed":
        return file  # deleted meanwhile, or a redelivered task for finished work
    try:
        _progress(file, "parsing", 0)
        text = parse(_read(file), Path(file.file_name).suffix.lower())
        File.objects.filter(id=file.id).update(content=text)
        chunks = chunk_text(text, _chunk_chars(file.folder))
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
    File.objects.filter(id=file.id).update(processing_status=status, progress=percent, **fields)
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
# Parsing and chunking


def parse(data: bytes, suffix: str) -> str:
    """The text of a document. Raises IngestError with a reason a person can act on."""
    if suffix == ".pdf":
        text = _pdf_text(data)
    elif suffix == ".docx":
        text = _docx_text(data)
    elif suffix in (".html", ".htm"):
        text = _html_text(_decode(data))
    elif suffix in TEXT_TYPES:
        text = _decode(data)
    else:
        raise IngestError(f"Unsupported file type {suffix or '(no extension)'}")
    text = re.sub(r"[ \t]+\n", "\n", text.replace("\r\n", "\n").replace("\x00", "")).strip()
    if not text:
        raise IngestError("No text could be extracted from the file (is it a scanned image?)")
    return text


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise IngestError("The file is not text (it contains binary data)")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise IngestError("The PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IngestError(f"The PDF could not be read; it may be corrupt ({type(exc).__name__}: {exc})") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def _docx_text(data: bytes) -> str:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError(f"The Word document could not be read; it may be corrupt ({type(exc).__name__})") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows)
    return "\n\n".join(p for p in parts if p.strip())


class _HtmlText(html.parser.HTMLParser):
    BLOCKS = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "pre",
        "blockquote",
        "table",
        "ul",
        "ol",
        "header",
        "footer",
    }
    SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html_text(source: str) -> str:
    parser = _HtmlText()
    parser.feed(source)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n\s*\n\s*", "\n\n", re.sub(r"[ \t]+", " ", text))


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
