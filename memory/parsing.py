"""The text of an uploaded document (PDF, Word, HTML, text), within the limits per file: what a .docx may unpack
to (checked before anything unpacks it) and how much text a document may hold (`INGEST_MAX_*` settings)."""

import html.parser
import io
import re

from django.conf import settings

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


class IngestError(Exception):
    """A problem with the file itself; the message is shown on the file."""


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
    _check_size(len(text))
    text = re.sub(r"[ \t]+\n", "\n", text.replace("\r\n", "\n").replace("\x00", "")).strip()
    if not text:
        raise IngestError("No text could be extracted from the file (is it a scanned image?)")
    return text


def _check_size(chars: int) -> None:
    if chars > settings.INGEST_MAX_CHARS:
        raise IngestError(
            f"The document holds more than {settings.INGEST_MAX_CHARS:,} characters of text (the limit per file)"
        )


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
        pages, total = [], 0
        for page in reader.pages:  # page by page, so a bomb stops at the limit rather than after expanding
            pages.append(page.extract_text() or "")
            total += len(pages[-1])
            _check_size(total)
    except IngestError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IngestError(f"The PDF could not be read; it may be corrupt ({type(exc).__name__}: {exc})") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def _docx_text(data: bytes) -> str:
    import zipfile

    import docx

    _check_unpacked_size(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError(f"The Word document could not be read; it may be corrupt ({type(exc).__name__})") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows)
    return "\n\n".join(p for p in parts if p.strip())


def _check_unpacked_size(data: bytes) -> None:
    """A .docx is a zip: refuse one that would unpack past the limit before anything unpacks it (zipfile never
    reads past an entry's declared size, so the declared sizes bound what parsing can produce)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise IngestError(f"The Word document could not be read; it may be corrupt ({type(exc).__name__})") from exc
    if unpacked > settings.INGEST_MAX_UNPACKED_BYTES:
        raise IngestError(
            f"The document unpacks to {unpacked / 1e6:.0f} MB; the limit is "
            f"{settings.INGEST_MAX_UNPACKED_BYTES / 1e6:.0f} MB per file"
        )


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
