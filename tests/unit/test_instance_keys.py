"""Keys generated into the instance folder (development and tests) are created once,
whole, by whichever process gets there first: processes starting at once (a worker and
a scheduler, two CLI commands) never read a half-written key nor keep different ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from distserver import config
from distserver.audit import keys
from distserver.audit.checkpoints import public_key_pem


def _race(work: Callable[[], Any], runners: int = 4) -> list[Any]:
    results: list[Any] = [None] * runners
    start = threading.Barrier(runners)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work()
        except Exception as exc:  # reported below, with the others' results
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_processes_starting_at_once_never_read_a_half_written_audit_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = keys.generate_private_key_pem

    def slow_generate() -> bytes:
        time.sleep(0.2)  # a slow disk or a busy machine: the window the race needs
        return slow()

    monkeypatch.setattr(keys, "generate_private_key_pem", slow_generate)
    settings = {"ENV": "testing", "INSTANCE_DIR": str(tmp_path / "instance")}
    results = _race(lambda: public_key_pem(keys.signing_key(settings)))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1  # one key, the one on disk
    on_disk = keys.load_private_key((tmp_path / "instance" / keys.PRIVATE_NAME).read_bytes())
    assert public_key_pem(on_disk) == results[0]


def test_processes_starting_at_once_keep_one_generated_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = config.secrets.token_urlsafe

    def slow_token(n: int) -> str:
        time.sleep(0.2)
        return real(n)

    monkeypatch.setattr(config.secrets, "token_urlsafe", slow_token)
    instance = tmp_path / "instance"
    results = _race(
        lambda: config.load_settings({"ENV": "testing", "INSTANCE_DIR": str(instance)}, environ={})[
            "SECRET_KEY"
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1
    assert len(results[0]) >= 32
    assert (instance / "secret_key").read_text().strip() == results[0]
