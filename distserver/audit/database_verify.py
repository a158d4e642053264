"""`distserver audit verify` over the log stored in the database: the fast check from the
stored bytes on PostgreSQL (distserver.audit.fast_verify), else the full pass that
re-encodes every event from its columns (distserver.audit.chain_verifier)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from distserver.audit.chain_verifier import VerifyResult, verify_chain
from distserver.audit.fast_verify import verify_stored
from distserver.audit.queries import checkpoints, stream_sealed


def verify_database(
    session: Session, public_key: Ed25519PublicKey, *, deep: bool = False
) -> VerifyResult:
    """Check the whole chain in the database and every checkpoint.

    On PostgreSQL it first tries the fast check (distserver.audit.fast_verify: the stored
    canonical bytes hashed with hashlib, and one set-based comparison of those bytes with
    the columns). If that finds anything at all, or with `deep`, or on SQLite, every event
    is re-encoded from its columns in Python (`verify_chain`), which names the first bad
    event."""
    try:
        cps = checkpoints(session)
        if not deep:
            fast = verify_stored(session, public_key, cps)
            if fast is not None:
                return fast
            session.rollback()
        return verify_chain(stream_sealed(session), cps, public_key)
    finally:
        session.rollback()
