"""What search does when a write is announced, after it has committed: new or edited
entries become searchable at once, removed ones leave the live index, and a new
solution or practice closes the knowledge gaps it answers.

The web app and the CLI subscribe these once, where they open the search engine; no
write path calls them by hand.
"""

from kb.announcements import EntriesRemoved, EntrySaved, Subscribers
from kb.gaps import close_gaps_answered_by
from kb.models import Entry
from search.engine import SearchEngine


def keep_search_current(subscribers: Subscribers, engine: SearchEngine) -> None:
    def index_saved(saved: EntrySaved) -> None:
        engine.index_entries([saved.entry_id])

    def close_answered_gaps(saved: EntrySaved) -> None:
        # Its own session: the writer's transaction is over (kb.announcements).
        with engine.database.session() as session:
            entry = session.get(Entry, saved.entry_id)
            threshold = engine.settings.failed_search_similarity
            if entry is not None:
                close_gaps_answered_by(session, entry, threshold)

    def forget_removed(removed: EntriesRemoved) -> None:
        engine.forget_entries(list(removed.entry_ids))

    subscribers.subscribe(EntrySaved, index_saved)
    subscribers.subscribe(EntrySaved, close_answered_gaps)  # after indexing: it reads the vectors
    subscribers.subscribe(EntriesRemoved, forget_removed)
