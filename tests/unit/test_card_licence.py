"""The licence a model is created with lands in its card's front matter, where the
Hugging Face door's card_data reads it; cards whose front matter never closes are
refused with a sentence that says what to add."""

from __future__ import annotations

import pytest

from distserver.catalog.editing import check_card, with_licence
from distserver.errors import BadRequest
from distserver.hf.serializers import card_data
from distserver.web.render import without_front_matter


def test_a_card_without_front_matter_gets_one() -> None:
    card = with_licence("# Tiny\n", "apache-2.0")
    assert card == "---\nlicense: apache-2.0\n---\n# Tiny\n"
    assert card_data(card) == {"license": "apache-2.0"}
    assert without_front_matter(card) == "# Tiny\n"


def test_the_licence_replaces_one_already_in_the_front_matter() -> None:
    card = with_licence("---\nlicense: mit\ntags:\n- demo\n---\n# Tiny\n", "cc-by-4.0")
    assert card_data(card) == {"license": "cc-by-4.0", "tags": ["demo"]}
    assert card.count("license:") == 1
    assert without_front_matter(card) == "# Tiny\n"


def test_an_empty_card_holds_only_the_licence() -> None:
    assert card_data(with_licence("", "mit")) == {"license": "mit"}


@pytest.mark.parametrize("licence", ["", "apache 2.0", "mit\nfoo: bar", "x" * 65, "-mit"])
def test_a_licence_is_one_identifier(licence: str) -> None:
    with pytest.raises(BadRequest, match="A licence is an identifier"):
        with_licence("# Tiny\n", licence)


def test_front_matter_that_never_closes_is_refused() -> None:
    with pytest.raises(BadRequest, match="never closes it"):
        check_card("---\nlicense: mit\n# Tiny\n")
    check_card("--- not front matter\n# Tiny\n")  # only a line of exactly '---' opens one
