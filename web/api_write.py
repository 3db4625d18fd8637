"""The JSON API for writing: ask, solve, capture, accept, reuse, feedback, edit, discuss.

Every route needs a signed-in person (session cookie plus X-CSRF-Token header) or an
API token (`Authorization: Bearer …`, see `kb token create`). Who may do what is
checked in kb.contributions, on the server, whatever the page shows.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kb import contributions as kb_write
from kb.entry_schema import MAX_BODY_CHARS, MAX_COMMENT_CHARS, MAX_TAGS, MAX_TITLE_CHARS, EntryDraft
from kb.models import Comment, FeedbackKind, Person
from kb.visibility import Visibility
from web.auth import ApiWriterDep, ReaderDep, ViewerDep, VisibilityDep, visitor_key
from web.deps import RowId, SessionDep, entry_or_404
from web.schemas import EntryOut, ErrorResponse
from web.timestamps import UtcDateTime

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 404, 422)
}
router = APIRouter(prefix="/api", responses=ERRORS)
EntryId = Annotated[str, Path(description="The entry's id, as shown on its page.")]


class EntryIn(BaseModel):
    title: str = Field(max_length=MAX_TITLE_CHARS)
    body: str = Field(default="", max_length=MAX_BODY_CHARS)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    community: str | None = Field(
        default=None, description="Community slug; default: the author's first community."
    )

    def draft(self) -> EntryDraft:
        return EntryDraft(self.title, self.body, self.tags)


class SolutionIn(BaseModel):
    title: str = Field(default="", max_length=MAX_TITLE_CHARS)
    body: str = Field(max_length=MAX_BODY_CHARS)


class EntryEdit(BaseModel):
    title: str = Field(max_length=MAX_TITLE_CHARS)
    body: str = Field(default="", max_length=MAX_BODY_CHARS)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)


class FeedbackIn(BaseModel):
    kind: Literal["helpful", "flag", "did_not_work"]
    reason: str = Field(default="", max_length=MAX_COMMENT_CHARS)


class FeedbackOut(BaseModel):
    entry: str
    kind: str
    reuse_count: int
    helpful_count: int
    flag_count: int


class CommentIn(BaseModel):
    body: str = Field(max_length=MAX_COMMENT_CHARS)


class CommentOut(BaseModel):
    id: int
    entry: str
    author: str
    body: str
    created_at: UtcDateTime
    solution: str | None

    @classmethod
    def from_comment(cls, comment: Comment) -> "CommentOut":
        return cls(
            id=comment.id,
            entry=comment.entry.external_id,
            author=comment.author.handle,
            body=comment.body,
            created_at=comment.created_at,
            solution=comment.solution.external_id if comment.solution else None,
        )


class RevisionOut(BaseModel):
    number: int
    title: str
    body: str
    tags: list[str]
    editor: str
    created_at: UtcDateTime


class MeOut(BaseModel):
    id: str
    name: str
    roles: list[str]
    communities: list[str]


@router.get("/me", response_model=MeOut, tags=["accounts"])
def api_me(viewer: ViewerDep) -> MeOut:
    """Who the session cookie or token belongs to."""
    if viewer is None:
        raise HTTPException(401, "not signed in")
    return MeOut(
        id=viewer.handle,
        name=viewer.name,
        roles=list(viewer.roles),
        communities=list(viewer.communities),
    )


@router.post("/problems", response_model=EntryOut, status_code=201, tags=["write"])
def api_ask(
    request: Request,
    payload: EntryIn,
    person: ApiWriterDep,
    session: SessionDep,
) -> EntryOut:
    """Post a problem; it stays open until a solution is accepted."""
    searched_as = None if request.state.via_token else visitor_key(request)
    problem = kb_write.ask_problem(
        session, person, payload.draft(), payload.community, searched_as=searched_as
    )
    return EntryOut.from_entry(session, problem)


@router.post(
    "/problems/{external_id}/solutions", response_model=EntryOut, status_code=201, tags=["write"]
)
def api_add_solution(
    external_id: EntryId,
    payload: SolutionIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> EntryOut:
    problem = entry_or_404(session, external_id, visibility)
    draft = EntryDraft(payload.title, payload.body)
    solution = kb_write.add_solution(session, person, problem, draft)
    return EntryOut.from_entry(session, solution)


@router.post("/practices", response_model=EntryOut, status_code=201, tags=["write"])
def api_capture_practice(payload: EntryIn, person: ApiWriterDep, session: SessionDep) -> EntryOut:
    """Capture a good practice: how you do something so that it works."""
    practice = kb_write.capture_practice(session, person, payload.draft(), payload.community)
    return EntryOut.from_entry(session, practice)


@router.post("/solutions/{external_id}/accept", response_model=EntryOut, tags=["write"])
def api_accept(
    external_id: EntryId, person: ApiWriterDep, session: SessionDep, visibility: VisibilityDep
) -> EntryOut:
    """Accept a solution (the asker or a knowledge manager); answers with the problem."""
    problem = kb_write.accept_solution(
        session, person, entry_or_404(session, external_id, visibility)
    )
    return EntryOut.from_entry(session, problem)


def _feedback(
    session: Session,
    visibility: Visibility,
    person: Person,
    external_id: str,
    kind: FeedbackKind,
    reason: str,
) -> FeedbackOut:
    entry = entry_or_404(session, external_id, visibility)
    kb_write.record_feedback(session, person, entry, kind, reason)
    counts = kb_write.feedback_counts(session, [entry.id])[entry.id]
    return FeedbackOut(
        entry=entry.external_id,
        kind=kind,
        reuse_count=counts["reuse"],
        helpful_count=counts["helpful"],
        flag_count=counts["flag"],
    )


@router.post("/entries/{external_id}/reuse", response_model=FeedbackOut, tags=["write"])
def api_reuse(
    external_id: EntryId, person: ApiWriterDep, session: SessionDep, visibility: VisibilityDep
) -> FeedbackOut:
    """ "This solved my case too": counted once per person."""
    return _feedback(session, visibility, person, external_id, FeedbackKind.REUSE, "")


@router.post("/entries/{external_id}/feedback", response_model=FeedbackOut, tags=["write"])
def api_feedback(
    external_id: EntryId,
    payload: FeedbackIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> FeedbackOut:
    """Mark an entry helpful, flag it with a reason (outdated, wrong, unsafe, …), or say it
    did not work for you (the repertoire articles built on it go up for review)."""
    return _feedback(
        session, visibility, person, external_id, FeedbackKind(payload.kind), payload.reason
    )


@router.patch("/entries/{external_id}", response_model=EntryOut, tags=["write"])
def api_edit(
    external_id: EntryId,
    payload: EntryEdit,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> EntryOut:
    """Edit an entry (its author or a knowledge manager); the old text stays as a revision."""
    entry = entry_or_404(session, external_id, visibility)
    draft = EntryDraft(payload.title, payload.body, payload.tags)
    kb_write.edit_entry(session, person, entry, draft)
    return EntryOut.from_entry(session, entry)


@router.get("/entries/{external_id}/revisions", response_model=list[RevisionOut], tags=["entries"])
def api_revisions(
    external_id: EntryId, _reader: ReaderDep, session: SessionDep, visibility: VisibilityDep
) -> Any:
    """Every saved version of an entry, oldest first."""
    entry = entry_or_404(session, external_id, visibility)
    return [
        RevisionOut(
            number=r.number,
            title=r.title,
            body=r.body,
            tags=list(r.tags),
            editor=r.editor.handle,
            created_at=r.created_at,
        )
        for r in kb_write.revisions_of(session, entry)
    ]


@router.get("/entries/{external_id}/comments", response_model=list[CommentOut], tags=["discussion"])
def api_comments(
    external_id: EntryId, _reader: ReaderDep, session: SessionDep, visibility: VisibilityDep
) -> Any:
    entry = entry_or_404(session, external_id, visibility)
    return [CommentOut.from_comment(c) for c in kb_write.comments_of(session, entry)]


@router.post(
    "/entries/{external_id}/comments",
    response_model=CommentOut,
    status_code=201,
    tags=["discussion"],
)
def api_add_comment(
    external_id: EntryId,
    payload: CommentIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> CommentOut:
    """Discuss a problem, solution or practice; open problems are worked out together."""
    comment = kb_write.add_comment(
        session, person, entry_or_404(session, external_id, visibility), payload.body
    )
    return CommentOut.from_comment(comment)


@router.post(
    "/comments/{comment_id}/solution", response_model=EntryOut, status_code=201, tags=["discussion"]
)
def api_comment_to_solution(
    comment_id: RowId, person: ApiWriterDep, session: SessionDep
) -> EntryOut:
    """Turn your comment on a problem into a solution of it."""
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise HTTPException(404, f"no comment has the id {comment_id}")
    solution = kb_write.comment_to_solution(session, person, comment)
    return EntryOut.from_entry(session, solution)
