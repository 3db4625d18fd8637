"""Attachments over HTTP: upload (multipart) and remove through the JSON API, and the
file itself at /attachments/{id}, plus the Markdown preview the forms show.

A file is served as it was sniffed at upload (kb.attachment_types), never as the
uploader labelled it: images inline, everything else as a download, with nosniff and
a sandboxing Content-Security-Policy, so that a file can never run as a page of kb.
An attachment of an entry the viewer may not see is the same 404 as one that does
not exist."""

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kb.attachment_store import path_for
from kb.attachment_types import INLINE_TYPES, SERVED_TYPES
from kb.attachments import attach, attachments_of, remove_attachment
from kb.entry_schema import MAX_BODY_CHARS
from kb.models import Attachment, Entry, Person
from kb.visibility import Visibility
from web.auth import ApiWriterDep, ReaderDep, VisibilityDep
from web.deps import RowId, SessionDep, entry_or_404
from web.rendering import render_markdown
from web.schemas import ErrorResponse
from web.timestamps import UtcDateTime

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 404, 413, 422)
}
router = APIRouter(responses=ERRORS)
# A file's bytes never change under its id, but who may see the entry can: browsers
# keep it for an hour, shared caches not at all.
CACHE_CONTROL = "private, max-age=3600"
# Served files are not pages: no script, no plugin, no form, even if a browser guessed.
FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


class AttachmentOut(BaseModel):
    id: int
    entry: str
    filename: str
    content_type: str
    size: int
    sha256: str
    url: str = Field(description="Where the file is served; `![alt](url)` shows an image.")
    inline: bool = Field(description="An image, shown in the page; other files download.")
    uploaded_by: str | None
    uploaded_at: UtcDateTime

    @classmethod
    def from_attachment(cls, attachment: Attachment, entry: Entry) -> "AttachmentOut":
        return cls(
            id=attachment.id,
            entry=entry.external_id,
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=attachment.size,
            sha256=attachment.sha256,
            url=f"/attachments/{attachment.id}",
            inline=attachment.content_type in INLINE_TYPES,
            uploaded_by=attachment.uploaded_by.handle if attachment.uploaded_by else None,
            uploaded_at=attachment.uploaded_at,
        )


class PreviewIn(BaseModel):
    text: str = Field(max_length=MAX_BODY_CHARS, description="Markdown, as typed in a form.")


class PreviewOut(BaseModel):
    html: str = Field(description="The HTML kb will show: the same safe renderer as pages.")


def attachment_or_404(
    session: Session, attachment_id: int, visibility: Visibility
) -> tuple[Attachment, Entry]:
    attachment = session.get(Attachment, attachment_id)
    entry = session.get(Entry, attachment.entry_id) if attachment else None
    if attachment is None or entry is None or not visibility.can_see(entry):
        raise HTTPException(404, f"no attachment has the id {attachment_id}")
    return attachment, entry


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The upload's bytes (spooled by the form parser); one byte past the limit is
    enough to refuse it."""
    upload.file.seek(0)
    return upload.file.read(max_bytes + 1)


def store_upload(
    request: Request, session: Session, person: Person, entry: Entry, name: str, data: bytes
) -> Attachment:
    settings = request.app.state.settings
    return attach(
        session, settings.attachments_dir, settings.attachment_max_bytes, person, entry, name, data
    )


@router.post(
    "/api/entries/{external_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    tags=["attachments"],
)
def api_attach(
    request: Request,
    external_id: str,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    file: Annotated[UploadFile, File(description="The image or file (multipart/form-data).")],
) -> AttachmentOut:
    """Attach an image or file (the author or a knowledge manager). Accepted: PNG, JPEG,
    GIF, WebP, PDF, plain text, CSV, office documents; at most KB_ATTACHMENT_MAX_MB."""
    data = read_upload(file, request.app.state.settings.attachment_max_bytes)
    entry = entry_or_404(session, external_id, visibility)
    attachment = store_upload(request, session, person, entry, file.filename or "file", data)
    return AttachmentOut.from_attachment(attachment, entry)


@router.get(
    "/api/entries/{external_id}/attachments",
    response_model=list[AttachmentOut],
    tags=["attachments"],
)
def api_attachments(
    external_id: str, _reader: ReaderDep, session: SessionDep, visibility: VisibilityDep
) -> list[AttachmentOut]:
    """The entry's attachments, oldest first."""
    entry = entry_or_404(session, external_id, visibility)
    return [
        AttachmentOut.from_attachment(a, entry)
        for a in attachments_of(session, [entry.id])[entry.id]
    ]


@router.delete("/api/attachments/{attachment_id}", status_code=204, tags=["attachments"])
def api_remove_attachment(
    attachment_id: RowId, person: ApiWriterDep, session: SessionDep, visibility: VisibilityDep
) -> Response:
    """Remove an attachment (the entry's author or a knowledge manager)."""
    attachment, entry = attachment_or_404(session, attachment_id, visibility)
    remove_attachment(session, person, attachment, entry)
    return Response(status_code=204)


@router.get(
    "/attachments/{attachment_id}",
    response_class=FileResponse,
    tags=["attachments"],
    responses={
        200: {
            "description": "The file, with the type sniffed at upload.",
            "content": {media_type: {} for media_type in SERVED_TYPES},
        }
    },
)
def serve_attachment(
    request: Request,
    attachment_id: RowId,
    _reader: ReaderDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    """The file: images inline, every other type as a download."""
    attachment, _entry = attachment_or_404(session, attachment_id, visibility)
    path: Path = path_for(request.app.state.settings.attachments_dir, attachment.sha256)
    if not path.is_file():
        raise HTTPException(
            404, f"the file of attachment {attachment_id} is missing from the store"
        )
    inline = attachment.content_type in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    return FileResponse(
        path,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(attachment.filename)}",
            "Cache-Control": CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": FILE_POLICY,
        },
    )


@router.post("/api/preview", response_model=PreviewOut, tags=["write"])
def api_preview(payload: PreviewIn, _reader: ReaderDep) -> PreviewOut:
    """Render Markdown as kb will show it once saved (raw HTML stays escaped)."""
    return PreviewOut(html=str(render_markdown(payload.text)))
