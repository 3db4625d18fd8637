"""Reading an import: a corpus folder (Markdown with front matter, YAML) or JSONL.

Everything is parsed and validated first; a problem anywhere is reported with
its file and line, and nothing is written. One file (over 300 lines) because every
format shares the one way of locating and reporting a problem.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kb.records import CommunityRecord, EntryRecord, PersonRecord

Record = TypeVar("Record", bound=BaseModel)

ORGANISATION_FILES = {"organisation.yaml", "organization.yaml", "communities.yaml"}
PEOPLE_FILES = {"people.yaml"}
SKIPPED_MARKDOWN = {"readme.md"}
# A record is a few levels deep (an entry's `sections`, a person's `roles`). Far deeper
# input would exhaust the parsers' recursion, and YAML aliases can make a small file
# stand for billions of values: both are refused before any record is built.
MAX_NESTING = 20
MAX_VALUES = 1_000_000  # per JSON line or YAML document, each use of an alias counted
TOO_DEEP = f"nested too deeply (more than {MAX_NESTING} levels)"


@dataclass(frozen=True)
class Location:
    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ImportRejected(Exception):
    """The import was refused; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {problem}" for problem in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"import refused, nothing was written ({count}):\n{shown}{more}")


@dataclass(frozen=True)
class Located(Generic[Record]):
    record: Record
    location: Location


@dataclass
class ImportBatch:
    communities: list[Located[CommunityRecord]] = field(default_factory=list)
    people: list[Located[PersonRecord]] = field(default_factory=list)
    entries: list[Located[EntryRecord]] = field(default_factory=list)
    default_community: str | None = None
    files: int = 0


def read_source(path: Path) -> ImportBatch:
    """Parse and validate everything under `path`; raises ImportRejected."""
    if not path.exists():
        raise ImportRejected([Problem(Location(path, 0), "no such file or folder")])
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    batch = ImportBatch()
    problems: list[Problem] = []
    for file in files:
        name = file.name.lower()
        if any(part.startswith(".") for part in file.relative_to(path).parts if path.is_dir()):
            continue
        if name in ORGANISATION_FILES:
            _read_organisation(file, batch, problems)
        elif name in PEOPLE_FILES:
            _read_people(file, batch, problems)
        elif name.endswith(".md") and name not in SKIPPED_MARKDOWN:
            _read_markdown(file, batch, problems)
        elif name.endswith(".jsonl"):
            _read_jsonl(file, batch, problems)
        elif not path.is_dir():
            problems.append(
                Problem(
                    Location(file, 0), "not a .md, .jsonl, people.yaml or organisation.yaml file"
                )
            )
            continue
        else:
            continue
        batch.files += 1
    problems.extend(_duplicate_ids(batch))
    if problems:
        raise ImportRejected(problems)
    return batch


def _read_text(file: Path, problems: list[Problem]) -> str | None:
    data = file.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.append(
            Problem(Location(file, line), f"not UTF-8 text (byte {error.start}); is it binary?")
        )
        return None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        problems.append(Problem(Location(file, line), "contains NUL bytes; is it binary?"))
        return None
    return text.removeprefix("\ufeff")


def _shape_problem(
    root: Any, children: Callable[[Any], Iterable[Any] | None]
) -> tuple[Any, str] | None:
    """(value, reason) if `root` is nested too deeply or holds too many values; None if
    it is fine. Walks without recursion and stops at the first excess."""
    stack = [(root, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return value, f"too many values (more than {MAX_VALUES:,}, each alias counted)"
        inner = children(value)
        if inner is None:
            continue
        if depth >= MAX_NESTING:
            return value, TOO_DEEP
        stack.extend((child, depth + 1) for child in inner)
    return None


def _json_children(value: Any) -> Iterable[Any] | None:
    if isinstance(value, dict):
        return value.values()
    return value if isinstance(value, list) else None


def _node_children(node: Any) -> Iterable[Any] | None:
    if isinstance(node, yaml.SequenceNode):
        return node.value  # type: ignore[no-any-return]
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return None


def _load_yaml(text: str, file: Path, first_line: int, problems: list[Problem]) -> Any:
    """(data, node) of a YAML document; `first_line` is the file line where it starts."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        shape = _shape_problem(node, _node_children) if node is not None else None
        if shape is not None:
            where, reason = shape
            problems.append(Problem(Location(file, first_line + where.start_mark.line), reason))
            return None, None
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = first_line + (mark.line if mark is not None else 0)
        reason = getattr(error, "problem", None) or str(error)
        problems.append(Problem(Location(file, line), f"invalid YAML: {reason}"))
        return None, None
    except RecursionError:  # the composer recurses once per level
        line = first_line + loader.get_mark().line
        problems.append(Problem(Location(file, line), TOO_DEEP))
        return None, None
    finally:
        loader.dispose()
    return data, node


def _key_lines(node: Any, first_line: int) -> dict[str, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        str(key.value): first_line + key.start_mark.line
        for key, _value in node.value
        if isinstance(key, yaml.ScalarNode)
    }


def _validate(
    model: type[Record],
    data: Any,
    file: Path,
    line: int,
    key_lines: dict[str, int],
    problems: list[Problem],
) -> Record | None:
    if not isinstance(data, dict):
        problems.append(Problem(Location(file, line), "expected a mapping of fields"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for detail in error.errors():
            field_name = str(detail["loc"][0]) if detail["loc"] else ""
            where = key_lines.get(field_name, line)
            label = f"`{field_name}`: " if field_name else ""
            message = detail["msg"].removeprefix("Value error, ")
            if detail["type"] == "missing":
                message = "is required but missing"
            elif "input" in detail and detail["type"] not in {"model_type"}:
                message += f" (got {_short(detail['input'])})"
            problems.append(Problem(Location(file, where), f"{label}{message}"))
        return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_markdown(file: Path, batch: ImportBatch, problems: list[Problem]) -> None:
    text = _read_text(file, problems)
    if text is None:
        return
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problems.append(
            Problem(Location(file, 1), "no front matter: the file must start with a `---` line")
        )
        return
    try:
        closing = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        problems.append(Problem(Location(file, 1), "front matter is not closed by a `---` line"))
        return
    front_matter = "\n".join(lines[1:closing])
    data, node = _load_yaml(front_matter, file, 2, problems)
    if node is None and data is None:
        if not any(p.location.file == file for p in problems):
            problems.append(Problem(Location(file, 1), "front matter is empty"))
        return
    if isinstance(data, dict):
        data = {**data, "body": "\n".join(lines[closing + 1 :]).strip("\n")}
    record = _validate(EntryRecord, data, file, 1, _key_lines(node, 2), problems)
    if record is not None:
        batch.entries.append(Located(record, Location(file, 1)))


def _read_jsonl(file: Path, batch: ImportBatch, problems: list[Problem]) -> None:
    text = _read_text(file, problems)
    if text is None:
        return
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            problems.append(
                Problem(Location(file, number), f"invalid JSON: {error.msg} (column {error.colno})")
            )
            continue
        except RecursionError:
            problems.append(Problem(Location(file, number), TOO_DEEP))
            continue
        shape = _shape_problem(data, _json_children)
        if shape is not None:
            problems.append(Problem(Location(file, number), shape[1]))
            continue
        record = _validate(EntryRecord, data, file, number, {}, problems)
        if record is not None:
            batch.entries.append(Located(record, Location(file, number)))


def _read_sequence(
    file: Path, model: type[Record], problems: list[Problem], data: Any, node: Any
) -> list[Located[Record]]:
    if not isinstance(data, list):
        problems.append(Problem(Location(file, 1), "expected a list"))
        return []
    found: list[Located[Record]] = []
    for item, item_node in zip(data, node.value, strict=True):
        line = 1 + item_node.start_mark.line
        record = _validate(model, item, file, line, _key_lines(item_node, 1), problems)
        if record is not None:
            found.append(Located(record, Location(file, line)))
    return found


def _read_people(file: Path, batch: ImportBatch, problems: list[Problem]) -> None:
    text = _read_text(file, problems)
    if text is None:
        return
    data, node = _load_yaml(text, file, 1, problems)
    if node is not None:
        batch.people.extend(_read_sequence(file, PersonRecord, problems, data, node))


def _read_organisation(file: Path, batch: ImportBatch, problems: list[Problem]) -> None:
    text = _read_text(file, problems)
    if text is None:
        return
    data, node = _load_yaml(text, file, 1, problems)
    if node is None:
        return
    if not isinstance(data, dict):
        problems.append(Problem(Location(file, 1), "expected a mapping with `communities`"))
        return
    default = data.get("default_community")
    if default is not None:
        batch.default_community = str(default)
    communities_node = next(
        (value for key, value in node.value if getattr(key, "value", None) == "communities"),
        None,
    )
    if communities_node is not None:
        batch.communities.extend(
            _read_sequence(file, CommunityRecord, problems, data["communities"], communities_node)
        )


def _duplicate_ids(batch: ImportBatch) -> list[Problem]:
    problems: list[Problem] = []
    for items in (batch.entries, batch.people, batch.communities):
        first_seen: dict[str, Location] = {}
        for item in items:
            record_id = item.record.id  # type: ignore[attr-defined]
            if record_id in first_seen:
                problems.append(
                    Problem(
                        item.location,
                        f"id {record_id!r} is used twice (first at {first_seen[record_id]})",
                    )
                )
            else:
                first_seen[record_id] = item.location
    return problems
