"""Done when 5: S3 server access log lines in AWS's documented format, and the local
backend's own /files/ fetches, go through one matcher: each fetch is matched to its
link and recipient, an unmatched fetch is reported, a link never fetched shows as
such, and a link fetched from a second address raises the shared-link alert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from click.testing import CliRunner

from distserver.alerts.fetches import fetch_report, parse_s3_line, read_s3_log
from distserver.cli import main
from distserver.db import utcnow
from distserver.extensions import db
from distserver.storage.s3 import S3Storage
from tests.alerts.support import PROXY, alerts, alerts_app, ask, seal_and_evaluate
from tests.support.world import World

RULES = "[shared_link]\nmax_fetches = 3\n[repeat_download]\nmax_per_file = 50\n"
OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"


def s3_line(
    request_id: str, address: str, key: str, uri: str, *, status: int = 200, sent: int = 1234
) -> str:
    """One record in the documented field order: owner, bucket, [time], remote IP,
    requester, request ID, operation, key, "Request-URI", status, error code, bytes
    sent, object size, total time, turn-around time, "referer", "user agent", version
    id, host id, signature version, cipher suite, auth type, host header, TLS version,
    access point ARN, ACL required."""
    when = utcnow().strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f"{OWNER} models [{when}] {address} - {request_id} "
        f'REST.GET.OBJECT {quote(key)} "GET {uri} HTTP/1.1" {status} - {sent} {sent} 70 10 '
        f'"-" "curl/8.5.0" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6Ukk= SigV4 '
        "ECDHE-RSA-AES128-GCM-SHA256 QueryString models.s3.example.org TLSv1.3 - -"
    )


def test_an_s3_record_names_its_link() -> None:
    uri = (
        "/models/blobs/ab?X-Amz-Algorithm=AWS4-HMAC-SHA256&response-cache-control="
        + quote("private, no-store, x-link-id=AbC_123-xyz")
        + "&X-Amz-Signature=00"
    )
    fetch = parse_s3_line(s3_line("3E57427F3EXAMPLE", "192.0.2.3", "blobs/ab", uri))
    assert fetch is not None
    assert (fetch.link_id, fetch.address, fetch.bytes_sent, fetch.status) == (
        "AbC_123-xyz", "192.0.2.3", 1234, 200,
    )  # fmt: skip
    listing = s3_line("X", "192.0.2.3", "-", "/models?list-type=2").replace(
        "REST.GET.OBJECT", "REST.GET.BUCKET"
    )
    assert parse_s3_line(listing) is None
    assert parse_s3_line("not a log line") is None


def test_presigned_urls_ask_for_the_link_id_header() -> None:
    from distserver.storage.sigv4 import Credentials, QueryPresigner

    storage = S3Storage.__new__(S3Storage)  # signing needs no connection
    credentials = Credentials("AKIDEXAMPLE", "secret", None)
    storage.presigner = QueryPresigner(
        "http://127.0.0.1:9", "us-east-1", "models", lambda: credentials
    )
    url = storage.signed_url("blobs/" + "ab" * 32, ttl=60, filename="f", base_url="", link_id="L1")
    parts = urlsplit(url)
    fetch = parse_s3_line(s3_line("R", "192.0.2.3", "k", f"{parts.path}?{parts.query}"))
    assert fetch is not None
    assert fetch.link_id == "L1"


def test_fetches_match_links_and_raise_the_shared_link_rule(make_app: Any, tmp_path: Path) -> None:
    app = alerts_app(make_app, tmp_path, "sqlite", RULES)
    with app.app_context():
        world = World(app, tmp_path / "src")
        model = world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",), model=model)
        user_id = person.user.id
        client = app.test_client()
        fetched = ask(client, "198.51.100.1", auth=person.auth).json
        never = ask(client, "198.51.100.1", auth=person.auth, path="model.safetensors").json
        s3_fetched = ask(client, "198.51.100.1", auth=person.auth, path="sub/tokenizer.json").json

        def get(url: str, address: str) -> int:
            headers = {"X-Forwarded-For": address}
            return client.get(url, headers=headers, environ_base={"REMOTE_ADDR": PROXY}).status_code

        # The local door: fetched by its requester, then from a second address.
        assert get(fetched["url"], "198.51.100.1") == 200
        assert get(fetched["url"], "203.0.113.50") == 200
        # S3's records: one fetch of a link (from its requester), one naming no link.
        uri = "/models/blobs/cd?response-cache-control=" + quote(
            f"private, no-store, x-link-id={s3_fetched['link_id']}"
        )
        lines = [
            s3_line("REQ1", "198.51.100.1", "blobs/cd", uri, sent=14),
            s3_line("REQ2", "192.0.2.77", "blobs/ef", "/models/blobs/ef?X-Amz-Signature=1"),
        ]
        assert read_s3_log(db.session, lines) == 2
        assert read_s3_log(db.session, lines) == 0  # read twice, recorded once

        report = seal_and_evaluate(app)
        [alert] = alerts()
        assert (alert.rule, alert.principal, alert.window_key) == (
            "shared_link", f"link:{fetched['link_id']}", "elsewhere",
        )  # fmt: skip
        assert alert.detail["fetched_from"] == ["198.51.100.1", "203.0.113.50"]
        assert report.raised == [alert.id]
        assert seal_and_evaluate(app).raised == []

        uses, unmatched = fetch_report(db.session, utcnow() - timedelta(hours=1))
        by_id = {u.link_id: u for u in uses}
        assert by_id[fetched["link_id"]].fetches == 2
        assert by_id[never["link_id"]].fetches == 0  # never fetched
        assert by_id[s3_fetched["link_id"]].bytes_sent == 14
        assert by_id[s3_fetched["link_id"]].user_id == user_id
        assert [(f.request_id, f.address) for f in unmatched] == [("REQ2", "192.0.2.77")]

        out = CliRunner().invoke(main, ["alerts", "fetches"]).output
        assert "unmatched" in out
        assert never["link_id"] in out


def test_many_fetches_from_the_requester_raise_it_too(make_app: Any, tmp_path: Path) -> None:
    app = alerts_app(make_app, tmp_path, "sqlite", RULES)
    with app.app_context():
        world = World(app, tmp_path / "src")
        model = world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",), model=model)
        client = app.test_client()
        link = ask(client, "198.51.100.1", auth=person.auth).json
        proxy = {"REMOTE_ADDR": PROXY}
        for _ in range(3):
            client.get(link["url"], headers={"X-Forwarded-For": "198.51.100.1"}, environ_base=proxy)
        seal_and_evaluate(app)
        assert alerts() == []  # three fetches: the near miss
        client.get(link["url"], headers={"X-Forwarded-For": "198.51.100.1"}, environ_base=proxy)
        seal_and_evaluate(app)
        [alert] = alerts()
        assert alert.window_key == "count"
