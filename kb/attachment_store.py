"""The bytes of attachments: one file per SHA-256 under KB_HOME/attachments, in folders
by the first two hex digits (attachments/ab/cdef…). Written once, never changed; a file
no attachment row refers to any more is swept away (`sweep_unreferenced`)."""

import hashlib
import os
import re
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import Attachment

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def path_for(folder: Path, sha256: str) -> Path:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256: {sha256!r}")
    return folder / sha256[:2] / sha256[2:]


def store(folder: Path, data: bytes) -> str:
    """Save the bytes (atomically, once per content); returns their SHA-256."""
    sha256 = digest(data)
    path = path_for(folder, sha256)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
    return sha256


def stored_files(folder: Path) -> dict[str, Path]:
    """Every stored file, by its SHA-256."""
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in folder.glob("??/*"):
            sha256 = path.parent.name + path.name
            if path.is_file() and _SHA256.match(sha256):
                found[sha256] = path
    return found


def sweep_unreferenced(session: Session, folder: Path) -> int:
    """Delete the files no attachment refers to; returns how many."""
    referenced = set(session.scalars(select(Attachment.sha256).distinct()))
    removed = 0
    for sha256, path in stored_files(folder).items():
        if sha256 not in referenced:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def copy_folder(source: Path, target: Path) -> int:
    """Copy the stored files (a backup, a restore); returns how many."""
    files = stored_files(source)
    for sha256, path in files.items():
        destination = path_for(target, sha256)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    return len(files)
