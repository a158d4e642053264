"""Outgoing e-mail. In development and tests every message is written to the outbox
folder (MAIL_OUTBOX under the instance dir) as one JSON file, which tests read; in
production it goes through SMTP (MAIL_SMTP_HOST, MAIL_SMTP_PORT, MAIL_SMTP_USER,
MAIL_SMTP_PASSWORD, MAIL_FROM)."""

from __future__ import annotations

import json
import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import current_app

from distserver.db import utcnow


def outbox_dir() -> Path:
    return Path(current_app.instance_path) / str(current_app.config.get("MAIL_OUTBOX", "outbox"))


def send_mail(to: str, subject: str, body: str) -> None:
    """Send one plain-text message (never with a secret a log could keep: links only)."""
    config = current_app.config
    sender = str(config.get("MAIL_FROM") or "distserver@localhost")
    if config.get("MAIL_SMTP_HOST"):
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
    (folder / name).write_text(json.dumps(record, indent=2))


def read_outbox() -> list[dict[str, Any]]:
    """Every message in the outbox, oldest first (development and tests)."""
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
