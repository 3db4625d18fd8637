"""`kb webhook …`: the operator's outgoing webhooks, their delivery log, and sending."""

from typing import Any

import click

from kb.errors import InvalidContribution
from kb.models import DeliveryStatus, WebhookDelivery
from kb.webhooks import (
    EVENTS,
    add_webhook,
    deliveries,
    delivery_counts,
    list_webhooks,
    prune_deliveries,
    remove_webhook,
    set_active,
)

EVENT_HELP = "; ".join(f"{name}: {meaning}" for name, meaning in EVENTS.items())


def _context() -> Any:
    return click.get_current_context().find_root().obj


def _refused(error: InvalidContribution) -> click.ClickException:
    return click.ClickException(str(error))


@click.group("webhook")
def webhook_group() -> None:
    """Outgoing webhooks: kb POSTs signed JSON to a URL when the events it chose happen.

    \b
    Deliveries go out from `kb serve` (at once, retried with backoff). Without
    a running server, send them from cron:
      * * * * *    kb webhook deliver
    The payloads and how to check the signature: docs/webhooks.md.
    """


@webhook_group.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    required=True,
    metavar="EVENT",
    help=f"An event to send (repeat for several). {EVENT_HELP}.",
)
@click.option(
    "--secret",
    default=None,
    help="The key deliveries are signed with (16 to 200 characters) [default: a random "
    "one, printed once].",
)
@click.option(
    "--community",
    "communities",
    multiple=True,
    metavar="SLUG",
    help="Only events about entries of this community (repeat for several) [default: "
    "every community].",
)
@click.option("--description", default="", help="What the webhook is for, shown by `list`.")
def add_command(
    url: str,
    events: tuple[str, ...],
    secret: str | None,
    communities: tuple[str, ...],
    description: str,
) -> None:
    """Register URL to receive the chosen events."""
    with _context().database.session() as session:
        try:
            webhook = add_webhook(
                session, url, list(events), secret, description, list(communities)
            )
        except InvalidContribution as error:
            raise _refused(error) from None
        where = f" in {', '.join(webhook.communities)}" if webhook.communities else ""
        click.echo(f"Webhook {webhook.id}: {webhook.url} ({', '.join(webhook.events)}){where}")
        if secret is None:
            click.echo("Its signing secret (shown only now; keep it with the receiver):")
            click.echo(webhook.secret)


@webhook_group.command("list")
def list_command() -> None:
    """Every webhook: its URL, events, state and how its deliveries went."""
    with _context().database.session() as session:
        webhooks = list_webhooks(session)
        counts = delivery_counts(session)
    if not webhooks:
        click.echo("No webhooks yet. Add one: kb webhook add URL --event entry.created")
        return
    for webhook in webhooks:
        state = "active" if webhook.active else "paused"
        tally = ", ".join(
            f"{counts.get((webhook.id, status), 0)} {status}" for status in DeliveryStatus
        )
        where = ", ".join(webhook.communities) or "every community"
        click.echo(f"{webhook.id}  {webhook.url}  [{state}]  {', '.join(webhook.events)}")
        click.echo(f"    in {where}")
        click.echo(f"    {tally}" + (f"  — {webhook.description}" if webhook.description else ""))


@webhook_group.command("remove")
@click.argument("webhook_id", metavar="ID", type=int)
def remove_command(webhook_id: int) -> None:
    """Remove webhook ID and its delivery log; nothing more is sent to it."""
    with _context().database.session() as session:
        try:
            webhook = remove_webhook(session, webhook_id)
        except InvalidContribution as error:
            raise _refused(error) from None
    click.echo(f"Removed webhook {webhook_id} ({webhook.url}).")


def _set_active(webhook_id: int, active: bool) -> None:
    with _context().database.session() as session:
        try:
            webhook = set_active(session, webhook_id, active)
        except InvalidContribution as error:
            raise _refused(error) from None
    click.echo(f"Webhook {webhook.id} is {'active' if active else 'paused'}.")


@webhook_group.command("pause")
@click.argument("webhook_id", metavar="ID", type=int)
def pause_command(webhook_id: int) -> None:
    """Stop queueing events for webhook ID; its pending deliveries wait until resumed."""
    _set_active(webhook_id, False)


@webhook_group.command("resume")
@click.argument("webhook_id", metavar="ID", type=int)
def resume_command(webhook_id: int) -> None:
    """Queue events for webhook ID again, and send its waiting deliveries."""
    _set_active(webhook_id, True)


@webhook_group.command("deliveries")
@click.option("--webhook", "webhook_id", type=int, default=None, help="Only this webhook's.")
@click.option(
    "--failed", is_flag=True, help="Only deliveries that failed for good (every attempt)."
)
@click.option(
    "--pending", is_flag=True, help="Only deliveries still waiting for their next attempt."
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="How many, newest first.",
)
def deliveries_command(webhook_id: int | None, failed: bool, pending: bool, limit: int) -> None:
    """The delivery log, newest first: event, status, attempts, the receiver's last
    answer."""
    if failed and pending:
        raise click.UsageError("choose --failed or --pending, not both")
    status = DeliveryStatus.FAILED if failed else DeliveryStatus.PENDING if pending else None
    with _context().database.session() as session:
        rows = deliveries(session, webhook_id=webhook_id, status=status, limit=limit)
    if not rows:
        click.echo("No deliveries" + (f" {status}" if status else "") + ".")
        return
    for row in rows:
        click.echo(_describe(row))


def _describe(row: WebhookDelivery) -> str:
    when = row.created_at.strftime("%Y-%m-%d %H:%M:%S")
    answer = f"HTTP {row.last_status_code}" if row.last_status_code is not None else "-"
    line = (
        f"{row.id}  {when}  webhook {row.webhook_id}  {row.event}  {row.status}  "
        f"attempts {row.attempts}  last {answer}"
    )
    if row.status == DeliveryStatus.PENDING and row.attempts:
        line += f"  next {row.next_attempt_at.strftime('%H:%M:%S')}"
    if row.last_error and row.status != DeliveryStatus.DELIVERED:
        line += f"  ({row.last_error})"
    return line


@webhook_group.command("test")
@click.argument("webhook_id", metavar="ID", type=int)
def test_command(webhook_id: int) -> None:
    """Send webhook ID a `ping` event now, once, and say how the receiver answered."""
    from kb.webhook_delivery import send_ping

    context = _context()
    try:
        row = send_ping(context.database, context.settings, webhook_id)
    except InvalidContribution as error:
        raise _refused(error) from None
    if row.status != DeliveryStatus.DELIVERED:
        raise click.ClickException(f"the ping was not delivered: {_describe(row)}")
    click.echo(f"Delivered: {_describe(row)}")


@webhook_group.command("deliver")
def deliver_command() -> None:
    """Send every delivery that is due now (first attempts and retries), and forget
    log rows older than KB_WEBHOOK_LOG_DAYS. For cron when no `kb serve` runs; with
    servers running it is harmless: no delivery is sent twice at once."""
    from kb.webhook_delivery import deliver_all_due

    context = _context()
    outcomes = deliver_all_due(context.database, context.settings)
    with context.database.session() as session:
        pruned = prune_deliveries(session, context.settings.webhook_log_days)
    tally = {status: 0 for status in DeliveryStatus}
    for outcome in outcomes:
        tally[DeliveryStatus(outcome.status)] += 1
    click.echo(
        f"Sent {len(outcomes)} attempt(s): {tally[DeliveryStatus.DELIVERED]} delivered, "
        f"{tally[DeliveryStatus.PENDING]} to retry, {tally[DeliveryStatus.FAILED]} failed."
        + (f" Forgot {pruned} old log row(s)." if pruned else "")
    )
