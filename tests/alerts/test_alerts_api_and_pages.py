"""Alerts in the API (listed in the OpenAPI document), on the staff Alerts page with
filters and its acknowledge/dismiss form, and as a chart on the audit page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distserver.accounts.services import create_token
from distserver.api.openapi import document
from distserver.extensions import db
from tests.accounts.helpers import PASSWORD, csrf_from, sign_in
from tests.alerts.support import alerts, alerts_app, ask, seal_and_evaluate
from tests.support.world import World

RULES = "[shared_credential]\nmax_addresses = 1\n[refusal_burst]\nmax_refusals = 1\n"


def _seeded(make_app: Any, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    app = alerts_app(make_app, tmp_path, "sqlite", RULES)
    people: dict[str, Any] = {}
    with app.app_context():
        world = World(app, tmp_path / "src")
        model = world.model("acme/llm", stage="research-access")
        people["r"] = world.person("r@example.org", tiers=("researcher",), model=model)
        for role in ("safety", "auditor", "reviewer"):
            people[role] = world.person(f"{role}@example.org", roles=(role,), password=PASSWORD)
            manage = create_token(
                db.session, people[role].user, name="m", scopes=("read", "manage")
            )
            people[role].token = manage.raw
        client = app.test_client()
        ask(client, "198.51.100.1", auth=people["r"].auth)
        ask(client, "198.51.100.2", auth=people["r"].auth, path="model.safetensors")
        ask(client, "203.0.113.9", ref="acme/hidden")
        ask(client, "203.0.113.9", ref="acme/hidden2")
        seal_and_evaluate(app)
        assert sorted(a.rule for a in alerts()) == ["refusal_burst", "shared_credential"]
    return app, people


def test_the_api_lists_filters_and_decides(make_app: Any, tmp_path: Path) -> None:
    app, people = _seeded(make_app, tmp_path)
    client = app.test_client()
    listed = client.get("/api/v1/alerts", headers=people["auditor"].auth)
    assert listed.status_code == 200
    assert [a["rule"] for a in listed.json["alerts"]] == ["refusal_burst", "shared_credential"]
    only = client.get("/api/v1/alerts?rule=refusal_burst", headers=people["auditor"].auth).json
    [burst] = only["alerts"]
    assert burst["principal"] == "addr:203.0.113.9"
    assert len(burst["evidence"]) == 2
    assert client.get("/api/v1/alerts", headers=people["reviewer"].auth).status_code == 403
    assert (
        client.get("/api/v1/alerts?state=closed", headers=people["auditor"].auth).status_code == 400
    )

    url = f"/api/v1/alerts/{burst['id']}/ack"
    assert client.post(url, json={"note": "x"}, headers=people["auditor"].auth).status_code == 403
    no_note = client.post(url, json={}, headers=people["safety"].auth)
    assert no_note.status_code == 400
    assert no_note.json["error"]["code"] == "note_required"
    done = client.post(url, json={"note": "a crawler; blocked"}, headers=people["safety"].auth)
    assert done.status_code == 200
    assert done.json["state"] == "acknowledged"
    again = client.post(url, json={"note": "again"}, headers=people["safety"].auth)
    assert again.status_code == 409
    still_open = client.get("/api/v1/alerts?state=open", headers=people["safety"].auth).json
    assert [a["rule"] for a in still_open["alerts"]] == ["shared_credential"]


def test_the_openapi_document_describes_the_alert_routes() -> None:
    paths = document()["paths"]
    assert set(paths["/api/v1/alerts"]) == {"get"}
    assert paths["/api/v1/alerts/{alert_id}/ack"]["post"]["operationId"] == "ack_alert"
    assert "Alert" in document()["components"]["schemas"]


def test_the_alerts_page_filters_and_acknowledges(make_app: Any, tmp_path: Path) -> None:
    app, people = _seeded(make_app, tmp_path)
    browser = app.test_client()
    sign_in(browser, "safety@example.org", totp_secret=people["safety"].totp_secret)
    page = browser.get("/staff/alerts?rule=shared_credential")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "shared_credential" in html
    assert "addr:203.0.113.9" not in html
    assert 'id="chart-alerts"' in html
    assert '<a href="/staff/alerts">Alerts</a>' in html  # in the navigation
    with app.app_context():
        [alert] = alerts("shared_credential")
    token = csrf_from(html)
    response = browser.post(
        f"/staff/alerts/{alert.id}",
        data={"csrf_token": token, "note": "travelling; confirmed by mail", "acknowledge": "y"},
    )
    assert response.status_code == 302
    with app.app_context():
        [alert] = alerts("shared_credential")
        assert (alert.state, alert.note) == ("acknowledged", "travelling; confirmed by mail")

    reviewer = app.test_client()
    sign_in(reviewer, "reviewer@example.org", totp_secret=people["reviewer"].totp_secret)
    assert reviewer.get("/staff/alerts").status_code == 403


def test_the_audit_page_charts_alerts_over_time(make_app: Any, tmp_path: Path) -> None:
    app, people = _seeded(make_app, tmp_path)
    browser = app.test_client()
    sign_in(browser, "auditor@example.org", totp_secret=people["auditor"].totp_secret)
    html = browser.get("/staff/audit").get_data(as_text=True)
    assert 'id="chart-alerts"' in html
    assert "Alerts raised per day by rule, last 30 days: 2 in all." in html


def test_an_alert_id_beyond_64_bits_is_not_found(make_app: Any, tmp_path: Path) -> None:
    app, people = _seeded(make_app, tmp_path)
    client = app.test_client()
    url = f"/api/v1/alerts/{2**64}/dismiss"
    assert client.post(url, json={}, headers=people["safety"].auth).status_code == 404
