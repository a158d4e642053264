"""Marked copies: the service that makes, reuses and removes per-recipient copies.

Contract of ``make_copy``:

- Only ``*.safetensors`` files whose header lists at least one 2-D F32/F16/BF16 matrix
  are marked; for any other file (JSON, tokenizer, a safetensors file with no weight
  matrix or a header that does not parse) it returns None and the file is served as
  published.
- ``make_copy`` (run by the ``fingerprint.copy`` job, never by a request: see
  fingerprint/preparation.py) streams ``mark_file`` over the published blob into
  storage at ``copies/<fingerprint id>/<key id>/<original sha256>`` (tensor by tensor,
  never the whole file in memory; the backend publishes the object only once it is
  whole), checks its size, then records a ``FingerprintCopy`` row and a
  ``fingerprint:copy:made`` audit event, and commits. Doors serve only copies that
  have a live row (``live_copies``).
- The fingerprint id is the recipient id the mark encodes: ``user-<user id>``. The
  bytes are a deterministic function of (blob, key, recipient, strength), so two jobs
  making the same copy at once write identical bytes to the same key; the unique
  constraint (user, original sha256, key id) keeps one row and the loser reuses it.
- A live copy is reused whatever the active key and the tier's strength are now: a
  rotation or a strength change applies to copies made afterwards.

A copy is removed (bytes deleted, row kept with ``removed_at``) once its recipient no
longer holds a live grant in any fingerprinted tier for the model; see
``remove_copies_for_ended_grants``. If the recipient gains access again, a job re-makes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, BinaryIO

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from distserver.access.models import Grant
from distserver.access.tiers import Tier
from distserver.app_runtime import Runtime
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import File, Model, Revision
from distserver.db import utcnow
from distserver.errors import DistserverError
from distserver.fingerprint.keys import load_keys
from distserver.fingerprint.models import FingerprintCopy
from distserver.identity import SYSTEM, Principal
from distserver.storage.base import Storage, blob_key

if TYPE_CHECKING:
    from distserver.fingerprint.safetensors_stream import Header

log = logging.getLogger(__name__)

WEIGHTS_SUFFIX = ".safetensors"


class MarkingFailed(DistserverError):
    status = 500
    code = "fingerprint_failed"


@dataclass(frozen=True)
class MarkedCopy:
    """What a door serves and reports instead of the published file."""

    key: str  # storage key of the copy
    sha256: str
    size: int
    fingerprint_id: str
    key_id: str
    original_sha256: str


def recipient_id(user_id: int) -> str:
    """The recipient id marked into a user's copies (and shown as the fingerprint id)."""
    return f"user-{user_id}"


def copy_key(fingerprint_id: str, key_id: str, original_sha256: str) -> str:
    return f"copies/{fingerprint_id}/{key_id}/{original_sha256}"


def is_weights(path: str) -> bool:
    return path.lower().endswith(WEIGHTS_SUFFIX)


def wants_copy(tier: Tier | None, principal: Principal, file: File | None) -> bool:
    """Whether a download of ``file`` in ``tier`` by ``principal`` is served marked."""
    return bool(
        tier is not None
        and tier.fingerprint
        and principal.user_id is not None
        and file is not None
        and is_weights(file.path)
    )


def _as_copy(row: FingerprintCopy) -> MarkedCopy:
    return MarkedCopy(
        row.storage_key, row.copy_sha256, row.size, row.fingerprint_id, row.key_id,
        row.original_sha256,
    )  # fmt: skip


def live_copies(session: Session, user_id: int, shas: set[str]) -> dict[str, MarkedCopy]:
    """The user's live copies of these blobs, by original sha256."""
    if not shas:
        return {}
    query = select(FingerprintCopy).where(
        FingerprintCopy.user_id == user_id,
        FingerprintCopy.original_sha256.in_(sorted(shas)),
        FingerprintCopy.removed_at.is_(None),
    )
    return {row.original_sha256: _as_copy(row) for row in session.scalars(query)}


class _Prefixed:
    """A reader that yields ``head`` and then the rest of ``body`` (already past it)."""

    def __init__(self, head: bytes, body: IO[bytes]) -> None:
        self.head, self.body = head, body

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = (self.head, b"") if n < 0 else (self.head[:n], self.head[n:])
            return out
        return self.body.read(n)


def _counted(chunks: Iterable[bytes], progress: Callable[[int], None] | None) -> Iterator[bytes]:
    done = 0
    for chunk in chunks:
        yield chunk
        done += len(chunk)
        if progress is not None:
            progress(done)


def _markable_header(
    storage: Storage, sha256: str, only: Callable[[str], bool] | None = None
) -> tuple[Header, BinaryIO] | None:
    """The blob's parsed header and its stream (positioned after the header), or None
    if the blob holds no weight matrix (that ``only`` accepts, when given) or its
    header does not parse."""
    # Imported here, as mark_file below: numpy and ml_dtypes would cost every app start
    # (and every command) most of a second.
    from distserver.fingerprint.safetensors_stream import read_header

    src = storage.open(blob_key(sha256))
    try:
        header = read_header(src)
    except ValueError as exc:
        src.close()
        log.warning("blob %s is not a readable safetensors file (%s); served unmarked", sha256, exc)
        return None
    if not any(t.markable and (only is None or only(t.name)) for t in header.tensors):
        src.close()
        return None
    return header, src


def has_markable_tensor(storage: Storage, sha256: str, tier: Tier) -> bool:
    """Whether the blob's header lists a tensor the tier's mark changes (reads the
    header only)."""
    opened = _markable_header(storage, sha256, tier.marks_tensor)
    if opened is None:
        return False
    opened[1].close()
    return True


def make_copy(
    session: Session,
    rt: Runtime,
    recipient_user_id: int,
    tier: Tier,
    file: File,
    *,
    actor: Principal | None = None,
    progress: Callable[[int], None] | None = None,
) -> MarkedCopy | None:
    """The recipient's marked copy of ``file``, made now if it has no live one (the
    copy job's work: see fingerprint/preparation.py; never called by a request).
    ``progress`` is called with the bytes written so far.

    Commits ``session`` when it makes or re-makes a copy: call it with no pending
    changes of your own. Returns None for a file that is served as published.
    """
    if not tier.fingerprint or not is_weights(file.path):
        return None
    live = live_copies(session, recipient_user_id, {file.sha256})
    if live:
        return live[file.sha256]
    ring = load_keys(rt.settings)
    opened = _markable_header(rt.storage, file.sha256, tier.marks_tensor)
    if opened is None:
        return None
    header, src = opened
    from distserver.fingerprint.safetensors_stream import mark_file

    fid = recipient_id(recipient_user_id)
    key = copy_key(fid, ring.active_id, file.sha256)
    strength = tier.fingerprint_strength
    try:
        with closing(src):
            chunks = mark_file(
                _Prefixed(header.raw, src), ring.active, fid, strength, only=tier.marks_tensor
            )
            stored = rt.storage.store_stream(key, _counted(chunks, progress))
    except ValueError as exc:
        rt.storage.delete(key)
        raise MarkingFailed(f"Could not make a marked copy of {file.path}: {exc}") from exc
    if stored.size != file.size:
        rt.storage.delete(key)
        raise MarkingFailed(f"The marked copy of {file.path} does not have the published size.")
    revision = session.get(Revision, file.revision_id)
    assert revision is not None
    model = session.get(Model, revision.model_id)
    assert model is not None
    row = session.scalars(
        select(FingerprintCopy).where(
            FingerprintCopy.user_id == recipient_user_id,
            FingerprintCopy.original_sha256 == file.sha256,
            FingerprintCopy.key_id == ring.active_id,
        )
    ).one_or_none()
    if row is None:
        row = FingerprintCopy(
            user_id=recipient_user_id,
            original_sha256=file.sha256,
            key_id=ring.active_id,
            fingerprint_id=fid,
            created_at=utcnow(),
        )
        session.add(row)
    row.model_id, row.revision_id, row.path = model.id, revision.id, file.path
    row.copy_sha256, row.size, row.storage_key = stored.sha256, stored.size, key
    row.strength, row.tier, row.removed_at = strength, tier.name, None
    record(
        session,
        EventTag.FINGERPRINT_COPY_MADE,
        actor or SYSTEM,
        model=model.ref,
        revision=revision.commit,
        path=file.path,
        sha256=stored.sha256,
        tier=tier.name,
        data={
            "recipient_user_id": recipient_user_id,
            "fingerprint_id": fid,
            "key_id": ring.active_id,
            "original_sha256": file.sha256,
            "strength": strength,
            "size": stored.size,
        },
    )
    try:
        session.commit()
    except IntegrityError:
        # Another request made the same copy at the same time: identical bytes at the
        # same key, and its row won. Reuse it.
        session.rollback()
        live = live_copies(session, recipient_user_id, {file.sha256})
        if not live:
            raise
        return live[file.sha256]
    return _as_copy(row)


def remove_copies_for_ended_grants(
    session: Session,
    rt: Runtime,
    *,
    now: datetime | None = None,
    actor: Principal | None = None,
) -> list[FingerprintCopy]:
    """Delete the bytes of every live copy whose recipient no longer holds a live
    (unrevoked, unexpired) grant in a fingerprinted tier covering the copy's model;
    keep the row with ``removed_at`` and record ``fingerprint:copy:removed``. Commits
    after each copy, so a storage failure midway leaves the log matching the store.
    Returns the rows removed."""
    now = now or utcnow()
    marked_tiers = sorted(t.name for t in rt.tiers.values() if t.fingerprint)
    live = list(
        session.scalars(
            select(FingerprintCopy)
            .where(FingerprintCopy.removed_at.is_(None))
            .order_by(FingerprintCopy.id)
        )
    )
    removed = []
    for row in live:
        if _holds_marked_grant(session, row, marked_tiers, now):
            continue
        rt.storage.delete(row.storage_key)
        row.removed_at = now
        model = session.get(Model, row.model_id)
        record(
            session,
            EventTag.FINGERPRINT_COPY_REMOVED,
            actor or SYSTEM,
            when=now,
            model=model.ref if model else None,
            path=row.path,
            sha256=row.copy_sha256,
            tier=row.tier,
            reason="grant_ended",
            data={
                "recipient_user_id": row.user_id,
                "fingerprint_id": row.fingerprint_id,
                "key_id": row.key_id,
                "original_sha256": row.original_sha256,
            },
        )
        session.commit()
        removed.append(row)
    return removed


def _holds_marked_grant(
    session: Session, row: FingerprintCopy, tiers: list[str], now: datetime
) -> bool:
    if not tiers:
        return False
    query = select(Grant.id).where(
        Grant.user_id == row.user_id,
        Grant.tier.in_(tiers),
        Grant.revoked_at.is_(None),
        or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        or_(Grant.model_id.is_(None), Grant.model_id == row.model_id),
    )
    return session.scalars(query.limit(1)).first() is not None


def candidates_for(session: Session, shas: set[str]) -> Mapping[tuple[str, str], list[int]]:
    """Everyone who ever received a marked copy of any of these blobs, removed copies
    included: (fingerprint id, key id) -> user ids."""
    out: dict[tuple[str, str], list[int]] = {}
    if not shas:
        return out
    query = select(FingerprintCopy).where(FingerprintCopy.original_sha256.in_(sorted(shas)))
    for row in session.scalars(query.order_by(FingerprintCopy.id)):
        users = out.setdefault((row.fingerprint_id, row.key_id), [])
        if row.user_id not in users:
            users.append(row.user_id)
    return out
