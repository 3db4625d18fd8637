"""`kb reviews notify`: announce repertoire articles whose review is due."""

from datetime import datetime

import click

from kb.reviews import announce_due_reviews


@click.group("reviews")
def reviews_group() -> None:
    """Reviews of standard-repertoire articles."""


@reviews_group.command("notify")
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="YYYY-MM-DDTHH:MM",
    help="Pretend it is this time (UTC), for trying it out [default: now].",
)
def notify_command(now_text: str | None) -> None:
    """Announce the articles whose review date has passed, or whose review was asked
    for, once per due date: webhooks that chose `review.due` hear of each. Running it
    again announces nothing new. Run it from cron, for example daily:

    \b
      0 6 * * *    kb reviews notify
    """
    context = click.get_current_context().find_root().obj
    try:
        now = datetime.fromisoformat(now_text) if now_text else None
    except ValueError:
        raise click.BadParameter(
            f"{now_text!r} is not a date and time", param_hint="--now"
        ) from None
    with context.database.session() as session:
        due = announce_due_reviews(session, now)
        for item in due:
            article = item.article
            click.echo(
                f"{article.entry.external_id}: {item.state} since "
                f"{item.due_at:%Y-%m-%d} (owner {article.owner.handle})"
            )
    click.echo(f"Announced {len(due)} article(s) due for review.")
