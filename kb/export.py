"""`kb export repertoire DIR`: the standard repertoire as Markdown files with front
matter that `kb import` reads back to the same articles."""

from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from kb.models import Article
from kb.repertoire import SECTIONS, repertoire


def article_front_matter(article: Article) -> dict[str, object]:
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
    }


def export_repertoire(session: Session, folder: Path, include_archived: bool = True) -> list[Path]:
    """One file per article; the body repeats the sections for people reading the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for article in repertoire(session, include_archived=include_archived):
        front = yaml.safe_dump(
            article_front_matter(article), sort_keys=False, allow_unicode=True, width=100
        )
        path = folder / f"{article.entry.external_id}.md"
        path.write_text(f"---\n{front}---\n{article.entry.body}\n", encoding="utf-8")
        written.append(path)
    return written
