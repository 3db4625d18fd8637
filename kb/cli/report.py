"""`kb report`: the tutors' console in the terminal."""

import json
from datetime import datetime, timedelta

import click


def _cell(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.0f}%" if percent else f"{value:g}"


@click.command("report")
@click.option("--community", default=None, help="Only this community (slug) [default: all].")
@click.option(
    "--since",
    "since_text",
    default=None,
    metavar="YYYY-MM-DD",
    help="Start of the period [default: 8 weeks ago].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def report_command(community: str | None, since_text: str | None, as_json: bool) -> None:
    """Community health per week (problems asked and solved, median hours to the first
    answer and to the accepted solution, share solved, reuses, active contributors),
    the top helpers, and the largest knowledge gaps (failed searches and unanswered
    problems grouped by meaning).
    """
    from kb.health import community_health
    from kb.models import utcnow
    from search.gaps import find_gaps

    context = click.get_current_context().find_root().obj
    now = utcnow()
    try:
        since = datetime.fromisoformat(since_text) if since_text else now - timedelta(weeks=8)
    except ValueError:
        raise click.BadParameter(f"{since_text!r} is not a date", param_hint="--since") from None
    with context.database.session() as session:
        report = community_health(session, since=since, community=community, now=now)
        gaps = find_gaps(
            context.engine(), session, context.settings, since=since, community=community, now=now
        )
    if as_json:
        data = report.as_dict()
        data["gaps"] = [
            {"label": g.label, "size": g.size, "trend": g.trend, "examples": g.examples}
            for g in gaps
        ]
        click.echo(json.dumps(data, indent=2))
        return
    scope = community or "all communities"
    click.echo(f"Community health, {scope}, {report.since} to {report.until}")
    click.echo(
        f"{'week':<12}{'asked':>6}{'solved':>7}{'share':>7}{'1st ans h':>10}"
        f"{'solution h':>11}{'reuses':>7}{'people':>7}"
    )
    for week in report.weeks:
        click.echo(
            f"{week.week.isoformat():<12}{week.asked:>6}{week.solved:>7}"
            f"{_cell(week.share_solved, percent=True):>7}{_cell(week.hours_to_first_answer):>10}"
            f"{_cell(week.hours_to_solution):>11}{week.reuses:>7}{week.contributors:>7}"
        )
    share = _cell(report.share_solved, percent=True)
    click.echo(
        f"{'total':<12}{report.asked:>6}{report.solved:>7}{share:>7}{'':>21}{report.reuses:>7}"
    )
    click.echo("\nTop helpers:")
    for helper in report.top_helpers or []:
        click.echo(
            f"  {helper.name} ({helper.handle}): {helper.solutions} solutions, "
            f"{helper.accepted} accepted"
        )
    if not report.top_helpers:
        click.echo("  nobody wrote a solution in this period")
    click.echo("\nLargest knowledge gaps:")
    for gap in gaps[:5]:
        examples = "; ".join(gap.examples[:2])
        click.echo(f"  [{gap.size}] {gap.label} — e.g. {examples}")
    if not gaps:
        click.echo("  none: every search found something close and every problem has an answer")
