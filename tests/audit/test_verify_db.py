"""`audit verify` over the database and over exports: tampering is found and named."""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session

from distserver.audit.chain import CHAINED_FIELDS
from distserver.audit.chain_verifier import verify_export
from distserver.audit.database_verify import verify_database
from distserver.audit.sealing import seal_pending
from distserver.cli import main
from distserver.extensions import db
from tests.audit.helpers import add_events, cli_env, distserver_cmd, key, seal_rows

N_EVENTS = 40
CONTENT = CHAINED_FIELDS[1:]  # everything but the id


@pytest.fixture
def sealed_sqlite(make_app) -> tuple[Flask, Path, list]:  # type: ignore[no-untyped-def]
    app = make_app("sqlite")
    with app.app_context():
        add_events(N_EVENTS)
        seal_pending(db.session, key(app), batch=7)
        rows = seal_rows()
        db.session.remove()
        db.engine.dispose()
    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    return app, path, rows


def _tamper(path: Path, kind: str, i: int, j: int, rows: list) -> None:
    """Change a copy of the sealed log behind the application's back, as an attacker with
    file access would. (SQL built from the constant CONTENT column list.)"""
    con = sqlite3.connect(path)
    a, b = rows[i].event_id, rows[j].event_id
    if kind == "edit":
        con.execute("UPDATE audit_events SET actor = actor || 'x' WHERE id = ?", (a,))
    elif kind == "delete":
        con.execute("DELETE FROM audit_seals WHERE event_id = ?", (a,))
        con.execute("DELETE FROM audit_events WHERE id = ?", (a,))
    elif kind == "swap":
        src = "(SELECT {c} FROM audit_events WHERE id = :o)"
        take = ", ".join(f"{c} = " + src.format(c=c) for c in CONTENT)
        put = ", ".join(
            f"{c} = " + src.format(c=c).replace("audit_events", "keep") for c in CONTENT
        )
        con.execute("CREATE TEMP TABLE keep AS SELECT * FROM audit_events WHERE id = :a", {"a": a})
        con.execute(f"UPDATE audit_events SET {take} WHERE id = :a", {"a": a, "o": b})  # noqa: S608
        con.execute(f"UPDATE audit_events SET {put} WHERE id = :b", {"b": b, "o": a})  # noqa: S608
    elif kind == "checkpoint":
        con.execute("UPDATE audit_checkpoints SET head_hash = replace(head_hash, 'a', 'b')")
    con.commit()
    con.close()


def test_an_untouched_log_verifies(sealed_sqlite) -> None:  # type: ignore[no-untyped-def]
    app, path, _rows = sealed_sqlite
    engine = sa.create_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        result = verify_database(session, key(app).public_key())
    engine.dispose()
    assert result.ok, result.message
    assert result.events_checked == N_EVENTS, result.message
    assert result.checkpoints_checked == -(-N_EVENTS // 7)


def test_tampered_rows_are_found_and_named(sealed_sqlite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app, path, rows = sealed_sqlite
    public = key(app).public_key()
    rng = random.Random(6)
    trials = 0
    for kind in ("edit", "delete", "swap"):
        for _ in range(20):
            i, j = sorted(rng.sample(range(N_EVENTS), 2))
            copy = tmp_path / f"t{trials}.sqlite3"
            shutil.copyfile(path, copy)
            _tamper(copy, kind, i, j, rows)
            engine = sa.create_engine(f"sqlite:///{copy}")
            with Session(engine) as session:
                result = verify_database(session, public)
            engine.dispose()
            assert not result.ok, (kind, i, j)
            assert result.first_bad_seq == i, (kind, i, j, result.message)
            if kind != "delete":
                assert result.first_bad_event_id == rows[i].event_id, result.message
                assert f"event {rows[i].event_id}" in result.message
            else:
                assert f"seq {i}" in result.message
            trials += 1
    print(f"db tamper trials: {trials}, all named the first bad event")


def test_a_forged_checkpoint_fails(sealed_sqlite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app, path, rows = sealed_sqlite
    copy = tmp_path / "cp.sqlite3"
    shutil.copyfile(path, copy)
    _tamper(copy, "checkpoint", 0, 1, rows)
    engine = sa.create_engine(f"sqlite:///{copy}")
    with Session(engine) as session:
        result = verify_database(session, key(app).public_key())
    engine.dispose()
    assert not result.ok
    assert "checkpoint" in result.message


def test_export_verifies_offline_and_one_changed_byte_fails(app: Flask, tmp_path: Path) -> None:
    add_events(30)
    runner = CliRunner()
    env = cli_env(app)
    sealed = runner.invoke(main, ["audit", "seal", "--batch", "8"], env=env)
    assert sealed.exit_code == 0, sealed.output
    exported = runner.invoke(main, ["audit", "export", "--format", "jsonl"], env=env)
    assert exported.exit_code == 0, exported.output
    export = tmp_path / "audit.jsonl"
    export.write_text(exported.stdout, encoding="utf-8")
    assert exported.stdout.count('"checkpoint"') == 4
    pem = runner.invoke(main, ["audit", "public-key"], env=env)
    assert pem.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    public_file = tmp_path / "audit-public-key.pem"
    public_file.write_text(pem.stdout)

    # An outsider: no settings, no database, a separate process.
    outsider = {k: v for k, v in env.items() if not k.startswith("DISTSERVER_")}
    args = ["audit", "verify", "--export", str(export), "--public-key", str(public_file)]
    run = subprocess.run(
        distserver_cmd(*args), env=outsider, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok: 30 events verified")

    data = export.read_bytes()
    at = data.index(b"user3@example.org")
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(data[:at] + b"U" + data[at + 1 :])
    bad = runner.invoke(main, [*args[:3], str(tampered), *args[4:]], env=outsider)
    assert bad.exit_code == 1
    assert "verification failed" in bad.stderr, bad.stderr
    assert "was edited" in bad.stderr, bad.stderr

    # Every single-byte change anywhere in the file fails (sampled).
    rng = random.Random(3)
    public = key(app).public_key()
    for _ in range(200):
        at = rng.randrange(len(data))
        if data[at : at + 1] == b"\n":
            continue
        flipped = data[:at] + bytes([data[at] ^ (1 << rng.randrange(7))]) + data[at + 1 :]
        assert not verify_export(flipped.splitlines(keepends=True), public).ok, at


def test_filtered_exports_stream_only_matching_events(app: Flask) -> None:
    add_events(20)
    seal_pending(db.session, key(app))
    runner = CliRunner()
    env = cli_env(app)
    out = runner.invoke(
        main, ["audit", "export", "--format", "csv", "--model", "acme/llm"], env=env
    )
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0].startswith("seq,hash,id,occurred_at")
    assert len(lines) == 1 + 10
    out = runner.invoke(
        main,
        ["audit", "export", "--user", "user0@example.org", "--since", "2026-01-01T00:00:08Z"],
        env=env,
    )
    assert out.exit_code == 0, out.output
    assert len(out.stdout.splitlines()) == 1  # i = 14 only (i = 0 and 7 are earlier)
    bad = runner.invoke(main, ["audit", "export", "--since", "yesterday"], env=env)
    assert bad.exit_code == 1
    assert "ISO 8601" in bad.stderr
