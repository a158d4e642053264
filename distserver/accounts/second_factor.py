"""TOTP enrolment and checks (services: each owns its transaction). The secret is
written encrypted when enrolment starts and becomes live only when the user proves
a code; recovery codes are returned once and kept as hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from distserver.accounts import totp
from distserver.accounts.models import RecoveryCode, User
from distserver.accounts.services import principal_for
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr: str


def begin_enrolment(session: Session, user: User) -> Enrolment:
    """A fresh secret (replacing any unconfirmed one); Conflict if already enrolled."""
    if user.totp_enabled:
        raise Conflict("A second factor is already enrolled.", code="already_enrolled")
    secret = totp.new_secret()
    user.totp_secret = totp.encrypt_secret(secret)
    session.commit()
    return pending_enrolment(user)


def pending_enrolment(user: User) -> Enrolment:
    if user.totp_secret is None or user.totp_enabled:
        raise Conflict("No enrolment is in progress.", code="no_enrolment")
    secret = totp.decrypt_secret(user.totp_secret)
    uri = totp.provisioning_uri(secret, user.email)
    return Enrolment(secret, uri, totp.qr_data_uri(uri))


def confirm_enrolment(
    session: Session, user: User, code: str, now: datetime | None = None
) -> list[str]:
    """Turn the pending secret on if `code` matches; returns the recovery codes,
    which are shown once and stored only as hashes."""
    if user.totp_secret is None or user.totp_enabled:
        raise Conflict("No enrolment is in progress.", code="no_enrolment")
    step = totp.matching_step(totp.decrypt_secret(user.totp_secret), code, now or utcnow())
    if step is None:
        raise BadRequest("That code is not right: check the app's clock.", code="bad_code")
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    codes = totp.new_recovery_codes()
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add_all(RecoveryCode(user_id=user.id, code_hash=totp.recovery_hash(c)) for c in codes)
    record(session, EventTag.SECOND_FACTOR_ENROLLED, principal_for(user, "web"), data={})
    session.commit()
    return codes


def check_code(session: Session, user: User, code: str, now: datetime | None = None) -> bool:
    """A TOTP code (each time step accepted once) or an unused recovery code."""
    if not user.totp_enabled:
        return False
    assert user.totp_secret is not None
    step = totp.matching_step(totp.decrypt_secret(user.totp_secret), code, now or utcnow())
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            return False  # replayed code
        user.totp_last_step = step
        session.commit()
        return True
    hashed = totp.recovery_hash(code)
    recovery = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == hashed,
            RecoveryCode.used_at.is_(None),
        )
    )
    if recovery is None:
        return False
    recovery.used_at = utcnow()
    session.commit()
    return True


def recovery_codes_left(session: Session, user: User) -> int:
    query = select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return len(list(session.scalars(query)))
