"""Sending webhook deliveries: signed POSTs, retried with backoff, each attempt logged.

A delivery row (kb.webhook_events queued it) is sent as a JSON POST with

    X-KB-Event: solution.accepted
    X-KB-Delivery: 42                       (the row's id: the same on every retry)
    X-KB-Attempt: 1
    X-KB-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>

A 2xx answer delivers it. Anything else (another status, a redirect, no connection, no
answer within KB_WEBHOOK_TIMEOUT_SECONDS) is retried after KB_WEBHOOK_RETRY_SECONDS,
then 4 times longer each time (at most 6 hours), until KB_WEBHOOK_MAX_ATTEMPTS; then the
row is marked failed.

Several deliverers may run at once (every `kb serve` worker has one, and cron runs
`kb webhook deliver`). Each attempt is claimed first by an UPDATE that expects the
attempt count it read and moves the row's next attempt a lease ahead: of two deliverers
that read the same row one claims it, the other's UPDATE matches nothing. A deliverer
that dies mid-attempt leaves the row to be tried again when the lease ends. No database
transaction stays open while a receiver is called.
"""

import hashlib
import hmac
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kb.database import Database
from kb.errors import InvalidContribution
from kb.models import DeliveryStatus, Webhook, WebhookDelivery, utcnow
from kb.settings import Settings
from kb.webhook_events import queue_event
from kb.webhooks import PING, prune_deliveries, webhook_by_id
from kb.writes import write

logger = logging.getLogger("kb.webhooks")

SIGNATURE_HEADER = "X-KB-Signature-256"
USER_AGENT = "kb-webhooks/1"
MAX_RETRY_DELAY = timedelta(hours=6)
BACKOFF_FACTOR = 4
# Receivers called at once by one deliverer, so that one that hangs does not hold up the
# others; and rows one round looks at.
PARALLEL_SENDS = 4
ROUND_SIZE = 20
# Kept of a receiver's answer for the log.
ERROR_CHARS = 300
_TLS = ssl.create_default_context()


def signature(secret: str, body: bytes) -> str:
    """The X-KB-Signature-256 header's value for this body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def body_of(payload: dict[str, object]) -> bytes:
    """The exact bytes sent (and signed): the same for every attempt of a delivery."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    seconds = settings.webhook_retry_seconds * BACKOFF_FACTOR ** (attempts - 1)
    return min(timedelta(seconds=seconds), MAX_RETRY_DELAY)


def lease(settings: Settings) -> timedelta:
    """How long a claim keeps other deliverers off a row: well past the attempt's timeout."""
    return timedelta(seconds=settings.webhook_timeout_seconds * 2 + 60)


@dataclass(frozen=True)
class Claim:
    """One attempt at one delivery, claimed by this deliverer."""

    delivery_id: int
    attempt: int
    event: str
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    attempt: int
    status: str  # a DeliveryStatus: delivered, pending (to be retried) or failed
    status_code: int | None
    error: str


# -- claiming and recording (each its own short transaction) ---------------------------


def due_ids(
    session: Session, now: datetime, ids: Iterable[int] | None = None, limit: int = ROUND_SIZE
) -> list[int]:
    """Pending deliveries of active webhooks whose next attempt is due, oldest first."""
    query = (
        select(WebhookDelivery.id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            Webhook.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(WebhookDelivery.id.in_(list(ids)))
    return list(session.scalars(query))


def claim(session: Session, settings: Settings, delivery_id: int, now: datetime) -> Claim | None:
    """Claim the delivery's next attempt, or None if it is not due or another deliverer
    claimed it first."""
    row = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if row is None or row.status != DeliveryStatus.PENDING or row.next_attempt_at > now:
        return None
    seen = row.attempts
    with write(session):
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.attempts == seen,
            )
            .values(attempts=seen + 1, next_attempt_at=now + lease(settings))
            .execution_options(synchronize_session=False)
        )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return Claim(
        delivery_id=row.id,
        attempt=seen + 1,
        event=row.event,
        url=row.webhook.url,
        secret=row.webhook.secret,
        body=body_of(row.payload),
    )


def record(
    session: Session,
    settings: Settings,
    claimed: Claim,
    status_code: int | None,
    error: str,
    now: datetime | None = None,
) -> Outcome:
    """Log the attempt's result: delivered, retried later, or failed for good."""
    moment = now or utcnow()
    delivered = status_code is not None and 200 <= status_code < 300
    limit = 1 if claimed.event == PING else settings.webhook_max_attempts
    values: dict[str, object] = {"last_status_code": status_code, "last_error": error}
    if delivered:
        status = DeliveryStatus.DELIVERED
        values.update(status=status, delivered_at=moment, last_error="")
    elif claimed.attempt >= limit:
        status = DeliveryStatus.FAILED
        values.update(status=status)
    else:
        status = DeliveryStatus.PENDING
        values.update(next_attempt_at=moment + retry_delay(settings, claimed.attempt))
    with write(session):
        session.execute(
            update(WebhookDelivery)
            # Only this claim's attempt: a late answer after the lease ended changes nothing.
            .where(
                WebhookDelivery.id == claimed.delivery_id,
                WebhookDelivery.attempts == claimed.attempt,
                WebhookDelivery.status == DeliveryStatus.PENDING,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return Outcome(claimed.delivery_id, claimed.attempt, status, status_code, error)


# -- one HTTP attempt ------------------------------------------------------------------


def post(claimed: Claim, timeout: float) -> tuple[int | None, str]:
    """POST the delivery once; returns (HTTP status or None, what went wrong or "").

    http.client rather than urllib: it sends the header names as written, and follows no
    redirect (a 3xx is an answer other than 2xx: logged and retried)."""
    parts = urlsplit(claimed.url)
    connection: HTTPConnection
    try:
        if parts.scheme == "https":
            connection = HTTPSConnection(
                parts.hostname or "", parts.port, timeout=timeout, context=_TLS
            )
        else:
            connection = HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    except ValueError as error:  # checked when registered; a row edited by hand is not
        return None, f"not a usable URL: {error}"[:ERROR_CHARS]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-KB-Event": claimed.event,
        "X-KB-Delivery": str(claimed.delivery_id),
        "X-KB-Attempt": str(claimed.attempt),
        SIGNATURE_HEADER: signature(claimed.secret, claimed.body),
    }
    try:
        connection.request("POST", target, body=claimed.body, headers=headers)
        response = connection.getresponse()
        answer = response.read(ERROR_CHARS).decode("utf-8", "replace")
        code = response.status
    except (OSError, HTTPException, ValueError) as error:  # ValueError: a host IDNA refuses
        return None, _describe(error, timeout)
    finally:
        connection.close()
    if 200 <= code < 300:
        return code, ""
    return code, " ".join(f"HTTP {code} {answer}".split())[:ERROR_CHARS]


def _describe(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:ERROR_CHARS]  # "Connection refused", without its errno
    return (str(reason) or type(reason).__name__)[:ERROR_CHARS]


# -- rounds ----------------------------------------------------------------------------


def attempt(database: Database, settings: Settings, delivery_id: int) -> Outcome | None:
    """Claim, send and record one delivery; None if it was not ours to send."""
    with database.session() as session:
        claimed = claim(session, settings, delivery_id, utcnow())
    if claimed is None:
        return None
    status_code, error = post(claimed, settings.webhook_timeout_seconds)
    with database.session() as session:
        outcome = record(session, settings, claimed, status_code, error)
    if outcome.status != DeliveryStatus.DELIVERED:
        logger.warning(
            "webhook delivery %s (%s) attempt %s to %s: %s",
            claimed.delivery_id,
            claimed.event,
            claimed.attempt,
            claimed.url,
            error,
        )
    return outcome


def deliver_due(
    database: Database,
    settings: Settings,
    ids: Iterable[int] | None = None,
    deadline: float | None = None,
) -> list[Outcome]:
    """Send what is due now (of `ids`, if given): one round of at most ROUND_SIZE rows,
    PARALLEL_SENDS at a time. Rows not started by `deadline` (time.monotonic()) wait."""
    with database.session() as session:
        due = due_ids(session, utcnow(), ids)
    if not due:
        return []

    def one(delivery_id: int) -> Outcome | None:
        if deadline is not None and time.monotonic() > deadline:
            return None
        return attempt(database, settings, delivery_id)

    with ThreadPoolExecutor(PARALLEL_SENDS, thread_name_prefix="kb-webhook-send") as pool:
        outcomes = list(pool.map(one, due))
    return [outcome for outcome in outcomes if outcome is not None]


def deliver_all_due(
    database: Database,
    settings: Settings,
    ids: Iterable[int] | None = None,
    deadline: float | None = None,
) -> list[Outcome]:
    """Rounds until nothing (of `ids`) is due or the deadline passed (`kb webhook
    deliver`; the CLI after a command). A failed attempt is not due again at once."""
    chosen = list(ids) if ids is not None else None
    outcomes: list[Outcome] = []
    while deadline is None or time.monotonic() < deadline:
        sent = deliver_due(database, settings, chosen, deadline)
        outcomes += sent
        if not sent:
            break
    return outcomes


def seconds_until_next_due(session: Session, now: datetime | None = None) -> float | None:
    moment = now or utcnow()
    earliest = session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at))
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.status == DeliveryStatus.PENDING, Webhook.active.is_(True))
    )
    if earliest is None:
        return None
    return max(0.0, (earliest - moment).total_seconds())


def send_ping(database: Database, settings: Settings, webhook_id: int) -> WebhookDelivery:
    """`kb webhook test`: one ping to one webhook, now, once; returns the logged row."""
    with database.session() as session:
        webhook = webhook_by_id(session, webhook_id)
        if not webhook.active:
            raise InvalidContribution(
                f"webhook {webhook.id} is paused: `kb webhook resume {webhook.id}` first"
            )
        payload: dict[str, object] = {
            "occurred_at": utcnow().replace(microsecond=0).isoformat() + "Z",
            "actor": None,
            "webhook": {"id": webhook.id, "events": list(webhook.events)},
            "message": "A test delivery from kb: the webhook is reachable.",
        }
        (row,) = queue_event(session, [webhook], PING, [payload])
    deliver_due(database, settings, ids=[row.id])
    with database.session() as session:
        logged = session.get(WebhookDelivery, row.id)
        assert logged is not None
        return logged


# -- the web server's background deliverer ---------------------------------------------


class Deliverer:
    """A thread that sends due deliveries: at once when woken (this process queued some),
    otherwise when the next retry falls due or every KB_WEBHOOK_POLL_SECONDS (another
    process queued some). `kb serve` runs one per worker, from the app's lifespan."""

    PRUNE_EVERY = timedelta(hours=1)

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at: datetime | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kb-webhooks", daemon=True)
            self._thread.start()

    def wake(self, _delivery_ids: list[int] | None = None) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop after the attempts under way (each ends within the timeout)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.settings.webhook_timeout_seconds * 2 + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            wait = self.settings.webhook_poll_seconds
            try:
                if deliver_due(self.database, self.settings):
                    continue  # there may be more due
                self._prune()
                with self.database.session() as session:
                    next_due = seconds_until_next_due(session)
                if next_due is not None:
                    wait = min(wait, next_due)
            except Exception:
                logger.exception("webhook deliverer")
            self._wake.wait(max(wait, 0.05))

    def _prune(self) -> None:
        now = utcnow()
        if self._pruned_at is None or now - self._pruned_at > self.PRUNE_EVERY:
            self._pruned_at = now
            with self.database.session() as session:
                prune_deliveries(session, self.settings.webhook_log_days, now)
