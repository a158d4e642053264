"""The Hub's JSON shapes for model info and tree listings, built from catalog objects.

Every file is presented the way the Hub presents an LFS-tracked file: `oid` is the
git blob id of its LFS pointer, `lfs.oid` the sha256 of the bytes. That sha256 is
also the file's ETag on `resolve`, which is how `huggingface_hub` names its cache
blobs and checks what it fetched.

`served` (original sha256 -> (sha256, size)) substitutes a fingerprinted recipient's
marked copies, so the listing reports the bytes that recipient is served.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import current_app

from distserver.access.policy import ModelFacts
from distserver.access.tiers import Tier
from distserver.catalog.models import File, Model, Revision
from distserver.hf.shapes import CommitEntry, LastCommit, LfsInfo, ModelInfo, Sibling, TreeEntry

LFS_SPEC = "https://git-lfs.github.com/spec/v1"
Served = Mapping[str, tuple[str, int]]


def served_as(file: File, served: Served | None) -> tuple[str, int]:
    """The sha256 and size reported for `file` (its copy's, when one is served)."""
    return (served or {}).get(file.sha256, (file.sha256, file.size))


def iso(when: datetime) -> str:
    """The Hub's timestamp format, which huggingface_hub's parser insists on."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def opaque_model_id(model: Model) -> str:
    """The Hub's `_id` (24 hex characters): an HMAC of the model's database id under
    a key derived from SECRET_KEY. Stable for a model, but unlike the sequential id
    it says nothing about other models (how many exist, hidden ones included). It
    changes if SECRET_KEY does; no client keys anything on it."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = hashlib.sha256(b"distserver hf model _id\x00" + secret).digest()
    return hmac.new(key, str(model.id).encode(), hashlib.sha256).hexdigest()[:24]


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version {LFS_SPEC}\noid sha256:{sha256}\nsize {size}\n".encode()


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob with these bytes."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def lfs_info(file: File, served: Served | None = None) -> LfsInfo:
    sha, size = served_as(file, served)
    return {"oid": sha, "size": size, "pointerSize": len(lfs_pointer(sha, size))}


def gated(facts: ModelFacts, tiers: Mapping[str, Tier]) -> bool | str:
    """False when a tier open to anyone is admitted; "auto" when a click-through (or
    automatically approved) tier is; otherwise "manual"."""
    admitted = [tiers[name] for name in facts.admitted_tiers if name in tiers]
    if any(t.qualification == "open" for t in admitted):
        return False
    if any(t.qualification == "click_through" or t.approval == "auto" for t in admitted):
        return "auto"
    return "manual"


def card_data(card: str) -> dict[str, Any]:
    """The flat `key: value` (and `- item` list) fields of a card's YAML front matter;
    an empty dict for a card without one."""
    lines = card.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    data: dict[str, Any] = {}
    key: str | None = None
    for line in lines[1:]:
        if line.strip() == "---":
            break
        stripped = line.strip()
        if stripped.startswith("- ") and key is not None:
            if not isinstance(data.get(key), list):
                data[key] = []
            data[key].append(stripped[2:].strip().strip("'\""))
        elif ":" in line and not line.startswith((" ", "\t")):
            key, _, value = line.partition(":")
            key = key.strip()
            value = value.strip().strip("'\"")
            data[key] = value if value else []
    return data


def model_info(
    model: Model,
    revision: Revision | None,
    facts: ModelFacts,
    tiers: Mapping[str, Tier],
    *,
    blobs: bool = False,
    served: Served | None = None,
    listed: bool = True,
    downloads: int = 0,
) -> ModelInfo:
    """`GET /api/models/{id}` as the Hub answers it (the fields clients read).
    With `listed` false (the caller's stage does not admit them) no siblings;
    `downloads` is the count over the last 30 days (downloads.counts)."""
    files: Sequence[File] = revision.files if revision and listed else ()
    siblings: list[Sibling] = []
    for f in files:
        entry: Sibling = {"rfilename": f.path}
        if blobs:
            sha, size = served_as(f, served)
            entry["size"] = size
            entry["blobId"] = git_blob_oid(lfs_pointer(sha, size))
            entry["lfs"] = {
                "sha256": sha,
                "size": size,
                "pointerSize": len(lfs_pointer(sha, size)),
            }
        siblings.append(entry)
    info: ModelInfo = {
        "_id": opaque_model_id(model),
        "id": model.ref,
        "modelId": model.ref,
        "author": model.namespace,
        "sha": revision.commit if revision else None,
        "lastModified": iso(revision.published_at if revision else model.created_at),
        "createdAt": iso(model.created_at),
        "private": False,
        "disabled": False,
        "gated": gated(facts, tiers),
        "downloads": downloads,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
    }
    if model.card.strip():
        info["cardData"] = card_data(model.card)
    return info


def tree_entries(
    revision: Revision,
    base: str,
    *,
    recursive: bool,
    expand: bool = False,
    served: Served | None = None,
) -> list[TreeEntry] | None:
    """Entries under folder `base` ("" for the root), sorted by path: files, and the
    folders that lead to them (every level when recursive, the next one otherwise).
    None when `base` is not a folder of the revision."""
    prefix = f"{base}/" if base else ""
    under = [f for f in revision.files if f.path.startswith(prefix)]
    if base and not under:
        return None
    folders: set[str] = set()
    entries: list[TreeEntry] = []
    for f in under:
        parts = f.path[len(prefix) :].split("/")
        if recursive:
            folders.update(prefix + "/".join(parts[:i]) for i in range(1, len(parts)))
        elif len(parts) > 1:
            folders.add(prefix + parts[0])
            continue
        entries.append(_file_entry(f, revision, expand, served))
    entries.extend(_folder_entry(path, revision, expand) for path in folders)
    return sorted(entries, key=lambda e: e["path"])


def page_after(entries: Iterable[TreeEntry], cursor: str, size: int) -> list[TreeEntry]:
    """Up to `size` entries whose path sorts after `cursor` (a path of the last page)."""
    remaining = [e for e in entries if e["path"] > cursor] if cursor else list(entries)
    return remaining[:size]


def _last_commit(revision: Revision) -> LastCommit:
    return {"id": revision.commit, "title": revision.message, "date": iso(revision.published_at)}


def _file_entry(
    f: File, revision: Revision, expand: bool, served: Served | None = None
) -> TreeEntry:
    sha, size = served_as(f, served)
    entry: TreeEntry = {
        "type": "file",
        "path": f.path,
        "size": size,
        "oid": git_blob_oid(lfs_pointer(sha, size)),
        "lfs": lfs_info(f, served),
    }
    if expand:
        entry["lastCommit"] = _last_commit(revision)
    return entry


def _folder_entry(path: str, revision: Revision, expand: bool) -> TreeEntry:
    oid = hashlib.sha1(f"{revision.commit}:{path}".encode(), usedforsecurity=False).hexdigest()
    entry: TreeEntry = {"type": "directory", "path": path, "size": 0, "oid": oid}
    if expand:
        entry["lastCommit"] = _last_commit(revision)
    return entry


def path_entries(
    revision: Revision,
    paths: Iterable[str],
    *,
    expand: bool = False,
    served: Served | None = None,
) -> list[TreeEntry]:
    """`paths-info`: the entry of each asked path that is a file or a folder of the
    revision, in the order asked; paths that are neither are left out (as the Hub does)."""
    files = {f.path: f for f in revision.files}
    out: list[TreeEntry] = []
    for path in dict.fromkeys(p.strip("/") for p in paths):
        if path in files:
            out.append(_file_entry(files[path], revision, expand, served))
        elif path and any(f.startswith(path + "/") for f in files):
            out.append(_folder_entry(path, revision, expand))
    return out


def commit_entry(revision: Revision, author: str) -> CommitEntry:
    """One item of `commits/{rev}`: a published revision as a git commit."""
    title, _, rest = (revision.message or "").partition("\n")
    return {
        "id": revision.commit,
        "authors": [{"user": author}],
        "date": iso(revision.published_at),
        "title": title or f"Revision {revision.commit[:12]}",
        "message": rest.strip(),
    }
