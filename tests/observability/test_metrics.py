"""Done-when 4 of issue 14: /metrics parses with prometheus_client's own parser and carries
the series (request latency by route and status, links issued and refused by door and
reason, decision latency, sealing lag, webhook backlog, job backlog through its hook);
a scrape does no COUNT(*) over audit_events (counted on SQLite and PostgreSQL); the
setting that restricts who may scrape."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from distserver.access.models import Webhook, WebhookDelivery
from distserver.audit.sealing import seal_pending
from distserver.db import utcnow
from distserver.extensions import db
from distserver.observability.metrics import set_job_stats_reader
from tests.audit.helpers import add_events, key
from tests.support.world import World
from tests.web.support import counting

ASK = {"json": {"path": "config.json"}}


def scrape(client: Any, **kwargs: Any) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} as prometheus_client parses the body."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def labels(**kw: str) -> tuple:
    return tuple(sorted(kw.items()))


@pytest.fixture
def seeded(app: Flask, world: World) -> World:
    world.model("acme/open", plan="open", stage=None)
    world.model("acme/inner", stage="internal")
    db.session.commit()
    return world


def test_links_are_counted_by_door_outcome_and_reason_as_they_happen(
    app: Flask, seeded: World
) -> None:
    client = app.test_client()
    person = seeded.person("r@example.org")
    assert client.post("/api/v1/models/acme/open/links", **ASK).status_code == 201
    assert client.get("/acme/open/resolve/main/model.safetensors").status_code == 302
    assert client.post("/api/v1/models/acme/inner/links", **ASK).status_code == 404
    missing = client.post("/api/v1/models/acme/open/links", json={"path": "nope.bin"})
    assert missing.status_code == 404
    issued = client.post("/api/v1/models/acme/open/links", headers=person.auth, **ASK).json
    assert client.get(f"/dl/{issued['link_id']}", headers=person.auth).status_code == 302

    seen = scrape(client)
    links = seen["distserver_links_total"]
    assert links[labels(door="api", outcome="issued", reason="")] == 2
    assert links[labels(door="hf", outcome="issued", reason="")] == 1
    assert links[labels(door="dl", outcome="issued", reason="")] == 1
    assert links[labels(door="api", outcome="refused", reason="not_found")] == 2
    decisions = seen["distserver_link_decision_seconds_count"]
    assert decisions[labels(door="api")] == 4
    assert decisions[labels(door="dl")] == 1
    assert sum(seen["distserver_link_decision_seconds_sum"].values()) > 0


def test_request_latency_is_labelled_by_url_rule_and_status(app: Flask, seeded: World) -> None:
    client = app.test_client()
    person = seeded.person("r@example.org")
    link = client.post("/api/v1/models/acme/open/links", headers=person.auth, **ASK).json
    client.get(f"/dl/{link['link_id']}", headers=person.auth)
    client.get("/no/such/page")
    counts = scrape(client)["distserver_http_request_duration_seconds_count"]
    rule = "/api/v1/models/<namespace>/<name>/links"
    assert counts[labels(route=rule, method="POST", status="201")] == 1
    assert counts[labels(route="/dl/<link_id>", method="GET", status="302")] == 1
    assert counts[labels(route="<unmatched>", method="GET", status="404")] == 1
    # Never the raw path: the link id (a credential of sorts) is not a label value.
    assert not any(link["link_id"] in str(key) for key in counts)


def test_sealing_lag_is_the_age_of_the_oldest_unsealed_event(app: Flask) -> None:
    client = app.test_client()
    assert scrape(client)["distserver_audit_sealing_lag_seconds"][()] == 0
    add_events(3, start=utcnow() - timedelta(hours=2))
    lag = scrape(client)["distserver_audit_sealing_lag_seconds"][()]
    assert 2 * 3600 - 5 <= lag <= 2 * 3600 + 60
    seal_pending(db.session, key(app))
    add_events(2, start=utcnow() - timedelta(minutes=10))
    lag = scrape(client)["distserver_audit_sealing_lag_seconds"][()]
    assert 600 - 5 <= lag <= 600 + 60
    seal_pending(db.session, key(app))
    assert scrape(client)["distserver_audit_sealing_lag_seconds"][()] == 0


def test_webhook_backlog_and_the_job_backlog_hook(app: Flask) -> None:
    client = app.test_client()
    seen = scrape(client)
    assert seen["distserver_webhook_backlog"][()] == 0
    # The app's own job engine (in-process here): every queue declared, nothing waiting.
    assert set(seen["distserver_job_backlog"].values()) == {0}
    assert labels(queue="mail") in seen["distserver_job_backlog"]
    # Any engine can be read through the hook; a fake one shows the figures pass through.
    hook = Webhook(url="http://127.0.0.1:9/hook", secret="s", events="*")
    db.session.add(hook)
    db.session.flush()
    old = utcnow() - timedelta(minutes=5)
    for status in ("pending", "pending", "delivered", "failed"):
        db.session.add(
            WebhookDelivery(webhook_id=hook.id, event="e", body="{}", status=status, created_at=old)
        )
    db.session.commit()
    set_job_stats_reader(app, lambda: {"default": (7, 1), "mail": (0, 2)})
    seen = scrape(client)
    assert seen["distserver_webhook_backlog"][()] == 2
    assert 300 - 5 <= seen["distserver_webhook_oldest_pending_seconds"][()] <= 360
    assert seen["distserver_job_backlog"] == {labels(queue="default"): 7, labels(queue="mail"): 0}
    assert seen["distserver_job_failed"] == {labels(queue="default"): 1, labels(queue="mail"): 2}


def test_a_scrape_never_counts_over_audit_events(app: Flask, seeded: World) -> None:
    add_events(500, start=utcnow() - timedelta(days=1))
    seal_pending(db.session, key(app))
    add_events(20)
    client = app.test_client()
    client.get("/metrics")  # warm
    db.session.remove()
    with counting() as statements:
        assert client.get("/metrics").status_code == 200
    flat = [" ".join(s.lower().split()) for s in statements]
    print("\n".join(flat))
    on_audit = [s for s in flat if "audit_events" in s]
    assert on_audit, "the scrape reads the sealing lag from audit_events"
    assert not any("count(" in s for s in on_audit), on_audit
    assert all("limit" in s for s in on_audit), on_audit
    assert len(flat) <= 3, flat


@pytest.mark.postgres
def test_the_sealing_lag_query_walks_an_index_on_a_large_log(make_app: Any) -> None:
    from sqlalchemy import text

    from distserver.observability.metrics import LATE_COMMIT_WINDOW
    from distserver.observability.state import oldest_unsealed_query

    app = make_app("postgres")
    with app.app_context():
        add_events(30000, start=utcnow() - timedelta(days=2))
        seal_pending(db.session, key(app))
        add_events(50)
        db.session.execute(text("ANALYZE audit_events"))
        db.session.execute(text("ANALYZE audit_seals"))
        query = oldest_unsealed_query(LATE_COMMIT_WINDOW).compile(
            db.engine, compile_kwargs={"literal_binds": True}
        )
        plan = "\n".join(db.session.execute(text(f"EXPLAIN {query}")).scalars())
        db.session.rollback()
    print(plan)
    assert "Seq Scan on audit_events" not in plan, plan
    assert "Seq Scan on audit_seals" not in plan, plan
    # Both walks start at the bound (just below the newest sealed event), not at the start.
    assert "Index Cond: (id > " in plan, plan
    assert "Index Cond: (event_id > " in plan, plan


def _restricted(make_app: Any, **settings: Any) -> Any:
    return make_app("sqlite", **settings).test_client()


def test_metrics_token_is_required_when_set(make_app: Any) -> None:
    client = _restricted(make_app, METRICS_TOKEN="scrape-me-0123456789")
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "invalid_token"
    wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-x"})
    assert wrong.status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert ok.status_code == 200


def test_metrics_allow_list_admits_only_its_networks(make_app: Any) -> None:
    client = _restricted(make_app, METRICS_ALLOW=["10.1.0.0/16", "192.0.2.7"])
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "metrics_forbidden"
    # Behind no trusted proxy, a forged X-Forwarded-For does not get a scraper in.
    forged = client.get(
        "/metrics",
        headers={"X-Forwarded-For": "10.1.2.3"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert forged.status_code == 403


def test_token_and_allow_list_together_need_both(make_app: Any) -> None:
    client = _restricted(make_app, METRICS_TOKEN="t" * 24, METRICS_ALLOW="127.0.0.1")
    auth = {"Authorization": "Bearer " + "t" * 24}
    assert client.get("/metrics", headers=auth).status_code == 200
    assert client.get("/metrics").status_code == 401
    away = client.get("/metrics", headers=auth, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert away.status_code == 403


def test_production_without_settings_admits_loopback_only(make_app: Any) -> None:
    from distserver.observability.scrape_access import address_allowed, allowed_networks

    networks = allowed_networks({"ENV": "production"})
    assert address_allowed("127.0.0.1", networks)
    assert address_allowed("::1", networks)
    assert not address_allowed("10.0.0.1", networks)
    assert allowed_networks({"ENV": "testing"}) is None


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("METRICS_ALLOW", ["10.0.0.0/33"], "METRICS_ALLOW"),
        ("METRICS_ALLOW", "not-an-address", "METRICS_ALLOW"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
    ],
)
def test_bad_observability_settings_stop_start_up_with_a_sentence(
    make_app: Any, setting: str, value: Any, named: str
) -> None:
    from distserver.errors import ConfigError

    with pytest.raises(ConfigError, match=named):
        make_app("sqlite", **{setting: value})
