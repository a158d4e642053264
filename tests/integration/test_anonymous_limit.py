"""Anonymous downloads are rate-limited per address, across doors; tokens are not."""

from __future__ import annotations

from tests.support.world import World


def test_anonymous_link_requests_are_limited_per_address(make_app, db_backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(db_backend, ANONYMOUS_RATE_LIMIT="3 per minute")
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/open", plan="open", stage=None)
        person = world.person("r@example.org")
    client = app.test_client()
    ask = {"json": {"path": "config.json"}}
    statuses = [client.post("/api/v1/models/acme/open/links", **ask).status_code for _ in range(3)]
    assert statuses == [201, 201, 201]
    # The Hugging Face door draws on the same budget.
    over = client.head("/acme/open/resolve/main/config.json")
    assert over.status_code == 429
    limited = client.post("/api/v1/models/acme/open/links", **ask)
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limited"
    other = client.post(
        "/api/v1/models/acme/open/links", environ_base={"REMOTE_ADDR": "127.0.0.9"}, **ask
    )
    assert other.status_code == 201
    signed = client.post("/api/v1/models/acme/open/links", headers=person.auth, **ask)
    assert signed.status_code == 201


def test_anonymous_budget_covers_dl_reuse_and_the_web_download_button(
    make_app, db_backend, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Every anonymous way to a link draws on one budget: the links API, the Hugging
    Face resolve, reusing a /dl/ link and the web page's download button."""
    from tests.accounts.helpers import csrf

    app = make_app(db_backend, ANONYMOUS_RATE_LIMIT="4 per minute")
    with app.app_context():
        World(app, tmp_path / "src").model("acme/open", plan="open", stage=None)
    client = app.test_client()
    token = csrf(client, "/models/acme/open")  # pages are not links: not counted
    issued = client.post("/api/v1/models/acme/open/links", json={"path": "config.json"})
    assert issued.status_code == 201
    dl = f"/dl/{issued.json['link_id']}"
    button = {"data": {"csrf_token": token, "path": "config.json"}}
    assert client.get(dl).status_code == 302
    assert client.post("/models/acme/open/download", **button).status_code == 302
    assert client.get("/acme/open/resolve/main/config.json").status_code == 302
    # The budget of 4 is spent: every door now refuses, the reused link too.
    reused = client.get(dl)
    assert reused.status_code == 429
    assert reused.json["error"]["code"] == "rate_limited"
    assert client.post("/models/acme/open/download", **button).status_code == 429
    assert client.post("/api/v1/models/acme/open/links", json={"path": "x"}).status_code == 429


def test_empty_authorization_header_does_not_exempt_from_the_anonymous_budget(
    make_app, db_backend, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(db_backend, ANONYMOUS_RATE_LIMIT="2 per minute")
    with app.app_context():
        World(app, tmp_path / "src").model("acme/open", plan="open", stage=None)
    client = app.test_client()
    ask = {"json": {"path": "config.json"}}
    # A blank header is no token: the caller is anonymous and counted like one.
    statuses = [
        client.post(
            "/api/v1/models/acme/open/links", headers={"Authorization": header}, **ask
        ).status_code
        for header in ("", " ", "", "Bearer ")
    ]
    assert statuses == [201, 201, 429, 429]
    over = client.post("/api/v1/models/acme/open/links", headers={"Authorization": ""}, **ask)
    assert over.status_code == 429
    hf = client.get("/acme/open/resolve/main/config.json", headers={"Authorization": ""})
    assert hf.status_code == 429
