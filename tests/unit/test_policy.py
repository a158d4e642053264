# ruff: noqa: E501  (the decision table reads best one case a line)
"""The policy's full table: every reason code reachable, each for the right case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from distserver.access.policy import (
    REASONS,
    STAFF_TIER,
    AccessFacts,
    GrantFacts,
    ModelFacts,
    decide,
)
from distserver.access.tiers import load_tiers
from distserver.config import PROJECT_DIR
from distserver.identity import Principal

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TIERS = load_tiers(PROJECT_DIR / "tiers")
AGREE = frozenset(t.agreement.sha256 for t in TIERS.values() if t.agreement)
LATER = NOW + timedelta(days=30)
EARLIER = NOW - timedelta(seconds=1)

ANON = Principal(address="203.0.113.9")
RESEARCHER = Principal(address="a", user_id=1, email="r@x.org")
SAFETY = Principal(address="a", user_id=2, email="s@x.org", roles=frozenset({"safety"}))
REVIEWER = Principal(address="a", user_id=3, email="v@x.org", roles=frozenset({"reviewer"}))
SUSPENDED = Principal(address="a", user_id=4, email="x@x.org", suspended=True)

INTERNAL = ModelFacts("acme/llm", "internal", ())
PARTNERS = ModelFacts("acme/llm", "partner-preview", ("vetted_partner",))
RESEARCH = ModelFacts("acme/llm", "research-access", ("vetted_partner", "researcher"))
PUBLIC = ModelFacts("acme/llm", "general-availability", ("vetted_partner", "researcher", "public"))
HALTED = ModelFacts("acme/llm", "research-access", ("vetted_partner", "researcher"), halted=True)


def facts(*grants: tuple[str, datetime | None], accepted=AGREE, used=None) -> AccessFacts:  # type: ignore[no-untyped-def]
    return AccessFacts(
        grants=tuple(GrantFacts(t, e) for t, e in grants),
        accepted=accepted,
        used_today=used or {},
    )


CASES = [
    # (case, principal, model, revision, path, file_exists, facts, expected reason or tier)
    ("no such model", RESEARCHER, None, "c" * 40, "f", True, facts(), "not_found"),
    ("internal model, not staff", RESEARCHER, INTERNAL, "c" * 40, "f", True, facts(("researcher", LATER)), "not_found"),
    ("internal model, reviewer", REVIEWER, INTERNAL, "c" * 40, "f", True, facts(), "stage_closed"),
    ("no such revision", RESEARCHER, RESEARCH, None, "f", True, facts(), "not_found"),
    ("no such file", RESEARCHER, RESEARCH, "c" * 40, "nope", False, facts(), "not_found"),
    ("anonymous, gated stage", ANON, RESEARCH, "c" * 40, "f", True, facts(), "login_required"),
    ("researcher at partner stage", RESEARCHER, PARTNERS, "c" * 40, "f", True, facts(("researcher", LATER)), "stage_closed"),
    ("no grant", RESEARCHER, RESEARCH, "c" * 40, "f", True, facts(), "no_grant"),
    ("grant expired", RESEARCHER, RESEARCH, "c" * 40, "f", True, facts(("researcher", EARLIER)), "grant_expired"),
    ("agreement missing", RESEARCHER, RESEARCH, "c" * 40, "f", True, facts(("researcher", LATER), accepted=frozenset()), "agreement_required"),
    ("quota used up", RESEARCHER, RESEARCH, "c" * 40, "f", True, facts(("researcher", LATER), used={"researcher": 500}), "quota_exceeded"),
    ("halted", RESEARCHER, HALTED, "c" * 40, "f", True, facts(("researcher", LATER)), "halted"),
    ("halted, staff too", SAFETY, HALTED, "c" * 40, "f", True, facts(), "halted"),
    ("suspended", SUSPENDED, RESEARCH, "c" * 40, "f", True, facts(("researcher", LATER)), "suspended"),
    ("researcher allowed", RESEARCHER, RESEARCH, "c" * 40, "f", True, facts(("researcher", LATER)), "researcher"),
    ("grant without expiry", RESEARCHER, RESEARCH, "c" * 40, "f", True, facts(("researcher", None)), "researcher"),
    ("partner preferred", RESEARCHER, PUBLIC, "c" * 40, "f", True, facts(("researcher", LATER), ("vetted_partner", LATER)), "vetted_partner"),
    ("anonymous public", ANON, PUBLIC, "c" * 40, "f", True, facts(), "public"),
    ("anonymous public over quota", ANON, PUBLIC, "c" * 40, "f", True, facts(used={"public": 200}), "quota_exceeded"),
    ("staff at internal", SAFETY, INTERNAL, "c" * 40, "f", True, facts(), STAFF_TIER),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_decision_table(case) -> None:  # type: ignore[no-untyped-def]
    _, principal, model, revision, path, exists, held, expected = case
    d = decide(principal, model, revision, path, NOW, tiers=TIERS, facts=held, file_exists=exists)
    if expected in REASONS:
        assert not d.allowed, d
        assert d.reason == expected, d
        assert d.message
    else:
        assert d.allowed, d
        assert d.tier == expected, d
        assert 1 <= d.link_ttl <= 7 * 24 * 3600


def test_every_reason_code_is_reachable() -> None:
    reached = {c[-1] for c in CASES} & set(REASONS)
    assert reached == set(REASONS)


def test_link_ttl_comes_from_the_tier() -> None:
    d = decide(
        RESEARCHER, RESEARCH, "c" * 40, "f", NOW, tiers=TIERS, facts=facts(("researcher", LATER))
    )
    assert d.link_ttl == TIERS["researcher"].link_ttl == 900


def test_expiry_is_exclusive_at_the_instant() -> None:
    held = facts(("researcher", NOW))
    d = decide(RESEARCHER, RESEARCH, "c" * 40, "f", NOW, tiers=TIERS, facts=held)
    assert d.reason == "grant_expired"


def test_a_missing_model_and_an_invisible_one_read_the_same() -> None:
    a = decide(RESEARCHER, None, "c" * 40, "f", NOW, tiers=TIERS, facts=facts())
    b = decide(RESEARCHER, INTERNAL, "c" * 40, "f", NOW, tiers=TIERS, facts=facts())
    assert (a.reason, a.message, a.missing) == (b.reason, b.message, b.missing)
