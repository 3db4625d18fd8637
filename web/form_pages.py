"""Form posts of the pages: ask, capture, solve, accept, reuse, feedback, edit, comment.

Each handler needs a signed-in person and the form's CSRF token (FormWriterDep), does
the same as its /api twin through kb.contributions, and redirects (POST → redirect →
GET). When the content cannot be saved, the form comes back with the reason and with
everything the person typed.
"""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from kb import contributions as kb_write
from kb.attachments import attachments_of
from kb.entry_schema import EntryDraft, parse_tags
from kb.errors import InvalidContribution, NotAllowed
from kb.models import Comment, Entry, EntryKind, FeedbackKind, Person
from kb.visibility import Visibility
from web.auth import FormWriterDep, SignedInDep, VisibilityDep, visitor_key
from web.deps import FormText, RowId, SessionDep, entry_or_404
from web.flash import FlashKind, Undo, flash
from web.pages import capture_context, entry_context
from web.templating import templates

router = APIRouter(include_in_schema=False)


def _to_entry(entry: Entry, anchor: str = "") -> RedirectResponse:
    url = f"/entries/{entry.external_id}" + (f"#{anchor}" if anchor else "")
    return RedirectResponse(url, status_code=303)


class EntryForm(BaseModel):
    """The fields of the Ask and Share-a-practice forms."""

    title: str = ""
    body: str = ""
    tags: str = ""
    community: str = ""

    def draft(self) -> EntryDraft:
        return EntryDraft(self.title, self.body, parse_tags(self.tags))


EntryFormDep = Annotated[EntryForm, Form()]


@router.post("/ask", response_class=HTMLResponse)
def post_problem(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    form: EntryFormDep,
) -> Response:
    try:
        problem = kb_write.ask_problem(
            session, person, form.draft(), form.community or None, visitor_key(request)
        )
    except InvalidContribution as error:
        return _form_again(request, session, visibility, person, "ask.html", form, error)
    flash(request, "Problem posted: it stays open here until a solution is accepted")
    return _to_entry(problem)


@router.post("/capture", response_class=HTMLResponse)
def post_practice(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    form: EntryFormDep,
) -> Response:
    try:
        practice = kb_write.capture_practice(session, person, form.draft(), form.community or None)
    except InvalidContribution as error:
        return _form_again(request, session, visibility, person, "capture.html", form, error)
    flash(request, "Practice shared")
    return _to_entry(practice)


def _form_again(
    request: Request,
    session: Session,
    visibility: Visibility,
    person: Person,
    template: str,
    form: EntryForm,
    error: Exception,
) -> Response:
    """The same form, with the reason and everything the person typed."""
    context = capture_context(session, person, visibility, form.model_dump(), str(error))
    return templates.TemplateResponse(request, template, context, status_code=422)


@router.post("/entries/{external_id}/solutions", response_class=HTMLResponse)
def post_solution(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    body: FormText = "",
    title: FormText = "",
) -> Response:
    problem = entry_or_404(session, external_id, visibility)
    try:
        solution = kb_write.add_solution(session, person, problem, EntryDraft(title, body))
    except InvalidContribution as error:
        return _entry_with_error(
            request,
            session,
            visibility,
            person,
            problem,
            error,
            solution=body,
            solution_title=title,
        )
    flash(request, "Solution posted")
    return _to_entry(problem, solution.external_id)


@router.post("/entries/{external_id}/accept")
def post_accept(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    solution = entry_or_404(session, external_id, visibility)
    problem = kb_write.accept_solution(session, person, solution)
    flash(request, "Accepted: the problem is solved, and the people asked are told")
    return _to_entry(problem, solution.external_id)


# What each feedback is called in the messages after pressing its button.
FEEDBACK_DONE = {
    FeedbackKind.HELPFUL: "Marked helpful",
    FeedbackKind.REUSE: "Marked: this solved your case too",
    FeedbackKind.DID_NOT_WORK: "Marked: it did not work for you (articles built on it go up "
    "for review)",
    FeedbackKind.FLAG: "Flagged: your reason is shown with the entry",
}
FEEDBACK_NAME = {
    FeedbackKind.HELPFUL: "helpful vote",
    FeedbackKind.REUSE: "“this solved my case” mark",
    FeedbackKind.DID_NOT_WORK: "“did not work for me” mark",
    FeedbackKind.FLAG: "flag",
}


@router.post("/entries/{external_id}/feedback", response_class=HTMLResponse)
def post_feedback(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    kind: FormText,
    reason: FormText = "",
    undo: FormText = "",
) -> Response:
    """Give feedback, or take it back (`undo=1`: the pressed button, or the message's Undo)."""
    entry = entry_or_404(session, external_id, visibility)
    try:
        feedback_kind = FeedbackKind(kind)
    except ValueError:
        raise HTTPException(
            400, f"unknown feedback {kind!r}: reuse, helpful, flag or did_not_work"
        ) from None
    action = f"/entries/{entry.external_id}/feedback"
    name = FEEDBACK_NAME[feedback_kind]
    if undo:
        if kb_write.withdraw_feedback(session, person, entry, feedback_kind, visitor_key(request)):
            again = {"kind": feedback_kind.value}
            if feedback_kind == FeedbackKind.FLAG:
                flash(request, f"Your {name} is withdrawn", FlashKind.INFO)
            else:
                flash(request, f"Your {name} is withdrawn", FlashKind.INFO, Undo(action, again))
        else:
            flash(request, f"You had no {name} here to take back", FlashKind.INFO)
        return _back_to(entry)
    try:
        recorded = kb_write.record_feedback(
            session, person, entry, feedback_kind, reason, visitor_key(request)
        )
    except InvalidContribution as error:
        page = entry.solves or entry
        return _entry_with_error(request, session, visibility, person, page, error, flag=reason)
    take_back = Undo(action, {"kind": feedback_kind.value, "undo": "1"})
    if recorded.repeated:
        text = f"You had given your {name} already: it counts once"
        flash(request, text, FlashKind.INFO, take_back)
    else:
        flash(request, FEEDBACK_DONE[feedback_kind], FlashKind.SUCCESS, take_back)
    return _back_to(entry)


def _back_to(entry: Entry) -> RedirectResponse:
    """The page the entry's feedback buttons are on: a solution's is its problem's."""
    if entry.kind == EntryKind.SOLUTION and entry.solves is not None:
        return _to_entry(entry.solves, entry.external_id)
    return _to_entry(entry)


@router.post("/entries/{external_id}/comments", response_class=HTMLResponse)
def post_comment(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    body: FormText = "",
) -> Response:
    entry = entry_or_404(session, external_id, visibility)
    try:
        comment = kb_write.add_comment(session, person, entry, body)
    except InvalidContribution as error:
        return _entry_with_error(request, session, visibility, person, entry, error, comment=body)
    flash(request, "Comment added")
    return _to_entry(entry, f"comment-{comment.id}")


@router.post("/comments/{comment_id}/solution")
def post_comment_to_solution(
    request: Request,
    comment_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    comment = session.get(Comment, comment_id)
    if comment is None or not visibility.can_see(comment.entry):
        raise HTTPException(404, f"no comment has the id {comment_id}")
    solution = kb_write.comment_to_solution(session, person, comment)
    flash(request, "Your comment is now a solution")
    return _to_entry(comment.entry, solution.external_id)


@router.get("/entries/{external_id}/edit", response_class=HTMLResponse, name="edit_page")
def edit_page(
    request: Request,
    external_id: str,
    person: SignedInDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    entry = entry_or_404(session, external_id, visibility)
    if not kb_write.may_edit(person, entry):
        raise NotAllowed("only the author or a knowledge manager can edit this entry")
    form = {"title": entry.title, "body": entry.body, "tags": ", ".join(entry.tags)}
    return templates.TemplateResponse(request, "edit.html", _edit_context(session, entry, form))


@router.post("/entries/{external_id}/edit", response_class=HTMLResponse)
def post_edit(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    title: FormText = "",
    body: FormText = "",
    tags: FormText = "",
) -> Response:
    entry = entry_or_404(session, external_id, visibility)
    try:
        kb_write.edit_entry(session, person, entry, EntryDraft(title, body, parse_tags(tags)))
    except InvalidContribution as error:
        form = {"title": title, "body": body, "tags": tags}
        context = _edit_context(session, entry, form, str(error))
        return templates.TemplateResponse(request, "edit.html", context, 422)
    flash(request, "Changes saved; the history keeps the earlier version")
    return _to_entry(entry)


def _edit_context(
    session: Session, entry: Entry, form: dict[str, str], error: str | None = None
) -> dict[str, object]:
    attachments = attachments_of(session, [entry.id])[entry.id]
    return {"entry": entry, "form": form, "error": error, "attachments": attachments}


def _entry_with_error(
    request: Request,
    session: Session,
    visibility: Visibility,
    person: Person,
    entry: Entry,
    error: Exception,
    **typed: str,
) -> HTMLResponse:
    context = entry_context(session, entry, person, visibility, form=typed, error=str(error))
    return templates.TemplateResponse(request, "entry.html", context, status_code=422)
