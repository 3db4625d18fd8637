"""One ranking from two: reciprocal rank fusion, then the repertoire boost.

Rankings are lists of (entry id, score), best first.
"""

from dataclasses import dataclass

from kb.models import EntryStatus
from kb.settings import Settings
from search.query import SearchMode


@dataclass(frozen=True)
class RankFusion:
    rrf_k: int
    dense_weight: float
    keyword_weight: float
    standard_boost: float
    validated_boost: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "RankFusion":
        return cls(
            settings.rrf_k,
            settings.dense_weight,
            settings.keyword_weight,
            settings.standard_boost,
            settings.validated_boost,
        )

    def fuse(
        self,
        dense: list[tuple[int, float]],
        keyword: list[tuple[int, float]],
        mode: SearchMode,
    ) -> list[tuple[int, float]]:
        """Hybrid: each entry scores weight / (rrf_k + rank) in each ranking it is in."""
        if mode == SearchMode.DENSE:
            return dense
        if mode == SearchMode.KEYWORD:
            return keyword
        fused: dict[int, float] = {}
        for weight, ranking in ((self.dense_weight, dense), (self.keyword_weight, keyword)):
            for rank, (entry_id, _score) in enumerate(ranking, start=1):
                fused[entry_id] = fused.get(entry_id, 0.0) + weight / (self.rrf_k + rank)
        return sorted(fused.items(), key=lambda item: item[1], reverse=True)

    def boost_repertoire(
        self, ranking: list[tuple[int, float]], statuses: dict[int, str]
    ) -> list[tuple[int, float]]:
        """Standard and validated content first among equals (KB_*_BOOST multiply the score)."""
        boosts = {
            str(EntryStatus.STANDARD): self.standard_boost,
            str(EntryStatus.VALIDATED): self.validated_boost,
        }
        rescored = [
            (entry_id, score * boosts.get(statuses.get(entry_id, ""), 1.0))
            for entry_id, score in ranking
        ]
        return sorted(rescored, key=lambda item: item[1], reverse=True)
