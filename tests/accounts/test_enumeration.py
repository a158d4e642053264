"""Nothing tells whether an address has an account: /register, /forgot and /login
do the same password-hashing work on every branch (counted exactly, and timed
coarsely), and /register is rate-limited per e-mail and per client address, so it
cannot be used to mail-bomb an address or to probe many."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from argon2 import PasswordHasher

from distserver.mail import read_outbox
from tests.accounts.helpers import PASSWORD, csrf
from tests.support.world import World

LIMIT = 5


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Argon2 hash and verify made, in order."""
    calls: list[str] = []
    original_hash, original_verify = PasswordHasher.hash, PasswordHasher.verify

    def counted_hash(self: PasswordHasher, *a: Any, **kw: Any) -> str:
        calls.append("hash")
        return original_hash(self, *a, **kw)

    def counted_verify(self: PasswordHasher, *a: Any, **kw: Any) -> bool:
        calls.append("verify")
        return original_verify(self, *a, **kw)

    monkeypatch.setattr(PasswordHasher, "hash", counted_hash)
    monkeypatch.setattr(PasswordHasher, "verify", counted_verify)
    return calls


def _post(client: Any, page: str, **data: str) -> int:
    token = csrf(client, page)
    return client.post(page, data={"csrf_token": token, **data}).status_code


def _work(hashes: list[str], client: Any, page: str, **data: str) -> tuple[int, list[str]]:
    hashes.clear()
    status = _post(client, page, **data)
    return status, list(hashes)


def test_register_forgot_and_login_do_the_same_hashing_for_known_and_unknown_addresses(
    make_app: Any, tmp_path: Any, hashes: list[str]
) -> None:
    app = make_app("sqlite", REGISTER_RATE_LIMIT="100 per hour", RESET_RATE_LIMIT="100 per hour")
    with app.app_context():
        World(app, tmp_path / "src").person("old@example.org", password=PASSWORD)
        client = app.test_client()
        form = {"password": PASSWORD, "confirm": PASSWORD}
        new = _work(hashes, client, "/register", email="new@example.org", **form)
        taken = _work(hashes, client, "/register", email="old@example.org", **form)
        assert new == taken == (302, ["hash"]), (new, taken)

        known = _work(hashes, client, "/forgot", email="old@example.org")
        unknown = _work(hashes, client, "/forgot", email="nobody@example.org")
        assert known == unknown, (known, unknown)

        wrong = {"password": "not the password at all"}
        known = _work(hashes, client, "/login", email="old@example.org", **wrong)
        unknown = _work(hashes, client, "/login", email="nobody@example.org", **wrong)
        assert known == unknown == (401, ["verify"]), (known, unknown)


def test_register_takes_as_long_for_an_existing_address_as_for_a_new_one(
    make_app: Any, tmp_path: Any
) -> None:
    """Coarse, so that it holds on a loaded machine: interleaved samples, medians
    within a factor of two (before the fix the existing address skipped the Argon2
    hash and answered several times faster). At the production hashing cost: the
    tests' cheap one costs too little to tell the two apart."""
    app = make_app("sqlite", REGISTER_RATE_LIMIT="1000 per hour", PASSWORD_HASH_COST="rfc9106")
    with app.app_context():
        World(app, tmp_path / "src").person("old@example.org", password=PASSWORD)
        client = app.test_client()
        form = {"password": PASSWORD, "confirm": PASSWORD}
        _post(client, "/register", email="warm@example.org", **form)  # first-use costs
        timings: dict[str, list[float]] = {"new": [], "taken": []}
        for i in range(12):
            for kind, email in (("new", f"n{i}@example.org"), ("taken", "old@example.org")):
                token = csrf(client, "/register")
                started = time.perf_counter()
                answer = client.post(
                    "/register", data={"csrf_token": token, "email": email, **form}
                )
                timings[kind].append(time.perf_counter() - started)
                assert answer.status_code == 302
    new, taken = (statistics.median(timings[k]) for k in ("new", "taken"))
    print(f"\n/register median: new address {new * 1000:.1f} ms, existing {taken * 1000:.1f} ms")
    assert 0.5 < taken / new < 2.0, (new, taken)


def test_register_is_rate_limited_per_email_and_per_address(make_app: Any, tmp_path: Any) -> None:
    app = make_app("sqlite", REGISTER_RATE_LIMIT=f"{LIMIT} per hour")
    with app.app_context():
        World(app, tmp_path / "src").person("old@example.org", password=PASSWORD)
        form = {"password": PASSWORD, "confirm": PASSWORD}
        answers = []
        for i in range(8):
            # A new client address each time: only the per-e-mail limit can hold.
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
            answers.append(_post(client, "/register", email="old@example.org", **form))
        mails = [m for m in read_outbox() if m["to"] == "old@example.org"]
        assert len(mails) <= LIMIT, f"eight posts sent {len(mails)} mails"
        assert answers.count(429) == 8 - LIMIT, answers

        one = app.test_client()
        one.environ_base["REMOTE_ADDR"] = "10.0.1.1"
        spread = [_post(one, "/register", email=f"x{i}@example.org", **form) for i in range(8)]
        assert spread.count(429) == 8 - LIMIT, spread
