"""`next` after sign-in only ever points within the site: 50 hostile values tried."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from flask import Flask

from tests.accounts.helpers import PASSWORD, sign_in
from tests.support.world import World

HOSTILE = [
    "//evil.com",
    "///evil.com",
    "////evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "\\/evil.com",
    "https://evil.com",
    "http://evil.com/",
    "https:evil.com",
    "http:/evil.com",
    "http:\\\\evil.com",
    "HTTPS://EVIL.COM",
    "//evil.com/%2F..",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "%2F%2Fevil.com",
    "/%2F%2Fevil.com",
    "/%2f%2fevil.com",
    "%2F%5Cevil.com",
    "/%5Cevil.com",
    "/%5C%5Cevil.com",
    "%252F%252Fevil.com",
    "/%252F%252Fevil.com",
    "/%09/evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "/\r\nLocation: https://evil.com",
    "/%0d%0aLocation:%20https://evil.com",
    "\r\n//evil.com",
    " //evil.com",
    "//evil.com@good.example",
    "/@evil.com",
    "//localhost@evil.com",
    "http://localhost@evil.com",
    "//evil%E3%80%82com",
    "\uff0f\uff0fevil.com",  # fullwidth solidus
    "/\uff0fevil.com",
    "\u2215\u2215evil.com",  # division slash
    "/\u3002evil.com",
    "//\uff45\uff56\uff49\uff4c.com",  # fullwidth letters
    "/\u202e//evil.com",  # right-to-left override
    "/\x00//evil.com",
    "//evil.com\\@good",
    "ftp://evil.com",
    "\\\\\\evil.com",
]


def test_fifty_hostile_next_values_never_leave_the_site(app: Flask, world: World) -> None:
    assert len(HOSTILE) == 50
    assert len(set(HOSTILE)) == 50
    world.person("alice@example.org", password=PASSWORD)
    held = 0
    for value in HOSTILE:
        client = app.test_client()
        answer = sign_in(client, "alice@example.org", next_url=value)
        assert answer.status_code == 302, value
        location = answer.headers["Location"]
        # Resolve as a browser would, against the page that answered.
        resolved = urlsplit(urljoin("http://localhost/login", location))
        assert resolved.scheme == "http", (value, location)
        assert resolved.netloc == "localhost", (value, location)
        assert not location.startswith(("//", "/\\")), value
        assert "\n" not in location, value
        held += 1
    print(f"hostile next values tried: {len(HOSTILE)}, held: {held}")


def test_a_local_next_is_followed(app: Flask, world: World) -> None:
    world.person("alice@example.org", password=PASSWORD)
    answer = sign_in(app.test_client(), "alice@example.org", next_url="/account?tab=1")
    assert answer.headers["Location"] == "/account?tab=1"
