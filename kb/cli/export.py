"""`kb export …`: write parts of the knowledge base out as files."""

from pathlib import Path

import click


@click.group("export")
def export_group() -> None:
    """Write parts of the knowledge base out as files."""


@export_group.command("repertoire")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-archived", is_flag=True, help="Leave archived articles out.")
@click.option(
    "--include-private",
    is_flag=True,
    help="Also write the articles of members-only communities (left out by default, "
    "since the files go wherever FOLDER is shared).",
)
def export_repertoire_command(folder: Path, no_archived: bool, include_private: bool) -> None:
    """Write every repertoire article to FOLDER as Markdown with front matter (sections,
    sources, owner, scope, review schedule). `kb import FOLDER` reads them back; the
    source cases must be in the knowledge base it is imported into. The articles' images
    and files are copied to FOLDER/attachments.
    """
    from kb.export import ExportRefused, export_repertoire

    context = click.get_current_context().find_root().obj
    with context.database.session() as session:
        try:
            written = export_repertoire(
                session,
                folder,
                include_archived=not no_archived,
                include_private=include_private,
                attachments_dir=context.settings.attachments_dir,
            )
        except ExportRefused as error:
            raise click.ClickException(str(error)) from error
    click.echo(f"Wrote {len(written)} article(s) to {folder}.")
