"""Which files may be attached, told by their first bytes rather than by what the
uploader's browser claims. Anything else is refused with the list of what is accepted."""

from dataclasses import dataclass
from pathlib import PurePath

from kb.errors import InvalidContribution

ACCEPTED = "images (PNG, JPEG, GIF, WebP), PDF, plain text, CSV and office documents"
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

# Office formats are containers: a ZIP (Office Open XML, OpenDocument) or an OLE file
# (the older Word, Excel, PowerPoint); which document it is, only the extension says.
_ZIP_DOCUMENTS = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
}
_OLE_DOCUMENTS = {
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
}
_TEXT_TYPES = {
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
}


# Every type a file may be served as (the API documents them).
SERVED_TYPES = sorted(
    {*INLINE_TYPES, "application/pdf", *_ZIP_DOCUMENTS.values(), *_OLE_DOCUMENTS.values()}
    | {value.split(";")[0] for value in _TEXT_TYPES.values()}
)


@dataclass(frozen=True)
class FileType:
    content_type: str

    @property
    def inline(self) -> bool:
        """Shown in the page (an image) rather than downloaded."""
        return self.content_type in INLINE_TYPES


def sniffed_type(filename: str, data: bytes) -> FileType:
    """The type of an uploaded file, from its content; InvalidContribution if not accepted."""
    suffix = PurePath(filename).suffix.lower()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileType("image/png")
    if data.startswith(b"\xff\xd8\xff"):
        return FileType("image/jpeg")
    if data.startswith((b"GIF87a", b"GIF89a")):
        return FileType("image/gif")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return FileType("image/webp")
    if data.startswith(b"%PDF-"):
        return FileType("application/pdf")
    if data.startswith(b"PK\x03\x04") and suffix in _ZIP_DOCUMENTS:
        return FileType(_ZIP_DOCUMENTS[suffix])
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") and suffix in _OLE_DOCUMENTS:
        return FileType(_OLE_DOCUMENTS[suffix])
    if suffix in _TEXT_TYPES and _is_text(data):
        return FileType(_TEXT_TYPES[suffix])
    raise InvalidContribution(
        f"{filename!r} is not a file kb accepts: attach {ACCEPTED} "
        "(SVG and other files that can carry scripts are refused)"
    )


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
