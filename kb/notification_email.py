"""Notifications by e-mail, as each person chose (Person.notification_email):
immediately, one e-mail each; daily or weekly, a digest sent by `kb digest`; or off.

A notification is e-mailed at most once: `emailed_at` is set when the mail server
accepted it, so a digest run twice sends nothing new, and a failed send is tried again
by the next digest only for digest people (an immediate e-mail that failed stays in the
inbox; it is not worth a second, late e-mail).
"""

from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.announcements import NotificationsCreated, Subscribers
from kb.database import Database
from kb.mail import new_message, send_all
from kb.models import EmailSetting, Notification, Person, utcnow
from kb.settings import Settings
from kb.writes import write

DIGEST_PERIODS = (EmailSetting.DAILY, EmailSetting.WEEKLY)


class DigestNotSent(Exception):
    """The mail server did not take the digests; nothing was marked e-mailed."""


def email_notifications(subscribers: Subscribers, settings: Settings, database: Database) -> None:
    """Subscribe: e-mail new notifications to people who want them immediately."""
    if not settings.smtp_host:
        return

    def email_immediately(created: NotificationsCreated) -> None:
        with database.session() as session:
            rows = session.scalars(
                select(Notification)
                .join(Person, Person.id == Notification.person_id)
                .where(
                    Notification.id.in_(created.notification_ids),
                    Notification.emailed_at.is_(None),
                    Person.notification_email == EmailSetting.IMMEDIATELY,
                    Person.email.is_not(None),
                )
                .order_by(Notification.id)
            )
            send_and_mark(session, settings, [(row.person, [row]) for row in rows])

    subscribers.subscribe(NotificationsCreated, email_immediately)


def send_digests(
    session: Session, settings: Settings, period: EmailSetting, now: datetime | None = None
) -> list[tuple[Person, int]]:
    """One digest per person whose setting is `period`, of their notifications not yet
    e-mailed and not yet read in the inbox. Returns who got one and with how many."""
    if period not in DIGEST_PERIODS:
        raise ValueError(f"digests are daily or weekly, not {period}")
    rows = session.scalars(
        select(Notification)
        .join(Person, Person.id == Notification.person_id)
        .where(
            Notification.emailed_at.is_(None),
            Notification.read_at.is_(None),
            Person.notification_email == period,
            Person.email.is_not(None),
        )
        .order_by(Notification.person_id, Notification.created_at, Notification.id)
    )
    by_person: dict[int, tuple[Person, list[Notification]]] = {}
    for row in rows:
        by_person.setdefault(row.person_id, (row.person, []))[1].append(row)
    batches = list(by_person.values())
    if batches and not send_and_mark(session, settings, batches, now=now):
        raise DigestNotSent(
            f"the mail server {settings.smtp_host}:{settings.smtp_port} did not take "
            f"{len(batches)} digest(s); they will be sent by the next run"
        )
    return [(person, len(notifications)) for person, notifications in batches]


def send_and_mark(
    session: Session,
    settings: Settings,
    batches: list[tuple[Person, list[Notification]]],
    now: datetime | None = None,
) -> bool:
    """One e-mail per (person, notifications); marks them e-mailed if the server took them."""
    if not batches:
        return False
    messages = [email_for(settings, person, notifications) for person, notifications in batches]
    if not send_all(settings, messages, "notification e-mail"):
        return False
    with write(session):
        for _, notifications in batches:
            for notification in notifications:
                notification.emailed_at = now or utcnow()
    return True


def email_for(
    settings: Settings, person: Person, notifications: list[Notification]
) -> EmailMessage:
    base = settings.public_url.rstrip("/")
    lines = [f"Hello {person.name},", ""]
    for notification in notifications:
        lines.append(f"- {notification.text}")
        if notification.entry is not None:
            lines.append(f"  {base}/entries/{notification.entry.external_id}")
    lines += ["", f"Your inbox: {base}/inbox", f"E-mail settings: {base}/inbox#notifications"]
    if len(notifications) == 1:
        subject = f"[kb] {notifications[0].text}"
    else:
        subject = f"[kb] {len(notifications)} things happened"
    assert person.email is not None  # the queries above pick people with an address
    return new_message(settings, person.email, subject[:200], lines)
