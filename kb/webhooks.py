"""Outgoing webhooks: the operator registers a URL and the events it wants.

What each event's payload holds is in kb.webhook_events (which turns announcements into
deliveries) and docs/webhooks.md; sending, signing and retrying is kb.webhook_delivery.
The command line (`kb webhook …`) is the operator's tool; there is no web page for it.
"""

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kb.errors import InvalidContribution
from kb.models import Community, DeliveryStatus, Webhook, WebhookDelivery, utcnow
from kb.writes import write

# The events an operator may choose, and what each means (shown by `kb webhook add --help`).
EVENTS: dict[str, str] = {
    "entry.created": "a problem, solution, practice or article was posted",
    "solution.accepted": "a solution was accepted as the answer to its problem",
    "problem.routed": "people were asked about an open problem (also an escalation)",
    "article.promoted": "solved cases were distilled into a repertoire article",
    "review.due": "an article's review date passed, or its review was asked for",
}
# `kb webhook test` sends it to one webhook, whatever events it chose.
PING = "ping"
MAX_URL_CHARS = 2000
MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 200
MAX_DESCRIPTION_CHARS = 500


def checked_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidContribution(
            f"{url!r} is not a web address: a webhook URL starts with http:// or https:// "
            "and names a host"
        )
    try:
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        raise InvalidContribution(f"{url!r} has no valid port number") from None
    if len(url) > MAX_URL_CHARS:
        raise InvalidContribution(f"the URL is longer than {MAX_URL_CHARS} characters")
    if parts.username or parts.password:
        raise InvalidContribution(
            "put no user name or password in the URL: receivers check the signature"
        )
    return url


def checked_events(events: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(event.strip() for event in events))
    if not chosen:
        raise InvalidContribution(f"choose at least one event: {', '.join(EVENTS)}")
    unknown = [event for event in chosen if event not in EVENTS]
    if unknown:
        raise InvalidContribution(
            f"unknown event(s) {', '.join(map(repr, unknown))}; events: {', '.join(EVENTS)}"
        )
    return chosen


def checked_communities(session: Session, slugs: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(slug.strip() for slug in slugs))
    known = set(session.scalars(select(Community.slug)))
    unknown = [slug for slug in chosen if slug not in known]
    if unknown:
        raise InvalidContribution(
            f"no community is called {', '.join(map(repr, unknown))}; "
            f"communities: {', '.join(sorted(known)) or '(none yet)'}"
        )
    return chosen


def covers(webhook: Webhook, community: str | None) -> bool:
    """Whether the webhook hears of an event in this community (None: not about one)."""
    return not webhook.communities or community is None or community in webhook.communities


def add_webhook(
    session: Session,
    url: str,
    events: list[str],
    secret: str | None = None,
    description: str = "",
    communities: list[str] | None = None,
) -> Webhook:
    """Register a webhook for the events chosen, in the communities named (none named:
    all); without a secret, a random one is made (the caller shows it)."""
    url = checked_url(url)
    chosen = checked_events(events)
    scope = checked_communities(session, communities or [])
    if secret is not None and not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS:
        raise InvalidContribution(
            f"a secret has {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters "
            "(leave it out and kb makes one)"
        )
    description = " ".join(description.split())
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidContribution(f"the description is longer than {MAX_DESCRIPTION_CHARS}")
    with write(session):
        webhook = Webhook(
            url=url,
            secret=secret or secrets.token_urlsafe(32),
            events=chosen,
            communities=scope,
            active=True,
            description=description,
            created_at=utcnow(),
        )
        session.add(webhook)
        session.flush()
    return webhook


def webhook_by_id(session: Session, webhook_id: int) -> Webhook:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        raise InvalidContribution(f"there is no webhook {webhook_id} (`kb webhook list`)")
    return webhook


def remove_webhook(session: Session, webhook_id: int) -> Webhook:
    """Remove a webhook and its delivery log."""
    webhook = webhook_by_id(session, webhook_id)
    with write(session):
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
        session.delete(webhook)
    return webhook


def set_active(session: Session, webhook_id: int, active: bool) -> Webhook:
    """A paused webhook gets no new deliveries, and its pending ones wait until resumed."""
    webhook = webhook_by_id(session, webhook_id)
    with write(session):
        webhook.active = active
    return webhook


def list_webhooks(session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def subscribed_to(session: Session, event: str) -> list[Webhook]:
    """The active webhooks that chose this event."""
    return [
        webhook for webhook in list_webhooks(session) if webhook.active and event in webhook.events
    ]


def delivery_counts(session: Session) -> dict[tuple[int, str], int]:
    """(webhook id, status) → how many deliveries, for `kb webhook list`."""
    rows = session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count()).group_by(
            WebhookDelivery.webhook_id, WebhookDelivery.status
        )
    )
    return {(webhook_id, status): count for webhook_id, status, count in rows}


def deliveries(
    session: Session,
    *,
    webhook_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if webhook_id is not None:
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return list(session.scalars(query))


def prune_deliveries(session: Session, keep_days: int, now: datetime | None = None) -> int:
    """Forget delivered and failed deliveries older than `keep_days`; pending ones stay."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    with write(session):
        result = session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.status != DeliveryStatus.PENDING,
                WebhookDelivery.created_at < cutoff,
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)
