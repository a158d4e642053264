"""Fingerprinted tiers end to end: partners download marked copies through the native
API (local backend on SQLite and PostgreSQL, and once on the real S3 peer); weights
differ per recipient with the header layout unchanged, every other file is served as
published, the reported sha256 is that of the bytes received, copies are reused, made
once under concurrency, and removed when the grant ends. Copies are prepared by the
background jobs a grant triggers (in-process here: `drain` waits for them)."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import ml_dtypes
import numpy as np
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from distserver.access.services import add_grant, revoke_grants
from distserver.cli import main
from distserver.extensions import db
from distserver.fingerprint import SafetensorsReader, read_header, write_safetensors
from distserver.fingerprint.copies import remove_copies_for_ended_grants
from distserver.fingerprint.models import FingerprintCopy
from distserver.identity import SYSTEM
from distserver.jobs import drain, job_runtime
from tests.hf.live import HubClient, LiveServer
from tests.support.s3fixtures import s3_settings
from tests.support.world import World, sha256

MODEL = "acme/fp"
WEIGHTS = "model.safetensors"
CONFIG = b'{"hidden_size": 1024, "torch_dtype": "bfloat16"}\n'
TOKENIZER = b'{"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}}}\n'


def synthetic_weights(path: Path, seed: int = 11) -> bytes:
    """A safetensors file of about 3.3M entries: F32, F16 and BF16 matrices, plus 1-D
    and integer tensors the mark leaves alone."""
    rng = np.random.default_rng(seed)

    def mat(rows: int, cols: int, std: float, dtype: object) -> np.ndarray:
        scale = std * rng.lognormal(0, 0.3, size=(rows, 1))
        return (rng.standard_normal((rows, cols)) * scale).astype(dtype)

    tensors = {
        "model.embed_tokens.weight": mat(2048, 512, 0.05, np.float32),
        "model.layers.0.self_attn.q_proj.weight": mat(1024, 1024, 0.03, ml_dtypes.bfloat16),
        "model.layers.0.input_layernorm.weight": np.ones(1024, dtype=np.float32),
        "model.layers.0.mlp.up_proj.weight": mat(1024, 1024, 0.03, np.float16),
        "model.layers.0.mlp.down_proj.weight": mat(256, 1024, 0.02, np.float32),
        "model.position_ids": np.arange(2048, dtype=np.int64).reshape(1, 2048),
    }
    write_safetensors(path, tensors, {"format": "pt"})
    return path.read_bytes()


def publish_model(world: World, tmp: Path) -> bytes:
    """Publish the synthetic model at a partner-only stage; returns the weights bytes."""
    weights = synthetic_weights(tmp / "orig.safetensors")
    files = {WEIGHTS: weights, "config.json": CONFIG, "tokenizer.json": TOKENIZER}
    world.model(MODEL, stage="partner-preview", files=files)
    return weights


def link(client: FlaskClient, auth: dict[str, str], path: str) -> dict:  # type: ignore[type-arg]
    r = client.post(f"/api/v1/models/{MODEL}/links", json={"path": path}, headers=auth)
    assert r.status_code == 201, r.json
    return r.json  # type: ignore[no-any-return]


def download(client: FlaskClient, auth: dict[str, str], path: str) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    """Ask for a link and follow it (local backend: /files/<token> via the test client)."""
    body = link(client, auth, path)
    served = client.get(urlsplit(body["url"]).path)
    assert served.status_code == 200
    return body, served.data


def tensors(data: bytes) -> dict[str, np.ndarray]:
    header = read_header(io.BytesIO(data))
    out = {}
    for t in header.tensors:
        out[t.name] = np.frombuffer(data[header.data_start + t.begin : header.data_start + t.end],
                                    dtype=np.uint8)  # fmt: skip
    return out


def check_copy(copy: bytes, original: bytes) -> None:
    """Same length and header bytes; marked matrices changed, everything else not."""
    assert len(copy) == len(original)
    assert copy != original
    head = read_header(io.BytesIO(original))
    assert copy[: head.data_start] == original[: head.data_start]
    got, want = tensors(copy), tensors(original)
    for t in head.tensors:
        same = bytes(got[t.name]) == bytes(want[t.name])
        assert same != t.markable, t.name


def test_partners_download_their_own_marked_copies(
    app: Flask, client, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = publish_model(world, tmp_path)
    alice = world.person("alice@example.org", tiers=("vetted_partner",))
    bob = world.person("bob@example.org", tiers=("vetted_partner",))
    drain(app)
    # Carol's copy is never prepared here (no worker runs): her listing says pending.
    job_runtime(app).stop()
    monkeypatch.setattr(job_runtime(app), "_start_worker", lambda: None)
    carol = world.person("carol@example.org", tiers=("vetted_partner",))

    got = {}
    for who in (alice, bob):
        body, data = download(client, who.auth, WEIGHTS)
        assert body["tier"] == "vetted_partner"
        assert body["sha256"] == sha256(data)
        assert body["size"] == len(data)
        check_copy(data, original)
        got[who.user.email] = (body, data)
        for path, published in (("config.json", CONFIG), ("tokenizer.json", TOKENIZER)):
            plain, served = download(client, who.auth, path)
            assert served == published
            assert plain["sha256"] == sha256(published)
    (a_body, a_data), (b_body, b_data) = got.values()
    assert a_data != b_data
    assert a_body["sha256"] != b_body["sha256"]

    # Reused afterwards: same bytes, one copy row each, one copy made each.
    again, again_data = download(client, alice.auth, WEIGHTS)
    assert again["sha256"] == a_body["sha256"]
    assert again_data == a_data
    rows = db.session.scalars(db.select(FingerprintCopy).order_by(FingerprintCopy.id)).all()
    assert [r.user_id for r in rows] == [alice.user.id, bob.user.id]
    assert [r.copy_sha256 for r in rows] == [a_body["sha256"], b_body["sha256"]]
    assert {r.original_sha256 for r in rows} == {sha256(original)}
    assert len(world.events("fingerprint:copy:made")) == 2

    # The /dl/ door serves the same copy.
    dl = client.get(f"/dl/{a_body['link_id']}", headers=alice.auth)
    assert dl.status_code == 302
    assert client.get(urlsplit(dl.headers["Location"]).path).data == a_data

    # The audit events name the copy and its fingerprint.
    issued = [e for e in world.events("download:link:issued") if e.path == WEIGHTS]
    assert [e.sha256 for e in issued] == [a_body["sha256"], b_body["sha256"], a_body["sha256"]]
    data = json.loads(issued[0].data)
    assert data["fingerprint_id"] == f"user-{alice.user.id}"
    assert data["original_sha256"] == sha256(original)
    assert data["key_id"] == rows[0].key_id
    used = world.events("download:link:used")[0]
    assert used.sha256 == a_body["sha256"]
    assert "fingerprint_id" in json.loads(used.data)
    plain = next(e for e in world.events("download:link:issued") if e.path == "config.json")
    assert plain.sha256 == sha256(CONFIG)
    assert "fingerprint_id" not in json.loads(plain.data)

    # The catalog reports each recipient's own copy, and flags a copy not made yet.
    for who, want in ((alice, a_body), (bob, b_body)):
        files = client.get(f"/api/v1/models/{MODEL}", headers=who.auth).json["files"]
        entry = next(f for f in files if f["path"] == WEIGHTS)
        assert entry == {"path": WEIGHTS, "size": len(original), "sha256": want["sha256"],
                         "fingerprint": "copy"}  # fmt: skip
        config = next(f for f in files if f["path"] == "config.json")
        assert config["sha256"] == sha256(CONFIG)
        assert config["fingerprint"] is None
    pending = client.get(f"/api/v1/models/{MODEL}", headers=carol.auth).json["files"]
    entry = next(f for f in pending if f["path"] == WEIGHTS)
    assert entry["fingerprint"] == "pending"
    assert entry["size"] == len(original)


def test_concurrent_first_requests_make_one_copy(app: Flask, world: World, tmp_path: Path) -> None:
    publish_model(world, tmp_path)
    alice = world.person("alice@example.org", tiers=("vetted_partner",))
    drain(app)
    shas: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def ask() -> None:
        try:
            start.wait()
            shas.append(link(app.test_client(), alice.auth, WEIGHTS)["sha256"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(shas) == 4
    assert len(set(shas)) == 1
    db.session.expire_all()
    rows = db.session.scalars(db.select(FingerprintCopy)).all()
    assert len(rows) == 1
    assert rows[0].copy_sha256 == shas[0]
    served = app.test_client().get(
        urlsplit(link(app.test_client(), alice.auth, WEIGHTS)["url"]).path
    )
    assert sha256(served.data) == shas[0]


def test_copies_are_removed_when_the_grant_ends(
    app: Flask, client, world: World, tmp_path: Path
) -> None:
    publish_model(world, tmp_path)
    alice = world.person("alice@example.org", tiers=("vetted_partner",))
    bob = world.person("bob@example.org", tiers=("vetted_partner",))
    drain(app)
    first, _ = download(client, alice.auth, WEIGHTS)
    download(client, bob.auth, WEIGHTS)
    rt = world.rt
    assert remove_copies_for_ended_grants(db.session, rt) == []
    revoke_grants(db.session, alice.user, rt.tiers["vetted_partner"], None, actor=SYSTEM)
    result = app.test_cli_runner().invoke(main, ["fingerprints", "prune"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("removed 1 copy\n")
    db.session.expire_all()
    rows = {r.user_id: r for r in db.session.scalars(db.select(FingerprintCopy))}
    assert rows[alice.user.id].removed_at is not None
    assert rows[bob.user.id].removed_at is None
    assert not rt.storage.exists(rows[alice.user.id].storage_key)
    assert rt.storage.exists(rows[bob.user.id].storage_key)
    removed = world.events("fingerprint:copy:removed")
    assert len(removed) == 1
    assert removed[0].sha256 == first["sha256"]
    refused = client.post(f"/api/v1/models/{MODEL}/links", json={"path": WEIGHTS},
                          headers=alice.auth)  # fmt: skip
    assert refused.status_code == 403
    # Granted again: the copy is re-made, identical (the mark is deterministic).
    add_grant(db.session, alice.user, rt.tiers["vetted_partner"], None, days=30, actor=SYSTEM)
    drain(app)
    again, data = download(client, alice.auth, WEIGHTS)
    assert again["sha256"] == first["sha256"] == sha256(data)
    db.session.expire_all()
    assert db.session.get(FingerprintCopy, rows[alice.user.id].id).removed_at is None


def test_marked_copies_on_the_real_s3_peer(make_app, s3_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app("sqlite", **s3_settings(s3_env))
    http = requests.Session()
    http.trust_env = False
    with app.app_context():
        world = World(app, tmp_path / "src")
        original = publish_model(world, tmp_path)
        people = [world.person(f"p{i}@example.org", tiers=("vetted_partner",)) for i in (1, 2)]
        drain(app)
        client = app.test_client()
        copies = []
        for who in people:
            body = link(client, who.auth, WEIGHTS)
            assert urlsplit(body["url"]).hostname == "127.0.0.1"
            got = http.get(body["url"], timeout=30)
            assert got.status_code == 200
            assert sha256(got.content) == body["sha256"]
            assert len(got.content) == body["size"]
            check_copy(got.content, original)
            copies.append(got.content)
            config = http.get(link(client, who.auth, "config.json")["url"], timeout=30)
            assert config.content == CONFIG
        assert copies[0] != copies[1]
        with SafetensorsReader(tmp_path / "orig.safetensors") as r:
            assert len(r.tensors) == 6


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_the_hugging_face_door_serves_and_reports_the_recipients_copy(
    make_app, tmp_path: Path, storage: str, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    settings = s3_settings(request.getfixturevalue("s3_env")) if storage == "s3" else {}
    app = make_app("sqlite", **settings)
    server = LiveServer(app)
    try:
        with app.app_context():
            world = World(app, tmp_path / "src")
            original = publish_model(world, tmp_path)
            people = [world.person(f"h{i}@example.org", tiers=("vetted_partner",)) for i in (1, 2)]
            drain(app)
            got = []
            for i, p in enumerate(people):  # each recipient with a cache of their own
                (tmp_path / f"hf-home{i}").mkdir()
                client = HubClient(server.url, tmp_path / f"hf-home{i}")
                got.append(client.run("snapshot", MODEL, token=p.token))
            for out in got:
                assert out["ok"], out
                assert out["files"]["config.json"] == sha256(CONFIG)
                assert out["files"]["tokenizer.json"] == sha256(TOKENIZER)
                assert out["files"][WEIGHTS] != sha256(original)
            assert got[0]["files"][WEIGHTS] != got[1]["files"][WEIGHTS]
            db.session.expire_all()
            rows = {r.user_id: r for r in db.session.scalars(db.select(FingerprintCopy))}
            for p, out in zip(people, got, strict=True):
                assert rows[p.user.id].copy_sha256 == out["files"][WEIGHTS]
                tree = app.test_client().get(f"/api/models/{MODEL}/tree/main", headers=p.auth).json
                entry = next(e for e in tree if e["path"] == WEIGHTS)
                assert entry["lfs"]["oid"] == out["files"][WEIGHTS]
                assert entry["size"] == len(original)
    finally:
        server.stop()
