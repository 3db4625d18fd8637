"""`kb export repertoire DIR`: the standard repertoire as Markdown files with front
matter that `kb import` reads back to the same articles."""

import shutil
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from kb.attachment_store import path_for
from kb.attachments import attachments_of
from kb.ids import ID_RULE, is_valid_id
from kb.models import Article, Attachment
from kb.repertoire import SECTIONS, repertoire
from kb.visibility import Visibility, visibility_for

ATTACHMENTS_FOLDER = "attachments"


class ExportRefused(Exception):
    """An article's file would not be a plain file in the folder; nothing was written."""


def article_front_matter(
    article: Article, attachments: list[Attachment] | None = None
) -> dict[str, object]:
    entry = article.entry
    return {
        "id": entry.external_id,
        "kind": "article",
        "title": entry.title,
        "author": entry.author.handle,
        "community": entry.community.slug,
        "tags": list(entry.tags),
        "created_at": entry.created_at.isoformat(),
        "status": entry.status,
        "owner": article.owner.handle,
        "scope": article.scope,
        "review_interval_days": article.review_interval_days,
        "next_review_at": article.next_review_at.isoformat(),
        "sources": [link.source.external_id for link in article.sources],
        "sections": {key: article.sections.get(key, "") for key in SECTIONS},
        # The article's images and files, copied next to it (attachments/ID-name).
        "attachments": [
            {"id": a.id, "file": exported_name(a), "content_type": a.content_type}
            for a in attachments or []
        ],
    }


def exported_name(attachment: Attachment) -> str:
    return f"{ATTACHMENTS_FOLDER}/{attachment.id}-{attachment.filename}"


def export_repertoire(
    session: Session,
    folder: Path,
    include_archived: bool = True,
    include_private: bool = False,
    attachments_dir: Path | None = None,
) -> list[Path]:
    """One file per article; the body repeats the sections for people reading the files.
    Articles of members-only communities are left out unless `include_private`.

    Every article's path is checked before the first file is written: an id that is not
    a plain file name, or a path that resolves outside `folder` (`..`, a symbolic link),
    refuses the export with ExportRefused naming the id.

    With `attachments_dir` (KB_HOME/attachments), the articles' attachments are copied
    to `folder/attachments/` and listed in each article's front matter.
    """
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    visibility = Visibility.everything() if include_private else visibility_for(session, None)
    articles = list(repertoire(session, visibility, include_archived=include_archived))
    paths = [_target(root, folder, article.entry.external_id) for article in articles]
    files = attachments_of(session, [a.entry_id for a in articles]) if attachments_dir else {}
    written = []
    for article, path in zip(articles, paths, strict=True):
        attached = files.get(article.entry_id, [])
        front = yaml.safe_dump(
            article_front_matter(article, attached), sort_keys=False, allow_unicode=True, width=100
        )
        path.write_text(f"---\n{front}---\n{article.entry.body}\n", encoding="utf-8")
        written.append(path)
        for attachment in attached:
            assert attachments_dir is not None
            _copy_attachment(root, attachments_dir, attachment)
    return written


def _copy_attachment(root: Path, attachments_dir: Path, attachment: Attachment) -> None:
    source = path_for(attachments_dir, attachment.sha256)
    if not source.is_file():
        return  # the store lost it; kb doctor is where that shows, not the export
    target = root / exported_name(attachment)
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(source, target)


def _target(root: Path, folder: Path, external_id: str) -> Path:
    if not is_valid_id(external_id):
        raise ExportRefused(
            f"export refused, nothing was written: the article id {external_id!r} cannot "
            f"be a file name ({ID_RULE})"
        )
    path = folder / f"{external_id}.md"
    if path.resolve().parent != root:  # defence in depth: a symbolic link, say
        raise ExportRefused(
            f"export refused, nothing was written: the file of article {external_id!r} "
            f"would be {path.resolve()}, outside {root}"
        )
    return path
