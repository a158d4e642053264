"""Outgoing e-mail. `send_mail` never sends inside a request: it enqueues a `mail.send`
job (distserver.jobs) once the current transaction commits, and the job delivers through
MAIL_BACKEND:

- "smtp": MAIL_SMTP_HOST, MAIL_SMTP_PORT, MAIL_SMTP_USER, MAIL_SMTP_PASSWORD, MAIL_FROM
  (STARTTLS); a failure raises and the job is retried with backoff;
- "outbox": each message is written to the outbox folder (MAIL_OUTBOX under the instance
  dir) as one JSON file, which development and tests read. Production accepts it only
  with a start-up warning, since nothing is sent."""

from __future__ import annotations

import base64
import json
import smtplib
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from distserver.db import utcnow
from distserver.errors import ConfigError
from distserver.instance_files import write_whole

MAIL_BACKENDS = ("smtp", "outbox")
MAIL_KEY_INFO = b"distserver mail jobs v1"


def check_mail_settings(settings: Mapping[str, Any]) -> list[str]:
    """At start-up: refuse "smtp" without a host; returns the warnings to log (production
    with "outbox")."""
    backend = str(settings.get("MAIL_BACKEND") or "")
    if backend not in MAIL_BACKENDS:
        raise ConfigError(f"DISTSERVER_MAIL_BACKEND={backend!r}: use 'smtp' or 'outbox'")
    if backend == "smtp" and not settings.get("MAIL_SMTP_HOST"):
        raise ConfigError(
            "DISTSERVER_MAIL_BACKEND is 'smtp' but DISTSERVER_MAIL_SMTP_HOST is empty: set "
            "the SMTP host, or set DISTSERVER_MAIL_BACKEND=outbox to only write mail to a folder"
        )
    if backend == "outbox" and settings.get("ENV") == "production":
        folder = Path(str(settings.get("INSTANCE_DIR"))) / str(settings.get("MAIL_OUTBOX"))
        return [
            f"MAIL_BACKEND is 'outbox': no mail is sent, messages are only written to {folder} "
            "(new users get no verification mail); set MAIL_BACKEND=smtp and MAIL_SMTP_HOST"
        ]
    return []


def outbox_dir() -> Path:
    return Path(current_app.instance_path) / str(current_app.config.get("MAIL_OUTBOX", "outbox"))


def send_mail(to: str, subject: str, body: str) -> None:
    """Send one plain-text message (never with a secret a log could keep: links only),
    by a job enqueued once the current transaction commits. The job carries the message
    sealed (see seal_message): bodies hold sign-in and reset links, and a job's
    arguments end up in the queue's storage and in the job engine's log lines."""
    from distserver.jobs import enqueue_after_commit
    from distserver.jobs.tasks import send_mail as send_mail_job

    enqueue_after_commit(send_mail_job, seal_message(to, subject, body))


def _fernet() -> Fernet:
    # A key of its own, derived from SECRET_KEY, which every web and worker process shares.
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=MAIL_KEY_INFO).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal_message(to: str, subject: str, body: str) -> str:
    """The message as an encrypted, authenticated token (Fernet) for the mail job."""
    plain = json.dumps({"to": to, "subject": subject, "body": body}).encode()
    return _fernet().encrypt(plain).decode()


def open_message(sealed: str) -> tuple[str, str, str]:
    """(to, subject, body) of a sealed message."""
    fields = json.loads(_fernet().decrypt(sealed.encode()))
    return str(fields["to"]), str(fields["subject"]), str(fields["body"])


def deliver(to: str, subject: str, body: str) -> None:
    """Deliver one message now, through MAIL_BACKEND (the `mail.send` job calls this)."""
    config = current_app.config
    sender = str(config.get("MAIL_FROM") or "distserver@localhost")
    if config.get("MAIL_BACKEND") == "smtp":
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, to, subject
        message.set_content(body)
        port = int(config.get("MAIL_SMTP_PORT") or 587)
        with smtplib.SMTP(str(config["MAIL_SMTP_HOST"]), port, timeout=10) as smtp:
            smtp.starttls()
            if config.get("MAIL_SMTP_USER"):
                smtp.login(str(config["MAIL_SMTP_USER"]), str(config.get("MAIL_SMTP_PASSWORD", "")))
            smtp.send_message(message)
        return
    folder = outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "to": to,
        "from": sender,
        "subject": subject,
        "body": body,
        "sent_at": utcnow().isoformat(),
    }
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.json"
    # A reader of *.json, in another process, never finds a message empty or cut short.
    write_whole(folder / name, json.dumps(record, indent=2))


def read_outbox(*, wait_for_jobs: bool = True) -> list[dict[str, Any]]:
    """Every message in the outbox, oldest first (development and tests). With an
    in-process queue, first waits until the mail jobs that are due have run."""
    from distserver.jobs import job_runtime

    runtime = job_runtime()
    if wait_for_jobs and runtime.in_process:
        runtime.drain()
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
