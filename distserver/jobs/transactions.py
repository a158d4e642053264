"""Holding messages until the transaction that asked for them commits.

The contract of `hold_until_commit(session, send)`:

- outside a transaction, or inside one that has written nothing yet, `send` runs at once:
  nothing the job could depend on is uncommitted (this is the case of mail asked for
  after a service committed, while the session merely reloaded an object);
- inside a transaction that has written (flushed, pending or executed a DML statement),
  `send` runs right after the outermost transaction commits (a savepoint that is
  released hands its messages to the transaction around it);
- a rollback (of the whole transaction, or of the savepoint the message was asked in),
  or the end of the transaction without a commit (the session closed), drops the
  message: a rolled-back change never runs its job.

Implemented with SQLAlchemy session events rather than an outbox table: the messages
live in `session.info` for the length of the transaction. The trade-off (a crash between
the commit and the send loses the message) is argued in docs/jobs.md."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, scoped_session

log = logging.getLogger("distserver.jobs")

HELD = "distserver.jobs.held"
WROTE = "distserver.jobs.wrote"
Send = Callable[[], None]


def hold_until_commit(session: Session | scoped_session[Any], send: Send) -> bool:
    """Run `send` once `session`'s transaction commits (at once when it has written
    nothing). Returns True when the message was held, False when it was sent now."""
    real = session() if isinstance(session, scoped_session) else session
    if not real.in_transaction() or not _has_written(real):
        _send(send)
        return False
    current = real.get_nested_transaction() or real.get_transaction()
    real.info.setdefault(HELD, []).append((current, send))
    return True


def held_count(session: Session | scoped_session[Any]) -> int:
    real = session() if isinstance(session, scoped_session) else session
    return len(real.info.get(HELD, []))


def _has_written(session: Session) -> bool:
    return bool(session.info.get(WROTE) or session.new or session.dirty or session.deleted)


# Listened to on every Session (the class), once: a session's writes must be known
# before the first job is asked for in its transaction.
@event.listens_for(Session, "after_flush")
def _mark_written(session: Session, flush_context: Any) -> None:
    session.info[WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _mark_dml(state: ORMExecuteState) -> None:
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True
    elif getattr(statement, "is_text", False):
        sql = str(getattr(statement, "text", "")).lstrip().lower()
        if not sql.startswith(("select", "with", "show")):
            state.session.info[WROTE] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    held = session.info.get(HELD)
    if not held:
        return
    committing = session.get_nested_transaction() or session.get_transaction()
    if committing is not None and committing.parent is not None:
        # a released savepoint: its messages now wait for the transaction around it
        session.info[HELD] = [
            (committing.parent if tx is committing else tx, send) for tx, send in held
        ]
        return
    session.info[HELD] = []
    for _, send in held:
        _send(send)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    held = session.info.get(HELD)
    if held:
        session.info[HELD] = [(tx, send) for tx, send in held if not _inside(tx, previous)]


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    session.info.pop(WROTE, None)
    held = session.info.pop(HELD, None)
    if held:
        log.info("dropped %d job(s) of a transaction that never committed", len(held))


def _inside(tx: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while tx is not None:
        if tx is outer:
            return True
        tx = tx.parent
    return False


def _send(send: Send) -> None:
    try:
        send()
    except Exception:  # the change stands; the broker being down must not undo it
        log.exception("could not enqueue a job after commit")
