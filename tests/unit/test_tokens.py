"""API token format: prefix, entropy, checksum, hash-only storage."""

from __future__ import annotations

import math

from distserver.accounts import tokens


def test_tokens_are_prefixed_long_and_unique() -> None:
    made = {tokens.generate() for _ in range(2000)}
    assert len(made) == 2000
    for raw in list(made)[:50]:
        assert raw.startswith("dst_")
        assert len(raw) == tokens.TOKEN_LEN
        assert tokens.well_formed(raw)
    assert tokens.BODY_LEN * math.log2(62) >= 128


def test_a_mistyped_token_fails_the_checksum() -> None:
    raw = tokens.generate()
    flipped = 0
    for i in range(len(tokens.PREFIX), len(raw)):
        for c in "aZ0":
            if raw[i] != c:
                typo = raw[:i] + c + raw[i + 1 :]
                assert not tokens.well_formed(typo), typo
                flipped += 1
    assert flipped > 100
    assert not tokens.well_formed(raw[:-1])
    assert not tokens.well_formed("ghp_" + raw[4:])


def test_only_the_hash_is_kept() -> None:
    raw = tokens.generate()
    digest = tokens.token_hash(raw)
    assert raw not in digest
    assert len(digest) == 64
    assert tokens.display_prefix(raw) == raw[:10]
