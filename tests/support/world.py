"""Seeds what a test needs through the same services the doors use."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from flask import Flask

from distserver.access.services import accept_agreement, add_grant
from distserver.accounts.models import User
from distserver.accounts.second_factor import begin_enrolment, confirm_enrolment
from distserver.accounts.services import create_token, create_user, principal_for
from distserver.app_runtime import current_runtime
from distserver.audit.models import AuditEvent
from distserver.catalog.models import Model
from distserver.catalog.publish import publish
from distserver.catalog.services import create_model
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases.services import seed_stage

DEFAULT_FILES = {
    "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256)) * 64,
    "config.json": b'{"hidden_size": 8}\n',
    "sub/tokenizer.json": b'{"vocab": {}}\n',
}


@dataclass
class Person:
    user: User
    token: str
    # Set when the person has a TOTP second factor enrolled (staff, by default).
    totp_secret: str | None = None
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class World:
    def __init__(self, app: Flask, sources: Path):
        self.app = app
        self.sources = sources
        self.count = 0

    @property
    def rt(self):  # type: ignore[no-untyped-def]
        return current_runtime()

    def person(
        self,
        email: str,
        *,
        roles: tuple[str, ...] = (),
        tiers: tuple[str, ...] = (),
        model: Model | None = None,
        accept: bool = True,
        grant_days: int | None = None,
        password: str | None = None,
        second_factor: bool | None = None,
    ) -> Person:
        """A verified user with a `test` token. Staff (any role) get a TOTP second
        factor enrolled unless `second_factor=False`, so staff-only actions work;
        a token of an enrolled user counts as second-factor (distserver/identity.py)."""
        user = create_user(db.session, email, roles=roles, password=password, email_verified=True)
        secret, codes = None, []
        if second_factor if second_factor is not None else bool(roles):
            secret = begin_enrolment(db.session, user).secret
            # Enrolled with the previous step's code, so the current and the next
            # step's codes are still unused for the test's own sign-ins.
            previous = pyotp.TOTP(secret).at(time.time() - 30)
            codes = confirm_enrolment(db.session, user, previous)
        for tier_name in tiers:
            tier = self.rt.tiers[tier_name]
            add_grant(db.session, user, tier, model, days=grant_days, actor=SYSTEM)
            if accept and tier.agreement:
                accept_agreement(db.session, user, tier, principal_for(user, "test"))
        token = create_token(db.session, user, name="test").raw
        return Person(user, token, secret, codes)

    def model(
        self,
        ref: str = "acme/llm",
        *,
        plan: str = "default",
        stage: str | None = "general-availability",
        files: dict[str, bytes] | None = None,
    ) -> Model:
        ns, name = ref.split("/")
        model = create_model(db.session, ns, name, plan=self.rt.plans[plan], actor=SYSTEM)
        self.publish(model, files or DEFAULT_FILES)
        if stage and stage != self.rt.plans[plan].stages[0].name:
            seed_stage(db.session, model, stage, self.rt.plans)
        return model

    def publish(self, model: Model, files: dict[str, bytes]) -> str:
        self.count += 1
        directory = self.sources / f"src{self.count}"
        for path, data in files.items():
            (directory / path).parent.mkdir(parents=True, exist_ok=True)
            (directory / path).write_bytes(data)
        journal = Path(self.app.instance_path) / "journal.json"
        return publish(
            db.session, self.rt.storage, model, directory, actor=SYSTEM, journal_path=journal
        ).commit

    @staticmethod
    def events(tag: str | None = None) -> list[AuditEvent]:
        db.session.expire_all()
        query = db.select(AuditEvent).order_by(AuditEvent.id)
        if tag:
            query = query.where(AuditEvent.tag == tag)
        return list(db.session.scalars(query))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
