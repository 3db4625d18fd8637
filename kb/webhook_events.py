"""What webhooks hear: the announcements turned into events, each event into one
delivery row per webhook that chose it.

| event | announcement | one delivery per |
|---|---|---|
| entry.created | EntrySaved (created) | entry (drafts are not announced) |
| solution.accepted | SolutionAccepted | acceptance |
| problem.routed | PeopleAsked | problem, with everyone asked of it in that write |
| article.promoted | ArticlePromoted | article |
| review.due | ReviewsDue (`kb reviews notify`) | article and due date |

The subscriber runs after the write committed and only inserts rows, in its own short
transaction: it never makes an HTTP call, so a slow or broken receiver cannot slow or
undo the write. kb.webhook_delivery sends the rows. Payloads are documented in
docs/webhooks.md; they name entries and people, never their text beyond the title.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.announcements import (
    ArticlePromoted,
    EntrySaved,
    PeopleAsked,
    ReviewsDue,
    SolutionAccepted,
    Subscribers,
)
from kb.database import Database
from kb.models import (
    HIDDEN_STATUSES,
    Article,
    Community,
    DeliveryStatus,
    Entry,
    Person,
    Routing,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from kb.settings import Settings
from kb.webhooks import covers, subscribed_to
from kb.writes import write

Payload = dict[str, object]
# Told the ids of the deliveries just queued (the web app wakes its deliverer with it).
OnQueued = Callable[[list[int]], None]


def queue_webhook_deliveries(
    subscribers: Subscribers,
    settings: Settings,
    database: Database,
    on_queued: OnQueued | None = None,
) -> None:
    """Subscribe: queue a delivery for each webhook that chose the event, once committed."""

    def queue(event: str, build: Callable[[Session], list[Payload]]) -> None:
        with database.session() as session:
            webhooks = subscribed_to(session, event)
            if not webhooks:
                return
            payloads = build(session)
            if not payloads:
                return
            rows = queue_event(session, webhooks, event, payloads)
        if on_queued is not None:
            on_queued([row.id for row in rows])

    def on_entry_saved(saved: EntrySaved) -> None:
        if saved.created:
            queue("entry.created", lambda s: entry_created(s, settings, saved.entry_id))

    def on_solution_accepted(accepted: SolutionAccepted) -> None:
        queue("solution.accepted", lambda s: solution_accepted(s, settings, accepted))

    def on_people_asked(asked: PeopleAsked) -> None:
        queue("problem.routed", lambda s: problem_routed(s, settings, asked.routing_ids))

    def on_article_promoted(promoted: ArticlePromoted) -> None:
        queue("article.promoted", lambda s: article_promoted(s, settings, promoted))

    def on_reviews_due(due: ReviewsDue) -> None:
        queue("review.due", lambda s: reviews_due(s, settings, due.article_ids))

    subscribers.subscribe(EntrySaved, on_entry_saved)
    subscribers.subscribe(SolutionAccepted, on_solution_accepted)
    subscribers.subscribe(PeopleAsked, on_people_asked)
    subscribers.subscribe(ArticlePromoted, on_article_promoted)
    subscribers.subscribe(ReviewsDue, on_reviews_due)


def queue_event(
    session: Session,
    webhooks: list[Webhook],
    event: str,
    payloads: list[Payload],
    now: datetime | None = None,
) -> list[WebhookDelivery]:
    """One pending delivery per webhook and payload, due at once; a webhook limited to
    some communities gets only the payloads about them. A payload about a members-only
    community goes only to webhooks that name it (`kb webhook add … --community SLUG`):
    a webhook for everything would carry its entries to people who may not see them."""
    moment = now or utcnow()
    private = set(session.scalars(select(Community.slug).where(Community.private)))

    def receives(webhook: Webhook, community: str | None) -> bool:
        if community in private and community not in (webhook.communities or []):
            return False
        return covers(webhook, community)

    with write(session):
        rows = [
            WebhookDelivery(
                webhook_id=webhook.id,
                event=event,
                payload={"event": event, **payload},
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=moment,
                last_error="",
                created_at=moment,
            )
            for webhook in webhooks
            for payload in payloads
            if receives(webhook, community_of(payload))
        ]
        session.add_all(rows)
        session.flush()
    return rows


# -- the payloads ----------------------------------------------------------------------


def entry_created(session: Session, settings: Settings, entry_id: int) -> list[Payload]:
    entry = session.get(Entry, entry_id)
    if entry is None or entry.status in HIDDEN_STATUSES:
        return []
    payload: Payload = {
        "occurred_at": timestamp(entry.created_at),
        "actor": person(entry.author),
        "entry": entry_summary(settings, entry),
    }
    if entry.solves is not None:
        payload["problem"] = entry_summary(settings, entry.solves)
    return [payload]


def solution_accepted(
    session: Session, settings: Settings, accepted: SolutionAccepted
) -> list[Payload]:
    problem = session.get(Entry, accepted.problem_id)
    solution = session.get(Entry, accepted.solution_id)
    if problem is None or solution is None:
        return []
    actor = session.get(Person, accepted.actor_id) if accepted.actor_id else None
    return [
        {
            "occurred_at": timestamp(problem.updated_at),
            "actor": person(actor),
            "problem": entry_summary(settings, problem),
            "solution": entry_summary(settings, solution),
        }
    ]


def problem_routed(
    session: Session, settings: Settings, routing_ids: tuple[int, ...]
) -> list[Payload]:
    routings = session.scalars(
        select(Routing).where(Routing.id.in_(routing_ids)).order_by(Routing.id)
    )
    by_problem: defaultdict[int, list[Routing]] = defaultdict(list)
    for routing in routings:
        by_problem[routing.problem_id].append(routing)
    payloads: list[Payload] = []
    for asked in by_problem.values():
        first = asked[0]
        payloads.append(
            {
                "occurred_at": timestamp(first.created_at),
                "actor": person(first.routed_by),  # None: kb itself (a decline, escalation)
                "problem": entry_summary(settings, first.problem),
                "asked": [person(routing.person) for routing in asked],
                "escalation": any(routing.escalation for routing in asked),
                "note": first.note,
            }
        )
    return payloads


def article_promoted(
    session: Session, settings: Settings, promoted: ArticlePromoted
) -> list[Payload]:
    article = session.get(Article, promoted.article_id)
    if article is None:
        return []
    actor = session.get(Person, promoted.actor_id)
    return [
        {
            "occurred_at": timestamp(article.entry.created_at),
            "actor": person(actor),
            "article": article_summary(settings, article),
        }
    ]


def reviews_due(
    session: Session, settings: Settings, article_ids: tuple[int, ...]
) -> list[Payload]:
    articles = session.scalars(
        select(Article).where(Article.entry_id.in_(article_ids)).order_by(Article.entry_id)
    )
    now = timestamp(utcnow())
    return [
        {
            "occurred_at": now,
            "actor": None,
            "article": article_summary(settings, article),
            "due_at": timestamp(article.review_due_announced_for or article.next_review_at),
            "reason": "requested" if article.review_requested_at is not None else "overdue",
            "review_reason": article.review_reason,
        }
        for article in articles
    ]


def community_of(payload: Payload) -> str | None:
    """The community of the entry an event is about (a solution's is its problem's)."""
    for key in ("entry", "article", "problem"):
        about = payload.get(key)
        if isinstance(about, dict):
            return str(about["community"])
    return None


def entry_summary(settings: Settings, entry: Entry) -> Payload:
    return {
        "id": entry.external_id,
        "kind": entry.kind,
        "title": entry.heading,
        "status": entry.status,
        "community": entry.community.slug,
        "tags": list(entry.tags),
        "author": person(entry.author),
        "url": entry_url(settings, entry),
    }


def article_summary(settings: Settings, article: Article) -> Payload:
    return {
        **entry_summary(settings, article.entry),
        "owner": person(article.owner),
        "scope": article.scope,
        "next_review_at": timestamp(article.next_review_at),
        "sources": [link.source.external_id for link in article.sources],
    }


def entry_url(settings: Settings, entry: Entry) -> str:
    return f"{settings.public_url.rstrip('/')}/entries/{entry.external_id}"


def person(who: Person | None) -> Payload | None:
    return {"handle": who.handle, "name": who.name} if who is not None else None


def timestamp(moment: datetime) -> str:
    """kb keeps UTC without a zone; payloads say so."""
    return moment.replace(microsecond=0).isoformat() + "Z"
