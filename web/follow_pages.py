"""Follow and Unfollow buttons (problems, tags, communities, people) and the
notification e-mail setting, as form posts."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from kb import follows
from kb.notifications import set_email_setting
from web.auth import FormWriterDep
from web.deps import FormText, SessionDep

router = APIRouter(include_in_schema=False)


def local_path(next_path: str) -> str:
    """Back to the page the button was on, never to another site."""
    if next_path.startswith("/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return "/"


@router.post("/follows")
def post_follow(
    person: FormWriterDep,
    session: SessionDep,
    target: FormText,
    value: FormText,
    action: FormText = "follow",
    next: FormText = "/",
) -> Response:
    if action == "unfollow":
        follows.unfollow(session, person, target, value)
    else:
        follows.follow(session, person, target, value)
    return RedirectResponse(local_path(next), status_code=303)


@router.post("/me/notification-email")
def post_notification_email(
    person: FormWriterDep, session: SessionDep, setting: FormText
) -> Response:
    set_email_setting(session, person, setting)
    return RedirectResponse("/inbox#notifications", status_code=303)
