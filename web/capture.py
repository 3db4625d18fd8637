"""What happens after something new is written: it becomes searchable at once, and a
new solution or practice closes the knowledge gaps it answers."""

from sqlalchemy.orm import Session

from kb.models import Entry
from search.engine import SearchEngine
from search.gaps import close_gaps_answered_by


def after_saving(session: Session, engine: SearchEngine, entry: Entry) -> None:
    """Call after the entry is committed."""
    engine.index_entries([entry.id])
    closed = close_gaps_answered_by(session, entry, engine.settings.failed_search_similarity)
    if closed:
        session.commit()
