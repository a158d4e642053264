"""The outbox is read by other processes (the tests, a developer's tools) while the mail
job writes to it: a message must appear whole or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from distserver.mail import deliver, read_outbox


def test_an_outbox_message_appears_whole_never_half_written(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[Path] = []
    real_write_text = Path.write_text

    def recording(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        writes.append(self)
        return real_write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", recording)
    with app.app_context():
        deliver("r@example.org", "Hello", "Body")
        (mail,) = read_outbox(wait_for_jobs=False)
    assert mail["subject"] == "Hello"
    # A file written in place under its .json name can be read empty or cut short.
    assert writes, "the outbox message was not written"
    assert all(p.suffix != ".json" for p in writes), writes
    assert not list(writes[0].parent.glob("*.tmp")), "a temporary file was left behind"
