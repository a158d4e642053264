"""Publishing a directory as a new immutable revision.

Each file is stored at its content-addressed key, several files at a time; the
backend hashes it (see `Storage.store_file`) and refuses a file that changed while
being stored. An interrupted publish is resumed by running it
again: a journal in the instance folder remembers the sha256 of files already
stored (by path, size and mtime), and blobs already present are skipped. The
revision itself is written in one transaction once every blob is stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Blob, File, Model, Revision
from distserver.catalog.names import check_path
from distserver.catalog.services import main_revision
from distserver.errors import BadRequest, Conflict
from distserver.identity import Principal
from distserver.instance_files import write_whole
from distserver.storage.base import Storage, StoredBlob, blob_key

SKIPPED_DIRS = {".git", ".cache", "__pycache__"}
MAX_FILES = 10_000


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative, POSIX
    local: Path
    size: int


@dataclass
class PublishProgress:
    """Callbacks a front end (the CLI's progress bar) may set."""

    on_start: Callable[[int, int], None] = lambda files, total_bytes: None
    on_bytes: Callable[[int], None] = lambda n: None
    on_file: Callable[[str, bool], None] = lambda path, skipped: None


def collect(directory: Path) -> list[SourceFile]:
    """The files to publish; refuses symlinks that leave the directory."""
    root = directory.resolve()
    if not root.is_dir():
        raise BadRequest(f"{directory} is not a directory.", code="invalid_directory")
    found: list[SourceFile] = []
    for current, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for d in dirs:
            _inside(root, Path(current) / d)
        for name in sorted(files):
            local = Path(current) / name
            real = _inside(root, local)
            if not real.is_file():
                raise BadRequest(f"{local} is not a regular file.", code="invalid_file")
            rel = local.relative_to(root).as_posix()
            found.append(SourceFile(check_path(rel), real, real.stat().st_size))
    if not found:
        raise BadRequest(f"{directory} has no files to publish.", code="empty_directory")
    if len(found) > MAX_FILES:
        raise BadRequest(f"{directory} has more than {MAX_FILES} files.", code="too_many_files")
    return found


def _inside(root: Path, path: Path) -> Path:
    real = path.resolve()
    if path.is_symlink() and not real.is_relative_to(root):
        raise BadRequest(
            f"{path} is a symlink that leaves {root}: refusing to publish it.",
            code="symlink_escape",
        )
    return real


class Journal:
    """sha256 of files already stored, keyed by absolute path, size and mtime."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()  # files are stored several at a time
        try:
            self.entries: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    @staticmethod
    def key(src: SourceFile) -> str:
        st = src.local.stat()
        return f"{src.local}|{st.st_size}|{st.st_mtime_ns}"

    def get(self, src: SourceFile) -> str | None:
        return self.entries.get(self.key(src))

    def put(self, src: SourceFile, sha256: str) -> None:
        with self.lock:
            self.entries[self.key(src)] = sha256
            write_whole(self.path, json.dumps(self.entries))


def revision_commit(parent: str | None, files: list[tuple[str, str, int]]) -> str:
    """A 40-hex id over the parent and the sorted (path, sha256, size) manifest."""
    h = hashlib.sha1(b"distserver-revision-v1\n", usedforsecurity=False)
    h.update(f"parent {parent or '-'}\n".encode())
    for path, sha, size in sorted(files):
        h.update(f"{sha} {size} {path}\n".encode())
    return h.hexdigest()


def publish(
    session: Session,
    storage: Storage,
    model: Model,
    directory: Path,
    *,
    actor: Principal,
    journal_path: Path,
    message: str = "",
    progress: PublishProgress | None = None,
    workers: int = 4,
) -> Revision:
    progress = progress or PublishProgress()
    sources = collect(directory)
    progress.on_start(len(sources), sum(s.size for s in sources))
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(journal_path)

    def store(src: SourceFile) -> StoredBlob:
        known = journal.get(src)
        if known and storage.exists(blob_key(known)):
            progress.on_bytes(src.size)
            progress.on_file(src.path, True)
            return StoredBlob(blob_key(known), known, src.size, already_present=True)
        blob = storage.store_file(src.local, progress=progress.on_bytes)
        journal.put(src, blob.sha256)
        progress.on_file(src.path, blob.already_present)
        return blob

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        stored = list(pool.map(store, sources))

    parent = main_revision(session, model)
    manifest = [(s.path, b.sha256, b.size) for s, b in zip(sources, stored, strict=True)]
    commit = revision_commit(parent.commit if parent else None, manifest)
    if parent is not None and sorted((f.path, f.sha256, f.size) for f in parent.files) == sorted(
        manifest
    ):
        raise Conflict(f"Nothing changed since {parent.commit}.", code="nothing_changed")
    known = set(
        session.scalars(select(Blob.sha256).where(Blob.sha256.in_({b.sha256 for b in stored})))
    )
    for blob in stored:
        if blob.sha256 not in known:
            session.add(Blob(sha256=blob.sha256, size=blob.size, storage_key=blob.key))
            known.add(blob.sha256)
    revision = Revision(
        model_id=model.id, commit=commit, message=message[:500], published_by_id=actor.user_id
    )
    session.add(revision)
    session.flush()
    for path, sha, size in manifest:
        session.add(File(revision_id=revision.id, path=path, sha256=sha, size=size))
    record(
        session,
        EventTag.REVISION_PUBLISHED,
        actor,
        model=model.ref,
        revision=commit,
        data={
            "files": len(manifest),
            "bytes": sum(m[2] for m in manifest),
            "message": message[:200],
        },
    )
    from distserver.fingerprint.planning import plan_after_commit

    plan_after_commit(session, model_id=model.id)  # recipients' marked copies of it
    session.commit()
    session.refresh(revision)
    return revision
