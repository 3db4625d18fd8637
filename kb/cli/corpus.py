"""`kb import`, `kb reindex`, `kb remove` and `kb demo`."""

import time
from pathlib import Path

import click

from kb.cli.context import Context, clear_errors, pass_context, progress_bar, stage
from kb.cli.serve import serve_app


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--index/--no-index",
    default=True,
    show_default=True,
    help="Embed new and changed entries right after importing.",
)
@click.option(
    "--update-roles",
    is_flag=True,
    help="Give people who already exist the roles people.yaml says (e.g. admin). Without "
    "it their roles are kept, and every difference is listed.",
)
@pass_context
def import_command(context: Context, path: Path, index: bool, update_roles: bool) -> None:
    """Import entries from PATH: a corpus folder or a JSONL file.

    A folder holds Markdown files with YAML front matter (one entry each),
    people.yaml and organisation.yaml; see corpus/README.md. A JSONL file has
    one entry per line: {id, kind, title, body, author, tags, community,
    created_at, solves, accepted}.

    All or nothing: if any file or line is malformed, every problem is listed
    with its file and line and the database is left unchanged. Importing the
    same ids again updates those entries. Ids (of entries, people and
    communities) are ASCII letters, digits and . _ -, starting with a letter or
    digit.

    People who already exist keep their roles unless --update-roles is given;
    the roles that differ from people.yaml are listed either way.
    """
    from kb.importer import import_batch
    from kb.sources import read_source

    with clear_errors():
        stage(f"reading {path}")
        batch = read_source(path)
        with progress_bar("importing", len(batch.entries)) as bar:
            summary = import_batch(
                context.database,
                batch,
                context.settings.default_community,
                bar.update,
                update_roles=update_roles,
            )
    rate = summary.entries / summary.seconds if summary.seconds else 0.0
    click.echo(
        f"Imported {summary.entries} entries from {summary.files} files in "
        f"{summary.seconds:.1f} s ({rate:.0f} entries/s): {summary.created} new, "
        f"{summary.updated} updated, {summary.unchanged} unchanged; "
        f"{summary.people_created} new people, {summary.communities_created} new communities."
    )
    if summary.role_changes:
        verb = "changed" if update_roles else "kept (people.yaml differs)"
        click.echo(f"Roles {verb} for {len(summary.role_changes)} existing people:")
        for change in summary.role_changes:
            click.echo(f"  {change}")
    if index:
        run_reindex(context, full=False)


def run_reindex(context: Context, full: bool) -> None:
    """Reindex and print one line. The model is loaded only if there is something to
    embed: loading it (and importing its runtime) is most of a run that finds nothing."""
    from indexer.model_files import embedding_model_id
    from indexer.pipeline import build_splitter, index_params, plan_reindex, reindex

    started = context.started
    settings = context.settings
    params = index_params(settings)
    with clear_errors():
        model_id = embedding_model_id(settings.embedding_model, settings.embedding_backend)
        plan = plan_reindex(context.database, model_id, settings.index_dir, full, params)
        if plan.up_to_date:
            click.echo(
                f"The index is current: {plan.counts.describe()}, {plan.vectors_in_index} "
                "vectors; nothing to embed, so the model was not loaded "
                f"({time.perf_counter() - started:.1f} s)."
            )
            return
        if plan.stale:
            stage(f"loading the embedding model to embed {len(plan.stale)} entries")
        loading = time.perf_counter()
        embedder = context.embedder
        loaded_in = time.perf_counter() - loading
        splitter = build_splitter(settings, embedder)
        with progress_bar("embedding", len(plan.stale)) as bar:
            summary = reindex(
                context.database,
                embedder,
                splitter,
                settings.index_dir,
                full=full,
                on_progress=bar.update,
                on_total=lambda total: bar.reset(total) if total != bar.total else None,
                params=params,
                on_stage=lambda doing: stage(doing, bar),
            )
    built = (
        f" ({summary.index_type}, built in {summary.build_seconds:.1f} s)"
        if summary.rebuilt_index
        else ""
    )
    click.echo(
        f"Indexed: {summary.embedded} embedded ({plural(summary.passages, 'passage')}), "
        f"{summary.skipped} unchanged, {summary.removed} removed, of "
        f"{summary.counts.describe()}; {summary.vectors_in_index} vectors in the index{built}; "
        f"{time.perf_counter() - started:.1f} s in all (model loaded in {loaded_in:.1f} s), "
        f"{summary.entries_per_second:.1f} entries/s."
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@click.command("reindex")
@click.option("--full", is_flag=True, help="Re-embed every entry and rebuild the index.")
@pass_context
def reindex_command(context: Context, full: bool) -> None:
    """Bring the search index up to date with the database.

    Only new or changed entries are embedded (their content hash differs from
    the one their stored vectors were made from); then the FAISS index is
    rebuilt from the stored vectors and swapped in atomically. A crash midway
    leaves the previous index in use. --full re-embeds everything.
    """
    run_reindex(context, full)


@click.command("remove")
@click.argument("ids", nargs=-1, required=True)
@pass_context
def remove_command(context: Context, ids: tuple[str, ...]) -> None:
    """Delete the entries IDS (their ids, as `kb search` shows them); they leave
    search at the next reindex or restart."""
    from kb.entries import remove_entries

    removed = remove_entries(context.database, list(ids))
    missing = sorted(set(ids) - set(removed))
    click.echo(
        f"Removed {len(removed)} entries."
        + (f" Not found: {', '.join(missing)}" if missing else "")
    )


# Stated in the README; set only by `kb demo`, only for people who have no password yet.
DEMO_PASSWORD = "brightwater-demo"


@click.command("demo")
@click.option(
    "--corpus",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Corpus folder [default: the corpus/ shipped with kb].",
)
@click.option("--host", default=None, help="Address to listen on [default: KB_HOST or 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [default: KB_PORT or 8000].")
@click.option("--no-serve", is_flag=True, help="Import and index only.")
@click.pass_context
def demo_command(
    ctx: click.Context, corpus: Path | None, host: str | None, port: int | None, no_serve: bool
) -> None:
    """Load the demo corpus, index it and serve it on http://127.0.0.1:8000.

    Everyone may read without signing in; every demo person signs in with the
    demo password (see the README), for example as leon.fischer.
    """
    from kb.accounts import set_password_for_all

    context: Context = ctx.obj
    folder = corpus or shipped_corpus()
    ctx.invoke(import_command, path=folder, index=True)
    with context.database.session() as session:
        set_password_for_all(session, DEMO_PASSWORD)
    click.echo(f"Demo people sign in with the password {DEMO_PASSWORD!r}.")
    if not no_serve:
        settings = context.settings.model_copy(update={"public_read": True})
        serve_app(settings, host, port, demo_password=DEMO_PASSWORD)


def shipped_corpus() -> Path:
    folder = Path(__file__).resolve().parents[2] / "corpus"
    if not folder.is_dir():
        raise click.ClickException("the demo corpus is not installed here; pass --corpus PATH")
    return folder
