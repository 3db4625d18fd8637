"""The entry page's attachment forms: upload an image or file, remove one. They do what
the /api twins do (web/api_attachments.py) and come back to the entry with a message,
or with the reason the file was refused."""

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb.attachments import remove_attachment
from kb.errors import InvalidContribution
from kb.models import Entry, EntryKind
from web.api_attachments import attachment_or_404, read_upload, store_upload
from web.auth import FormWriterDep, VisibilityDep
from web.deps import RowId, SessionDep, entry_or_404
from web.flash import FlashKind, flash
from web.pages import entry_context
from web.templating import templates

router = APIRouter(include_in_schema=False)


def _page_of(entry: Entry) -> str:
    """Where the entry is shown: a solution on its problem's page."""
    if entry.kind == EntryKind.SOLUTION and entry.solves is not None:
        return f"/entries/{entry.solves.external_id}#{entry.external_id}"
    return f"/entries/{entry.external_id}#attachments"


@router.post("/entries/{external_id}/attachments", response_class=HTMLResponse)
def post_attachment(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    entry = entry_or_404(session, external_id, visibility)
    try:
        if file is None or not file.filename:
            raise InvalidContribution("no file was chosen: pick an image or a file to attach")
        data = read_upload(file, request.app.state.settings.attachment_max_bytes)
        attachment = store_upload(request, session, person, entry, file.filename, data)
    except InvalidContribution as error:
        page = entry.solves if entry.kind == EntryKind.SOLUTION and entry.solves else entry
        context = entry_context(session, page, person, visibility, error=str(error))
        return templates.TemplateResponse(request, "entry.html", context, status_code=422)
    flash(
        request,
        f"Attached {attachment.filename}: show it in the text with "
        f"![{attachment.filename}](/attachments/{attachment.id})",
    )
    return RedirectResponse(_page_of(entry), status_code=303)


@router.post("/attachments/{attachment_id}/remove")
def post_remove_attachment(
    request: Request,
    attachment_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    attachment, entry = attachment_or_404(session, attachment_id, visibility)
    name = attachment.filename
    remove_attachment(session, person, attachment, entry)
    flash(request, f"Removed {name}", FlashKind.INFO)
    return RedirectResponse(_page_of(entry), status_code=303)
