"""`kb digest`: e-mail each daily or weekly person a digest of their notifications."""

import click

from kb.models import EmailSetting
from kb.notification_email import DigestNotSent, send_digests


@click.command("digest")
@click.option(
    "--period",
    type=click.Choice([EmailSetting.DAILY.value, EmailSetting.WEEKLY.value]),
    required=True,
    help="Whose digest to send: people who chose a daily or a weekly one.",
)
def digest_command(period: str) -> None:
    """E-mail a digest to everyone whose notification e-mail setting is PERIOD: their
    unread notifications that were not e-mailed yet, one e-mail per person, over
    KB_SMTP_HOST. Running it again sends nothing new, so it is safe to repeat.

    \b
    Run it from cron, for example:
      0 7 * * *    kb digest --period daily
      0 7 * * 1    kb digest --period weekly
    """
    context = click.get_current_context().find_root().obj
    settings = context.settings
    if not settings.smtp_host:
        raise click.ClickException("KB_SMTP_HOST is not set: there is no mail server to send to")
    with context.database.session() as session:
        try:
            sent = send_digests(session, settings, EmailSetting(period))
        except DigestNotSent as error:
            raise click.ClickException(str(error)) from error
    for person, count in sent:
        click.echo(f"{person.handle}: {count} notification(s)")
    click.echo(f"Sent {len(sent)} {period} digest(s).")
