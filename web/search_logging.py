"""Writing the search log from the pages and the Ask page's lookups."""

import time
from collections import deque

from fastapi import Request
from sqlalchemy.orm import Session

from kb.search_log import log_search
from search.engine import SearchResults
from web.auth import visitor_key


class SearchLogLimit:
    """At most PER_VISITOR new search-log rows a minute per browser session, and at most
    PER_ADDRESS per client address (a script that drops its cookie is a new visitor on
    every request). The searches themselves always run; only the rows past the limit are
    not written, so nobody can flood the log that the tutors' console reads its gaps from.

    Counted in each server process: with N workers an address can log up to N times as
    many, which still bounds the flood. Held in memory, at most MAX_KEYS keys."""

    PER_VISITOR = 20
    PER_ADDRESS = 60
    WINDOW_SECONDS = 60.0
    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}

    def allow(self, visitor: str, address: str, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        keys = ((f"v:{visitor}", self.PER_VISITOR), (f"a:{address}", self.PER_ADDRESS))
        windows = [(self._window(key, moment), limit) for key, limit in keys]
        if any(len(window) >= limit for window, limit in windows):
            return False
        for window, _limit in windows:
            window.append(moment)
        return True

    def _window(self, key: str, moment: float) -> deque[float]:
        window = self._recent.get(key)
        if window is None:
            if len(self._recent) >= self.MAX_KEYS:
                self._forget_idle(moment)
            window = self._recent[key] = deque()
        while window and window[0] <= moment - self.WINDOW_SECONDS:
            window.popleft()
        return window

    def _forget_idle(self, moment: float) -> None:
        cutoff = moment - self.WINDOW_SECONDS
        idle = [key for key, window in self._recent.items() if not window or window[-1] <= cutoff]
        for key in idle:
            del self._recent[key]
        if len(self._recent) >= self.MAX_KEYS:  # all busy: start afresh rather than grow
            self._recent.clear()


def record_search(
    request: Request,
    session: Session,
    kind: str,
    query: str,
    results: SearchResults,
    community: str | None,
) -> int | None:
    """Log a page search or an Ask draft; returns the log row's id for ?s= links, or None
    when this visitor or address is over the search log's rate limit."""
    settings = request.app.state.settings
    limit: SearchLogLimit = request.app.state.search_log_limit
    viewer = getattr(request.state, "viewer", None)
    visitor = visitor_key(request)
    address = request.client.host if request.client else ""
    dense = [hit.dense_score for hit in results.hits if hit.dense_score is not None]
    entry = log_search(
        session,
        kind=kind,
        query=query,
        hits=results.total,
        best_similarity=max(dense) if dense else None,
        visitor=visitor,
        community=community,
        person=viewer if settings.log_searcher_identity else None,
        may_add_row=lambda: limit.allow(visitor, address),
    )
    return None if entry is None else entry.id
