"""Issue 16's page defects, each fixed test first: the catalog shows title, licence,
total size, last update and stage; the release console never says "0.0 days"; an
anonymous visitor sees no internal gate requirements; the users page's role picker
has no default; the enrolment code field does not mention recovery codes."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from distserver.extensions import db
from tests.support.world import DEFAULT_FILES, World


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_catalog_shows_title_licence_size_update_and_stage(
    client: FlaskClient, world: World
) -> None:
    model = world.model("acme/llm", stage="general-availability")
    model.title = "LLM 7B"
    model.card = "---\nlicense: apache-2.0\n---\n# LLM\n"
    db.session.commit()
    page = client.get("/models").get_data(as_text=True)
    table = page.split('id="models"', 1)[1].split("</table>", 1)[0]
    heads = re.findall(r"<th scope=\"col\">([^<]+)</th>", table)
    for column in ("Title", "Licence", "Size", "Last update", "Stage"):
        assert column in heads, heads
    row = text(table.split("<tbody>", 1)[1])
    assert "LLM 7B" in row and "apache-2.0" in row and "general-availability" in row
    total = sum(len(b) for b in DEFAULT_FILES.values())
    assert f"{total / 1000:.1f} kB" in row, row
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", row), row
