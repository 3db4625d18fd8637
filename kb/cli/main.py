"""The `kb` command: import, index, search, evaluate and serve a knowledge base."""

import click

from kb.cli.accounts import token_group, user_group
from kb.cli.community import community_group
from kb.cli.context import Context
from kb.cli.corpus import demo_command, import_command, reindex_command, remove_command
from kb.cli.db import backup_command, db_group, doctor_command, restore_command, status_command
from kb.cli.digest import digest_command
from kb.cli.export import export_group
from kb.cli.report import report_command
from kb.cli.reviews import reviews_group
from kb.cli.routing import escalate_command
from kb.cli.searching import eval_command, experts_command, search_command
from kb.cli.serve import serve_command
from kb.cli.tune import tune_group
from kb.cli.webhooks import webhook_group
from kb.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="kb")
@click.pass_context
def main(ctx: click.Context) -> None:
    """kb: search what your organisation already knows, before you ask.

    Data lives in the folder KB_HOME (default ./kb-data): a SQLite database and
    the search index. Set KB_DATABASE_URL to use another database.

    \b
    Quick start:
      kb import corpus/        load the demo knowledge base (and index it)
      kb search "VPN error"    search it
      kb user add ana.silva    someone who can sign in (--role admin for all rights)
      kb serve                 open http://127.0.0.1:8000 and sign in
    Reading the web app needs a signed-in user, unless KB_PUBLIC_READ=1
    lets everyone read without one. `kb demo` does all of this at once.
    """
    ctx.obj = Context(Settings())
    ctx.call_on_close(ctx.obj.close)  # sends the webhook deliveries the command queued


for command in (
    import_command,
    reindex_command,
    search_command,
    eval_command,
    experts_command,
    remove_command,
    status_command,
    serve_command,
    demo_command,
    report_command,
    export_group,
    user_group,
    token_group,
    community_group,
    escalate_command,
    digest_command,
    db_group,
    tune_group,
    doctor_command,
    backup_command,
    restore_command,
    webhook_group,
    reviews_group,
):
    main.add_command(command)
