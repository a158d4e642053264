"""A dump of the whole database (every table, every row, as text) holds no
password, API token, TOTP secret or recovery code in clear text."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from distserver.accounts.services import create_token
from distserver.extensions import db
from tests.accounts.helpers import PASSWORD, sign_in, sign_out
from tests.support.world import World


def dump_database() -> str:
    engine = db.engine
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    lines: list[str] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                lines.append(f"{table.name}: " + " | ".join(repr(v) for v in row))
    return "\n".join(lines)


def test_the_database_dump_holds_no_secret(app: Flask, world: World) -> None:
    world.model("acme/llm")
    alice = world.person("alice@example.org", password=PASSWORD)
    boss = world.person("boss@example.org", roles=("admin", "safety"), password="boss password 123")
    extra = create_token(db.session, alice.user, name="ci", scopes=("read", "manage")).raw
    client = app.test_client()
    sign_in(client, "alice@example.org")
    client.post("/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=alice.auth)
    sign_out(client)
    sign_in(app.test_client(), "alice@example.org", "wrong password that was typed")
    sign_in(
        app.test_client(), "boss@example.org", "boss password 123", totp_secret=boss.totp_secret
    )

    text = dump_database()
    assert "alice@example.org" in text
    assert "users:" in text
    assert boss.totp_secret is not None
    secrets = {
        "password": PASSWORD,
        "staff password": "boss password 123",
        "mistyped password": "wrong password that was typed",
        "token": alice.token,
        "second token": extra,
        "staff token": boss.token,
        "token body": alice.token[4:20],
        "TOTP secret": boss.totp_secret,
        "TOTP secret (lower case)": boss.totp_secret.lower(),
    }
    for i, code in enumerate(boss.recovery_codes):
        secrets[f"recovery code {i}"] = code
        secrets[f"recovery code {i} (compact)"] = code.replace("-", "")
    found = [what for what, value in secrets.items() if value in text]
    assert not found, f"in clear text in the database: {found}"
    print(
        f"database dump: {len(text.splitlines())} rows, {len(secrets)} secrets looked for, 0 found"
    )
