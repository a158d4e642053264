"""The ``fingerprint.copy`` job: make one recipient's marked copy of one weights file,
at most FINGERPRINT_COPY_CONCURRENCY at once per worker process, recording progress and
a heartbeat as it goes. What to copy and when is planned in fingerprint.preparation."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from distserver.app_runtime import Runtime
from distserver.catalog.models import File
from distserver.db import utcnow
from distserver.fingerprint.copies import live_copies
from distserver.fingerprint.models import CopyTask
from distserver.fingerprint.preparation import (
    DONE,
    FAILED,
    PROGRESS_EVERY,
    RUNNING,
    UNMARKED,
)

_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


def _copy_slots(settings: Any) -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(
                max(1, int(settings.get("FINGERPRINT_COPY_CONCURRENCY", 2)))
            )
        return _slots


def prepare(session: Session, rt: Runtime, task_id: int) -> str:
    """The ``fingerprint.copy`` job: make the task's copy. Returns what happened
    ("done", "already", "gone", "busy"); "busy" means every copy slot of this process
    is taken and the caller should send the job again later."""
    from distserver.fingerprint.copies import make_copy

    slots = _copy_slots(rt.settings)
    if not slots.acquire(blocking=False):
        return "busy"
    try:
        task = session.get(CopyTask, task_id)
        if task is None:
            return "gone"
        if task.state == DONE and live_copies(session, task.user_id, {task.original_sha256}):
            return "already"
        tier = rt.tiers.get(task.tier)
        file = session.scalars(
            select(File).where(File.revision_id == task.revision_id, File.path == task.path)
        ).first()
        if tier is None or not tier.fingerprint or file is None:
            task.state, task.error = DONE, "no longer needed"
            session.commit()
            return "gone"
        task.state, task.bytes_done, task.error = RUNNING, 0, None
        task.attempts += 1
        task.created_at = task.updated_at = utcnow()
        session.commit()
        reporter = _ProgressWriter(session, task_id)
        try:
            made = make_copy(session, rt, task.user_id, tier, file, progress=reporter)
        except Exception as exc:
            session.rollback()
            session.execute(
                update(CopyTask)
                .where(CopyTask.id == task_id)
                .values(state=FAILED, error=str(exc)[:500], updated_at=utcnow())
            )
            session.commit()
            raise
        session.execute(
            update(CopyTask)
            .where(CopyTask.id == task_id)
            .values(state=DONE if made else UNMARKED, bytes_done=CopyTask.size, updated_at=utcnow())
        )
        session.commit()
        return "done" if made else UNMARKED
    finally:
        slots.release()


class _ProgressWriter:
    """Called with the bytes written so far; records them (and the heartbeat) at most
    every PROGRESS_EVERY seconds, each in its own short transaction on a connection of
    its own (storage may consume the stream in another thread, outside the session)."""

    def __init__(self, session: Session, task_id: int) -> None:
        self.engine, self.task_id, self.last = session.get_bind().engine, task_id, 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        statement = (
            update(CopyTask)
            .where(CopyTask.id == self.task_id)
            .values(bytes_done=done, updated_at=utcnow())
        )
        with self.engine.begin() as connection:
            connection.execute(statement)
