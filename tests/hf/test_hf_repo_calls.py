"""Issue 16, done-when 3: the rest of what huggingface_hub users call, each with the
real client in a fresh process against a live server: `hf auth login` / `hf auth
whoami` with a distserver token, `list_models`, `list_repo_refs`,
`list_repo_commits`, `get_paths_info`, `auth_check`, downloads by tag and by short
commit id, `card_data` from the card's front matter and `downloads` from the audit
log's count over 30 days."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from distserver.catalog.services import main_revision
from distserver.catalog.tags import tag_revision
from distserver.extensions import db
from distserver.hf import listing_views, repo_views
from distserver.identity import SYSTEM
from tests.hf.live import Hub
from tests.support.world import DEFAULT_FILES, sha256

V2 = {"config.json": b'{"hidden_size": 16}\n', "README.md": b"# v2\n"}


def api(hub: Hub, method: str, token: str | None = None, **kwargs: Any) -> Any:
    out = hub.client.run("api", "", method=method, token=token, kwargs=kwargs)
    assert out["ok"], out
    return out["result"]


def refused(hub: Hub, method: str, token: str | None = None, **kwargs: Any) -> dict[str, Any]:
    out = hub.client.run("api", "", method=method, token=token, kwargs=kwargs)
    assert not out["ok"], out
    return out


def test_hf_auth_login_and_whoami_work_with_a_distserver_token(hub2: Hub) -> None:
    alice = hub2.world.person("alice@example.org", tiers=("researcher",))
    login = hub2.client.cli("auth", "login", "--token", alice.token)
    assert login.returncode == 0, login.stdout + login.stderr
    assert "leaves your token in your shell history" not in login.stderr
    whoami = hub2.client.cli("auth", "whoami")
    assert whoami.returncode == 0, whoami.stdout + whoami.stderr
    assert "alice@example.org" in whoami.stdout
    # With the stored token, a download needs no --token (the README's form).
    hub2.world.model("acme/llm", stage="research-access")
    done = hub2.client.cli("download", "acme/llm", "config.json", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    me = api(hub2, "whoami", token=alice.token)
    assert me["name"] == "alice@example.org"
    assert me["auth"]["accessToken"] == {"displayName": "test", "role": "read"}
    bad = hub2.client.cli("auth", "login", "--token", "dst_" + "x" * 38)
    assert bad.returncode != 0
    assert "Invalid user token" in bad.stdout + bad.stderr


def test_list_models_shows_only_what_the_caller_may_see(
    hub2: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = hub2.world
    world.model("acme/open-llm", plan="open")
    world.model("acme/secret-llm", stage=None)  # internal: staff only
    world.model("acme/research-llm", stage="research-access")
    world.model("other/thing", stage="general-availability")
    staff = world.person("sam@example.org", roles=("safety",))
    # Pages of one model each: the client follows the Link header through them all.
    monkeypatch.setattr(listing_views, "PAGE_SIZE", 1)

    def ids(token: str | None = None, **kwargs: Any) -> list[str]:
        return [m["id"] for m in api(hub2, "list_models", token=token, **kwargs)]

    assert ids() == ["acme/open-llm", "acme/research-llm", "other/thing"]
    assert "acme/secret-llm" in ids(token=staff.token)
    assert ids(search="RESEARCH") == ["acme/research-llm"]
    assert ids(search="secret") == []
    assert ids(author="other") == ["other/thing"]
    # downloads: from the audit log; sorted most first.
    got = hub2.client.run("file", "other/thing", filename="config.json")
    assert got["ok"], got
    by_downloads = api(hub2, "list_models", sort="downloads")
    assert (by_downloads[0]["id"], by_downloads[0]["downloads"]) == ("other/thing", 1)
    assert ids(sort="last_modified", limit=2) == ["other/thing", "acme/research-llm"]


def test_refs_commits_and_paths_info_of_a_tagged_model(
    hub2: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = hub2.world
    model = world.model("acme/llm", stage="research-access")
    first = main_revision(db.session, model)
    tag_revision(db.session, model, first, "v1.0", SYSTEM)
    second = world.publish(model, V2)
    alice = world.person("alice@example.org", tiers=("researcher",))

    refs = api(hub2, "list_repo_refs", repo_id="acme/llm")
    assert [(b["name"], b["target_commit"]) for b in refs["branches"]] == [("main", second)]
    assert [(t["name"], t["ref"], t["target_commit"]) for t in refs["tags"]] == [
        ("v1.0", "refs/tags/v1.0", first.commit)
    ]

    monkeypatch.setattr(repo_views, "COMMITS_PAGE_SIZE", 1)  # the client follows pages
    commits = api(hub2, "list_repo_commits", repo_id="acme/llm")
    assert [c["commit_id"] for c in commits] == [second, first.commit]
    assert commits[0]["authors"] == ["distserver"]
    tagged = api(hub2, "list_repo_commits", repo_id="acme/llm", revision="v1.0")
    assert [c["commit_id"] for c in tagged] == [first.commit]

    infos = api(
        hub2,
        "get_paths_info",
        token=alice.token,
        repo_id="acme/llm",
        paths=["config.json", "sub", "no-such-file"],
        revision="v1.0",
    )
    assert [(i["_class"], i["path"]) for i in infos] == [
        ("RepoFile", "config.json"),
        ("RepoFolder", "sub"),
    ]
    assert infos[0]["size"] == len(DEFAULT_FILES["config.json"])
    assert infos[0]["lfs"]["sha256"] == sha256(DEFAULT_FILES["config.json"])
    gated = refused(hub2, "get_paths_info", repo_id="acme/llm", paths=["config.json"])
    assert gated["error"] == "GatedRepoError"

    # Downloads by tag and by short commit id get the first revision's bytes.
    for rev in ("v1.0", first.commit[:7]):
        _forget_cache(hub2)  # the same commit: each run fetches (and is counted) anew
        out = hub2.client.run(
            "file", "acme/llm", filename="config.json", revision=rev, token=alice.token
        )
        assert out == {"ok": True, "files": {"config.json": sha256(DEFAULT_FILES["config.json"])}}
    events = world.events("download:link:issued")
    assert [e.revision for e in events] == [first.commit, first.commit]
    latest = hub2.client.run("file", "acme/llm", filename="config.json", token=alice.token)
    assert latest["files"] == {"config.json": sha256(V2["config.json"])}
    missing = hub2.client.run("file", "acme/llm", filename="config.json", revision="v9.9")
    assert missing["error"] == "RevisionNotFoundError", missing


def test_auth_check_answers_as_a_download_would(hub2: Hub) -> None:
    world = hub2.world
    world.model("acme/llm", stage="research-access")
    world.model("acme/secret-llm", stage=None)
    alice = world.person("alice@example.org", tiers=("researcher",))
    bob = world.person("bob@example.org")
    assert api(hub2, "auth_check", token=alice.token, repo_id="acme/llm") is None
    gated = refused(hub2, "auth_check", token=bob.token, repo_id="acme/llm")
    assert gated["error"] == "GatedRepoError"
    # The refusal says where to apply, and names the tiers by their titles.
    apply = f"{hub2.server.url}/models/acme/llm/apply?tier=researcher"
    assert f"Apply for access at {apply}" in gated["message"]
    assert "Vetted partner or Approved researcher tier" in gated["message"]
    assert refused(hub2, "auth_check", repo_id="acme/llm")["error"] == "GatedRepoError"
    hidden = refused(hub2, "auth_check", token=alice.token, repo_id="acme/secret-llm")
    assert hidden["error"] == "RepositoryNotFoundError"
    write = refused(hub2, "auth_check", token=alice.token, repo_id="acme/llm", write=True)
    assert "takes no uploads" in write["message"]


def test_model_info_carries_card_data_and_downloads_of_30_days(hub2: Hub) -> None:
    model = hub2.world.model("acme/llm", plan="open")
    model.card = "---\nlicense: apache-2.0\nlanguage:\n- en\ntags:\n- demo\n---\n# LLM\n"
    db.session.commit()
    for _ in range(2):
        got = hub2.client.run("file", "acme/llm", filename="config.json")
        assert got["ok"], got
        _forget_cache(hub2)
    info = api(hub2, "model_info", repo_id="acme/llm")
    assert info["card_data"]["license"] == "apache-2.0"
    assert info["card_data"]["language"] == ["en"]
    assert info["downloads"] == len(hub2.world.events("download:link:issued")) == 2


def _forget_cache(hub: Hub) -> None:
    """Drop the client's cache, so the next run fetches (and counts) again."""
    shutil.rmtree(hub.client.home / "hub", ignore_errors=True)
