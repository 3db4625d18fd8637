"""E-mail a person when a problem is asked of them, if KB_SMTP_HOST is set.

Sending is best effort (kb.mail): the request is already in their in-app inbox, so an
unreachable mail server is logged and never undoes or fails the routing.
"""

from email.message import EmailMessage

from sqlalchemy import select

from kb.announcements import PeopleAsked, Subscribers
from kb.database import Database
from kb.mail import new_message, send_all
from kb.models import Routing
from kb.settings import Settings


def routing_email(settings: Settings, routing: Routing) -> EmailMessage | None:
    person, problem = routing.person, routing.problem
    if not person.email:
        return None
    base = settings.public_url.rstrip("/")
    link = f"{base}/entries/{problem.external_id}"
    why = [
        f"- you solved: {reason['title']} ({reason['role']})"
        for reason in routing.reasons
        if "case_id" in reason
    ]
    lines = [
        f"Hello {person.name},",
        "",
        "A colleague has a problem like ones you have solved:"
        if not routing.escalation
        else "This problem is still unanswered; as a tutor of its community, can you help?",
        "",
        f"  {problem.title}",
        f"  {link}",
        "",
        *(why + [""] if why else []),
        *([f"Note: {routing.note}", ""] if routing.note else []),
        f"Take it, decline it or pass it on from your inbox: {base}/inbox",
    ]
    return new_message(settings, person.email, f"[kb] Asked of you: {problem.title}", lines)


def notify(settings: Settings, routings: list[Routing]) -> int:
    """Send one e-mail per routing whose person has an address; returns how many went."""
    if not settings.smtp_host:
        return 0
    messages = [m for m in (routing_email(settings, r) for r in routings) if m is not None]
    return len(messages) if send_all(settings, messages, "routing") else 0


def send_routing_emails(subscribers: Subscribers, settings: Settings, database: Database) -> None:
    """Subscribe: e-mail the people asked, once the routing is committed."""
    if not settings.smtp_host:
        return

    def email_people_asked(asked: PeopleAsked) -> None:
        with database.session() as session:
            ids = list(asked.routing_ids)
            routings = list(session.scalars(select(Routing).where(Routing.id.in_(ids))))
            notify(settings, sorted(routings, key=lambda routing: ids.index(routing.id)))

    subscribers.subscribe(PeopleAsked, email_people_asked)
