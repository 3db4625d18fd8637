"""Learned routing: a ranking model trained on the knowledge base's own history.

`kb tune routing` replays the past problems that got solutions, oldest first. For
each, `search.expert_features.build_pool` gathers the candidate people and their
features as of the problem's date; the people who solved it are the positives (the
accepted solution above other solutions). A logistic regression learns from pairs
within a problem (a solver against a non-solver, an accepted solver against another
solver): pairwise learning to rank. It is linear, so suggesting scores a pool with
one dot product and no learning library; the weights, feature means and scales are
stored as JSON next to the index (KB_HOME/routing-model.json) with the model's
version, training date and the figures it reached on its own newest history.

Below MIN_SOLVED_PROBLEMS solved problems there is too little to learn from (cold
start): kb keeps the explained formula of search.experts and says so.
"""

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from kb.models import utcnow
from search.expert_features import FEATURES, MODEL_FEATURES, Candidate, History, vector

MODEL_FILE = "routing-model.json"
MODEL_VERSION = 1
MIN_SOLVED_PROBLEMS = 30  # below this, cold start: the formula ranks
HOLDOUT_SHARE = 0.2  # newest share of the history held out for the stored figures
REGULARISATION = 1.0  # scikit-learn's C, the same for every knowledge base


@dataclass
class Group:
    """One replayed problem: its candidate pool and who solved it (2 accepted, 1 other)."""

    problem_id: int
    candidates: list[Candidate]
    labels: list[int]


@dataclass
class RoutingModel:
    weights: list[float]
    means: list[float]
    scales: list[float]
    features: list[str] = field(default_factory=lambda: list(MODEL_FEATURES))
    version: int = MODEL_VERSION
    trained_at: str = ""
    trained_on: int = 0  # replayed problems it learned from
    solved_problems: int = 0  # solved problems in the knowledge base when it was trained
    history_to: str = ""  # the newest problem it learned from
    figures: dict[str, float] = field(default_factory=dict)  # on its own newest history

    def scores(self, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        matrix = np.array([vector(c, self.features) for c in candidates], dtype=float)
        standard = (matrix - np.array(self.means)) / np.array(self.scales)
        return [float(s) for s in standard @ np.array(self.weights)]

    def contributions(self, candidate: Candidate) -> dict[str, float]:
        """How much each feature adds to this person's score, against the average person."""
        values = vector(candidate, self.features)
        contributions = dict.fromkeys(FEATURES, 0.0)
        contributions.update(
            {
                name: (value - mean) / scale * weight
                for name, value, mean, scale, weight in zip(
                    self.features, values, self.means, self.scales, self.weights, strict=True
                )
            }
        )
        return contributions

    def save(self, home: Path) -> Path:
        path = home / MODEL_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(path)
        return path


def load_model(home: Path) -> RoutingModel | None:
    """The stored model, or None if there is none or it was built for other features."""
    path = home / MODEL_FILE
    try:
        data = json.loads(path.read_text())
        model = RoutingModel(**data)
    except (OSError, ValueError, TypeError):
        return None
    if model.version != MODEL_VERSION or not set(model.features) <= set(FEATURES):
        return None
    return model


def fit(
    groups: Sequence[Group],
    names: Sequence[str] = MODEL_FEATURES,
    regularisation: float = REGULARISATION,
) -> RoutingModel:
    """Pairwise logistic regression over the pools of the given problems."""
    from sklearn.linear_model import LogisticRegression

    rows = [vector(c, names) for group in groups for c in group.candidates]
    matrix = np.array(rows, dtype=float)
    means = matrix.mean(axis=0)
    scales = matrix.std(axis=0)
    scales[scales == 0] = 1.0
    differences: list[np.ndarray] = []
    for group in groups:
        standard = (np.array([vector(c, names) for c in group.candidates]) - means) / scales
        labels = group.labels
        for i, better in enumerate(labels):
            for j, worse in enumerate(labels):
                if better > worse:
                    differences.append(standard[i] - standard[j])
    pairs = np.array(differences)
    x = np.vstack([pairs, -pairs])
    y = np.array([1] * len(pairs) + [0] * len(pairs))
    learner = LogisticRegression(C=regularisation, fit_intercept=False, max_iter=2000)
    learner.fit(x, y)
    return RoutingModel(
        weights=[float(w) for w in learner.coef_[0]],
        means=[float(m) for m in means],
        scales=[float(s) for s in scales],
        features=list(names),
    )


def rank_group(model: RoutingModel, group: Group) -> list[str]:
    scores = model.scores(group.candidates)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], group.candidates[i].person))
    return [group.candidates[i].person for i in order]


def group_metrics(rankings: Sequence[tuple[list[str], Group]]) -> dict[str, float]:
    """MRR on the accepted solver (any solver if none was accepted), P@1 and Hit@5 on any."""
    totals = {"MRR": 0.0, "P@1": 0.0, "Hit@5": 0.0}
    for ranking, group in rankings:
        solvers = {
            c.person for c, label in zip(group.candidates, group.labels, strict=True) if label
        }
        top = max(group.labels, default=0)
        best = {
            c.person
            for c, label in zip(group.candidates, group.labels, strict=True)
            if label == top
        }
        rank = next((n for n, person in enumerate(ranking, 1) if person in best), None)
        totals["MRR"] += 1.0 / rank if rank else 0.0
        totals["P@1"] += 1.0 if ranking[:1] and ranking[0] in solvers else 0.0
        totals["Hit@5"] += 1.0 if solvers & set(ranking[:5]) else 0.0
    count = len(rankings)
    return {name: value / count if count else 0.0 for name, value in totals.items()}


def training_groups(
    history: History,
    pool_for: Callable[[int], list[Candidate]],
    on_progress: Callable[[], None] | None = None,
) -> list[Group]:
    """Every solved past problem, oldest first, as a group with labels; problems whose
    solvers are all outside the pool (newcomers) teach nothing and are left out."""
    from search.expert_features import replay_problems

    groups = []
    for problem in replay_problems(history):
        labels_by_person: dict[str, int] = {}
        for solution in history.solutions_of[problem.entry_id]:
            if solution.author == problem.author:
                continue
            grade = 2 if solution.accepted else 1
            labels_by_person[solution.author] = max(labels_by_person.get(solution.author, 0), grade)
        candidates = pool_for(problem.entry_id)
        if on_progress:
            on_progress()
        labels = [labels_by_person.get(c.person, 0) for c in candidates]
        if any(labels) and not all(labels):
            groups.append(Group(problem.entry_id, candidates, labels))
    return groups


def train(history: History, groups: list[Group], now: datetime | None = None) -> RoutingModel:
    """Measure on the newest HOLDOUT_SHARE (trained on the rest), then fit on all."""
    split = max(int(len(groups) * (1 - HOLDOUT_SHARE)), 1)
    older, newer = groups[:split], groups[split:]
    figures: dict[str, float] = {}
    if older and newer:
        held = fit(older)
        figures = group_metrics([(rank_group(held, g), g) for g in newer])
        figures["held_out_problems"] = float(len(newer))
        popular = fit_popularity()
        base = group_metrics([(rank_group(popular, g), g) for g in newer])
        figures["popularity_MRR"] = base["MRR"]
    model = fit(groups)
    model.trained_at = (now or utcnow()).isoformat(timespec="seconds")
    model.trained_on = len(groups)
    newest = max((history.posts[g.problem_id].created_at for g in groups), default=None)
    model.history_to = newest.isoformat(timespec="seconds") if newest else ""
    model.figures = {name: round(value, 4) for name, value in figures.items()}
    return model


def fit_popularity() -> RoutingModel:
    """Most solutions before the date first: the baseline, as a model of one weight."""
    return RoutingModel(weights=[1.0], means=[0.0], scales=[1.0], features=["solved_all"])


def explain(model: RoutingModel, candidate: Candidate, limit: int = 3) -> list[str]:
    """The strongest reasons for a suggestion, in words, strongest first."""
    contributions = model.contributions(candidate)
    phrases: list[tuple[float, str]] = []
    accepted_cases = sum(1 for _, accepted in candidate.cases if accepted)
    solved_cases = len(candidate.cases)

    def part(*names: str) -> float:
        return sum(contributions[name] for name in names)

    similar = part(
        "dense_best", "dense_votes", "keyword_best", "keyword_votes", "formula", "formula_rel"
    )
    if accepted_cases:
        noun = "case" if accepted_cases == 1 else "cases"
        phrases.append(
            (
                similar + contributions["accepted_similar"],
                f"accepted on {accepted_cases} {noun} like this one",
            )
        )
    elif solved_cases:
        noun = "case" if solved_cases == 1 else "cases"
        phrases.append((similar, f"solved {solved_cases} {noun} like this one"))
    if candidate.best_tag:
        tag, recent, total = candidate.best_tag
        strength = part("tag_solved", "tag_solved_90d", "tag_share", "tag_solved_rel")
        if recent:
            noun = "problem" if recent == 1 else "problems"
            phrases.append((strength, f"solved {recent} {noun} tagged `{tag}` in the last 90 days"))
        else:
            noun = "problem" if total == 1 else "problems"
            phrases.append((strength, f"solved {total} {noun} tagged `{tag}`"))
    if candidate.solved_30d:
        noun = "problem" if candidate.solved_30d == 1 else "problems"
        strength = part(
            "solved_30d", "solved_90d", "solved_30d_rel", "solved_90d_rel", "days_since_last"
        )
        phrases.append((strength, f"solved {candidate.solved_30d} {noun} in the last 30 days"))
    if candidate.declared:
        shown = ", ".join(candidate.declared[:3])
        phrases.append((contributions["declared"] + 1e-6, f"declares expertise in {shown}"))
    solved_all = round(math.expm1(candidate.features["solved_all"]))
    if solved_all and not candidate.solved_30d:
        noun = "problem" if solved_all == 1 else "problems"
        phrases.append((part("solved_all", "solved_all_rel"), f"solved {solved_all} {noun} in all"))
    phrases.sort(key=lambda item: -item[0])
    return [text for strength, text in phrases if strength > 0][:limit] or [
        text for _, text in phrases[:1]
    ]
