"""What the commands share: settings, the database, the model (loaded only when a
command needs it), clear errors and progress bars.

The CLI is the composition root: it may import every layer. Heavy layers (the model,
FAISS, the web app) are imported inside the functions that need them, so that
`kb --help` and the small commands start in a fraction of a second."""

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import click

from kb.attachments import sweep_after_removals
from kb.database import Database
from kb.notification_email import email_notifications
from kb.notifications import notify_followers
from kb.notify import send_routing_emails
from kb.settings import Settings
from kb.webhook_events import queue_webhook_deliveries


class Context:
    """What commands share; the model loads only when a command needs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queued_deliveries: list[int] = []
        self.started = time.perf_counter()  # what "in all" counts from: the command's start

    @cached_property
    def database(self) -> Database:
        database = Database.from_settings(self.settings)
        with clear_errors():
            database.create_schema()
        send_routing_emails(database.subscribers, self.settings, database)
        notify_followers(database.subscribers, self.settings, database)
        email_notifications(database.subscribers, self.settings, database)
        sweep_after_removals(database.subscribers, self.settings.attachments_dir, database)
        queue_webhook_deliveries(
            database.subscribers, self.settings, database, on_queued=self.queued_deliveries.extend
        )
        return database

    def close(self) -> None:
        """When the command ends: send the webhook deliveries it queued, once each. No new
        attempt starts after KB_WEBHOOK_TIMEOUT_SECONDS (and each ends within it); what
        failed or was left is retried by `kb serve` or `kb webhook deliver`."""
        if not self.queued_deliveries:
            return
        from kb.webhook_delivery import deliver_all_due

        queued, self.queued_deliveries = self.queued_deliveries, []
        deadline = time.monotonic() + self.settings.webhook_timeout_seconds
        deliver_all_due(self.database, self.settings, ids=queued, deadline=deadline)

    @cached_property
    def embedder(self) -> Any:
        from indexer.embedder import embedder_for

        return embedder_for(self.settings)

    def engine(self) -> Any:
        from search.engine import SearchEngine
        from search.subscribers import keep_search_current

        engine = SearchEngine.open(self.settings, self.database, self.embedder)
        keep_search_current(self.database.subscribers, engine)
        return engine


def known_errors() -> tuple[type[Exception], ...]:
    from indexer.model_files import ModelNotFound
    from indexer.vectors.saved_index import IndexModelMismatch, IndexUnreadable
    from kb.database import SchemaOutdated
    from kb.sources import ImportRejected
    from kb.sso_groups import SsoSettingsError
    from search.engine import QueryError

    return (
        ImportRejected,
        QueryError,
        IndexModelMismatch,
        IndexUnreadable,
        ModelNotFound,
        SchemaOutdated,
        SsoSettingsError,
    )


@contextmanager
def clear_errors() -> Iterator[None]:
    try:
        yield
    except known_errors() as error:
        raise click.ClickException(str(error)) from error


def on_terminal() -> bool:
    return sys.stderr.isatty()


def stage(doing: str, bar: Any = None) -> None:
    """Say what a long command does next, on a terminal only (logs get the summary);
    above the progress bar if one is shown."""
    if not on_terminal():
        return
    if bar is not None:
        bar.write(f"kb: {doing} …", file=sys.stderr)
    else:
        click.echo(f"kb: {doing} …", err=True)


@contextmanager
def progress_bar(label: str, total: int, unit: str = "entries") -> Iterator[Any]:
    """A live bar (done / total, rate, time left) on a terminal; silent when piped."""
    from tqdm import tqdm

    with tqdm(
        total=total,
        desc=label,
        unit=f" {unit}",
        disable=not on_terminal(),
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        yield bar


pass_context = click.make_pass_decorator(Context)
