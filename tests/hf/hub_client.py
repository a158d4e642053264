"""Runs the real huggingface_hub client, one call per process: imports it once, then
forks a child per JSON line on stdin, which makes the call, and prints one JSON line per
call: what it fetched (path -> sha256), the error class and message it raised, or
{"crashed": status} when the child died.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_DISABLE_XET when it is
imported, so each call runs in a process that imported it with the environment set
by tests/hf/live.py and did nothing else: the state of a fresh interpreter, without
paying for the import (a fifth of a second) again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plain(value: Any) -> Any:
    """The client's result objects (dataclasses, datetimes, generators) as JSON."""
    if hasattr(value, "to_dict") and not isinstance(value, type):  # card data
        return {"_class": type(value).__name__, **plain(value.to_dict())}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"_class": type(value).__name__, **fields}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or inspect.isgenerator(value):
        return [plain(v) for v in value]
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {"_class": type(value).__name__, **plain(vars(value))}
    return value


def call(args: dict[str, Any]) -> dict[str, Any]:
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    out: dict[str, Any]
    try:
        if args["call"] == "snapshot":
            root = Path(
                snapshot_download(
                    args["repo"],
                    revision=args.get("revision"),
                    token=args.get("token"),
                    allow_patterns=args.get("allow_patterns"),
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
        elif args["call"] == "api":
            # Any HfApi method by name: {"method": "list_models", "kwargs": {...}}.
            api = HfApi(token=args.get("token"))
            result = getattr(api, args["method"])(**args.get("kwargs", {}))
            out = {"ok": True, "result": plain(result)}
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
            # What the client chained under it (printed above it in a traceback), e.g.
            # the server's 503 under a LocalEntryNotFoundError.
            "cause": str(exc.__cause__) if exc.__cause__ is not None else None,
        }
    return out


def serve() -> None:
    import huggingface_hub  # noqa: F401  (imported once, before any fork)

    for line in sys.stdin:
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(reader)
            status = 1
            try:
                with os.fdopen(writer, "w") as answer:
                    answer.write(json.dumps(call(json.loads(line))))
                status = 0
            finally:
                sys.stderr.flush()
                os._exit(status)  # no exit handlers: they are the server's
        os.close(writer)
        with os.fdopen(reader) as answer:
            written = answer.read()
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        print(written if code == 0 and written else json.dumps({"crashed": code}), flush=True)


if __name__ == "__main__":
    serve()
