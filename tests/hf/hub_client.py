"""Runs the real huggingface_hub client once, in its own process, and prints one JSON
line: what it fetched (path -> sha256) or the error class and message it raised.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_DISABLE_XET when it is
imported, so every run gets a fresh interpreter with the environment set by
tests/hf/live.py.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    args = json.loads(sys.argv[1])
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    try:
        if args["call"] == "snapshot":
            root = Path(
                snapshot_download(
                    args["repo"], revision=args.get("revision"), token=args.get("token")
                )
            )
            files = {
                p.relative_to(root).as_posix(): digest(p) for p in root.rglob("*") if p.is_file()
            }
            out = {"ok": True, "files": files}
        elif args["call"] == "file":
            path = Path(
                hf_hub_download(
                    args["repo"],
                    args["filename"],
                    revision=args.get("revision"),
                    token=args.get("token"),
                )
            )
            out = {"ok": True, "files": {args["filename"]: digest(path)}}
        elif args["call"] == "tree":
            api = HfApi(token=args.get("token"))
            entries = api.list_repo_tree(
                args["repo"], recursive=args.get("recursive", True), revision=args.get("revision")
            )
            out = {"ok": True, "tree": [[type(e).__name__, e.path] for e in entries]}
        else:
            api = HfApi(token=args.get("token"))
            info = api.model_info(args["repo"], revision=args.get("revision"))
            out = {
                "ok": True,
                "info": {
                    "id": info.id,
                    "sha": info.sha,
                    "gated": info.gated,
                    "siblings": [s.rfilename for s in info.siblings or []],
                },
            }
    except Exception as exc:  # the point is to report what the client raised
        out = {
            "ok": False,
            "error": type(exc).__name__,
            "classes": [c.__name__ for c in type(exc).__mro__],
            "message": str(exc),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
