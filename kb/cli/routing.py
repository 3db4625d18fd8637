"""`kb escalate`: send routed problems that stayed unanswered to their tutors."""

from datetime import datetime

import click

from kb.escalation import escalate_overdue


@click.command("escalate")
@click.option(
    "--days",
    type=float,
    default=None,
    help="Deadline in days [default: KB_ESCALATION_DAYS].",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="YYYY-MM-DDTHH:MM",
    help="Pretend it is this time (UTC), for trying the rule out [default: now].",
)
def escalate_command(days: float | None, now_text: str | None) -> None:
    """Escalate open problems that were routed to people more than the deadline ago and
    still have no solution: each goes to its community's tutors (any tutor if it has
    none), once. Run it from cron, for example hourly.
    """
    context = click.get_current_context().find_root().obj
    try:
        now = datetime.fromisoformat(now_text) if now_text else None
    except ValueError:
        raise click.BadParameter(
            f"{now_text!r} is not a date and time", param_hint="--now"
        ) from None
    deadline = days if days is not None else context.settings.escalation_days
    with context.database.session() as session:
        escalated = escalate_overdue(session, deadline, now=now)  # e-mailed once committed
        for routing in escalated:
            click.echo(
                f"{routing.problem.external_id} → {routing.person.handle} (tutor): {routing.note}"
            )
        click.echo(f"Escalated {len(escalated)} request(s); deadline {deadline:g} days.")
