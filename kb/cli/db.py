"""`kb db upgrade`, `kb status`, `kb doctor`, `kb backup` and `kb restore`."""

import json
import sqlite3
from pathlib import Path

import click
from sqlalchemy import make_url

from kb.attachment_store import copy_folder, sweep_unreferenced
from kb.cli.context import Context, clear_errors, pass_context
from kb.cli.corpus import run_reindex
from kb.database import Database
from kb.index_state import move_generation_past
from kb.models import EntryKind
from kb.settings import Settings


def _database(settings: Settings) -> Database:
    """The database without the start-up check: these commands work on any revision."""
    return Database.from_settings(settings)


@click.group("db")
def db_group() -> None:
    """The database schema: see its revision and upgrade it."""


@db_group.command("upgrade")
@pass_context
def db_upgrade_command(context: Context) -> None:
    """Apply every pending schema migration (back the database up first).

    kb refuses to start on a database made for an older kb until this has run.
    A new, empty database needs no upgrade: kb creates it at the newest revision.
    """
    database = _database(context.settings)
    try:
        with clear_errors():
            before, after = database.upgrade_schema()
    finally:
        database.dispose()
    if before == after:
        click.echo(f"The database is up to date (revision {after}).")
    else:
        click.echo(f"Upgraded the database from revision {before or '(none)'} to {after}.")


@db_group.command("current")
@pass_context
def db_current_command(context: Context) -> None:
    """Print the database's schema revision and the one this kb needs."""
    from kb import migrate

    database = _database(context.settings)
    try:
        with database.engine.connect() as connection:
            revision = migrate.current_revision(connection)
    finally:
        database.dispose()
    head = migrate.head_revision()
    state = "up to date" if revision == head else "run `kb db upgrade`"
    click.echo(f"database revision {revision or '(none)'}; this kb needs {head}: {state}")


@click.command("doctor")
@click.option("--fix", is_flag=True, help="Repair what is found, then reindex.")
@pass_context
def doctor_command(context: Context, fix: bool) -> None:
    """Check that the database, its vectors, the keyword index and the index agree.

    \b
    Checks: entries without vectors (new, changed, or marked embedded without
    any), vectors without entries, vectors or an index made with another model
    than the configured one, a keyword index that is missing or out of date,
    and index files behind the database. Exits with 1 if anything is wrong.
    --fix deletes orphaned vectors, rebuilds the keyword index, and reindexes
    (embedding only what needs it).
    """
    from search.doctor import diagnose, repair
    from search.learned_routing import routing_status

    with clear_errors():
        findings = diagnose(context.settings, context.database)
        with context.database.session() as session:
            routing = routing_status(context.settings.home, session)
    for finding in findings:
        click.echo(f"✗ {finding.check}: {finding.problem}")
    # Not a fault: which ranking suggests people, and whether to retrain it.
    click.echo(f"{'!' if routing.stale else 'i'} routing: {routing.reason}")
    if not findings:
        click.echo("✓ the database, the vectors, the keyword index and the index agree.")
        return
    if not fix:
        click.echo("Run `kb doctor --fix` to repair.")
        raise SystemExit(1)
    for done in repair(context.database, findings):
        click.echo(f"fixed: {done}")
    run_reindex(context, full=False)
    with clear_errors():
        remaining = diagnose(context.settings, context.database)
    for finding in remaining:
        click.echo(f"✗ still: {finding.check}: {finding.problem}")
    if remaining:
        raise SystemExit(1)
    click.echo("✓ repaired: the database, the vectors, the keyword index and the index agree.")


def _sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise click.ClickException(
            "kb backup and kb restore copy a SQLite database; back up PostgreSQL with "
            "pg_dump and restore it with pg_restore (see the README)"
        )
    return Path(url.database)


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def backup_command(context: Context, file: Path) -> None:
    """Copy the SQLite database to FILE while kb keeps running (SQLite's online backup),
    and the attached images and files to the folder FILE.attachments next to it.

    The index files need no backup: they are rebuilt from the vectors stored in
    the database. For PostgreSQL use pg_dump (see the README).
    """
    source_path = _sqlite_path(context.settings)
    if not source_path.exists():
        raise click.ClickException(f"there is no database at {source_path} to back up")
    if file.exists() or attachments_backup(file).exists():
        raise click.ClickException(f"{file} exists already; name a new file")
    file.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(file)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()
    copied = copy_folder(context.settings.attachments_dir, attachments_backup(file))
    click.echo(
        f"Backed up {source_path} to {file} ({file.stat().st_size:,} bytes) and "
        f"{copied} attached file(s) to {attachments_backup(file)}."
    )


def attachments_backup(file: Path) -> Path:
    """Where `kb backup FILE` puts the attachments: the folder FILE.attachments."""
    return file.with_name(file.name + ".attachments")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database.")
@pass_context
def restore_command(context: Context, file: Path, yes: bool) -> None:
    """Replace the SQLite database with the backup FILE (made by `kb backup`), and the
    attached files with those in FILE.attachments.

    Stop the servers first. The search index is rebuilt from the restored
    vectors when a server starts or at the next `kb reindex`.
    """
    target_path = _sqlite_path(context.settings)
    backup = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in backup.execute("SELECT name FROM sqlite_master")}
        check = backup.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as error:
        backup.close()
        raise click.ClickException(f"{file} is not a SQLite database ({error})") from error
    if not {"entries", "index_state"} <= tables or check != ("ok",):
        backup.close()
        raise click.ClickException(f"{file} is not a kb backup, or it is damaged")
    if not yes:
        click.confirm(f"Replace {target_path} with {file}?", abort=True)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    target = sqlite3.connect(target_path)
    try:
        with target:
            backup.backup(target)
    finally:
        target.close()
        backup.close()
    database = _database(context.settings)
    try:
        with clear_errors():
            database.create_schema()  # refuses a backup from an older kb: kb db upgrade
        _invalidate_index(context.settings, database)
        copy_folder(attachments_backup(file), context.settings.attachments_dir)
        with database.session() as session:
            sweep_unreferenced(session, context.settings.attachments_dir)
    finally:
        database.dispose()
    click.echo(f"Restored {target_path} from {file}.")


def _invalidate_index(settings: Settings, database: Database) -> None:
    """Move the generation past the index files', so every server rebuilds from the database."""
    from indexer.vectors.saved_index import IndexUnreadable, read_meta

    try:
        meta = read_meta(settings.index_dir)
    except IndexUnreadable:
        meta = None
    with database.session() as session:
        move_generation_past(session, meta.generation if meta else 0)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_context
def status_command(context: Context, as_json: bool) -> None:
    """Show what is in the database and the index."""
    from indexer.status import collect_status
    from search.learned_routing import routing_status

    status = collect_status(context.settings, context.database)
    described = status.pop("entries_described")
    with context.database.session() as session:
        status["routing"] = routing_status(context.settings.home, session).reason
    if as_json:
        click.echo(json.dumps(status, indent=2, default=str))
        return
    by_kind = {f"{kind}s" for kind in EntryKind}  # in the entries line already
    for key, value in status.items():
        if key not in by_kind:
            click.echo(f"{key:<22} {described if key == 'entries' else value}")
