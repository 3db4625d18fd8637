"""The JSON API for notifications and follows: list and mark read, follow and unfollow,
and the notification e-mail setting. For the signed-in person or an API token."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from kb import follows
from kb.models import EmailSetting, FollowTarget, Notification
from kb.notifications import count_of, mark_read, notifications_of, set_email_setting
from web.auth import ApiWriterDep, SignedInDep
from web.deps import MAX_ROW_ID, SessionDep
from web.schemas import ErrorResponse
from web.timestamps import UtcDateTime

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 422)
}
router = APIRouter(prefix="/api", responses=ERRORS, tags=["notifications"])
RowIdValue = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class NotificationOut(BaseModel):
    id: int
    kind: str = Field(description="solution_posted, request_taken, request_declined, …")
    text: str
    entry: str | None = Field(description="The id of the problem it is about, as shown.")
    entry_title: str | None
    actor: str | None = Field(description="Handle of the person who did it.")
    created_at: UtcDateTime
    read: bool
    emailed: bool

    @classmethod
    def from_row(cls, row: Notification) -> "NotificationOut":
        return cls(
            id=row.id,
            kind=row.kind,
            text=row.text,
            entry=row.entry.external_id if row.entry else None,
            entry_title=row.entry.title if row.entry else None,
            actor=row.actor.handle if row.actor else None,
            created_at=row.created_at,
            read=row.read_at is not None,
            emailed=row.emailed_at is not None,
        )


class NotificationsOut(BaseModel):
    total: int
    unread: int
    limit: int
    offset: int
    items: list[NotificationOut]


class MarkReadIn(BaseModel):
    ids: list[RowIdValue] | None = Field(
        default=None, description="Which to mark read; leave out to mark all.", max_length=1000
    )


class MarkReadOut(BaseModel):
    marked: int
    unread: int


class FollowIn(BaseModel):
    target: FollowTarget
    value: str = Field(
        min_length=1,
        max_length=200,
        description="The problem's id as shown, the tag, the community's slug or the handle.",
    )


class FollowOut(BaseModel):
    target: FollowTarget
    value: str
    following: bool


class EmailSettingIn(BaseModel):
    email: EmailSetting


class EmailSettingOut(BaseModel):
    email: EmailSetting


@router.get("/notifications", response_model=NotificationsOut)
def api_notifications(
    person: SignedInDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> NotificationsOut:
    """Your notifications, newest first, each with whether you have read it."""
    rows = notifications_of(session, person, limit=limit, offset=offset)
    return NotificationsOut(
        total=count_of(session, person),
        unread=count_of(session, person, unread_only=True),
        limit=limit,
        offset=offset,
        items=[NotificationOut.from_row(row) for row in rows],
    )


@router.post("/notifications/read", response_model=MarkReadOut)
def api_mark_read(payload: MarkReadIn, person: ApiWriterDep, session: SessionDep) -> MarkReadOut:
    """Mark the notifications named (or all of yours) read. Ids that are not yours are
    left alone."""
    marked = mark_read(session, person, payload.ids)
    return MarkReadOut(marked=marked, unread=count_of(session, person, unread_only=True))


@router.post("/follows", response_model=FollowOut)
def api_follow(payload: FollowIn, person: ApiWriterDep, session: SessionDep) -> FollowOut:
    """Follow a problem, a tag, a community or a person (again: no change)."""
    follows.follow(session, person, payload.target, payload.value)
    return FollowOut(target=payload.target, value=payload.value, following=True)


@router.post("/follows/remove", response_model=FollowOut)
def api_unfollow(payload: FollowIn, person: ApiWriterDep, session: SessionDep) -> FollowOut:
    """Stop following (not following it: no change)."""
    follows.unfollow(session, person, payload.target, payload.value)
    return FollowOut(target=payload.target, value=payload.value, following=False)


@router.put("/me/notification-email", response_model=EmailSettingOut, tags=["accounts"])
def api_email_setting(
    payload: EmailSettingIn, person: ApiWriterDep, session: SessionDep
) -> EmailSettingOut:
    """E-mail notifications immediately, in a daily or weekly digest, or not at all."""
    set_email_setting(session, person, payload.email)
    return EmailSettingOut(email=EmailSetting(person.notification_email))
