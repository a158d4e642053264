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
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    other = client.post(
        "/api/v1/models/acme/open/links", environ_base={"REMOTE_ADDR": "127.0.0.9"}, **ask
    )
    assert other.status_code == 201
    signed = client.post("/api/v1/models/acme/open/links", headers=person.auth, **ask)
    assert signed.status_code == 201
