"""The Ask page's "This answers my question": count the reuse, note the draft as answered
in the search log, and go to the case; the draft is not posted."""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kb.answered import question_answered
from web.auth import FormWriterDep, VisibilityDep, visitor_key
from web.deps import FormText, SessionDep, entry_or_404
from web.flash import FlashKind, Undo, flash

router = APIRouter(include_in_schema=False)


@router.post("/ask/answered")
def post_answered(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    case: FormText,
    s: FormText = "",
) -> Response:
    entry = entry_or_404(session, case, visibility)
    log_id = int(s) if s.isdigit() and len(s) < 12 else None
    answered = question_answered(
        session, person, entry, search_log_id=log_id, visitor=visitor_key(request)
    )
    reused = answered.reused
    if answered.counted:
        undo = Undo(
            f"/entries/{reused.external_id}/feedback",
            {"kind": "reuse", "undo": "1"},
            "Undo the mark",
        )
        text = "Glad it answers your question: marked “this solved my case too”"
        flash(request, f"{text}. Your draft was not posted.", FlashKind.SUCCESS, undo)
    else:
        text = "Glad it answers your question" + (
            "" if reused.author_id == person.id else " (you had marked it before)"
        )
        flash(request, f"{text}. Your draft was not posted.", FlashKind.SUCCESS)
    anchor = f"#{reused.external_id}" if reused.id != entry.id else ""
    return RedirectResponse(f"/entries/{entry.external_id}{anchor}", status_code=303)
