"""Run distserver's benchmarks (docs/benchmarks.md).

    python -m bench [links|resolve|all] [--seconds N] [--warmup N]
    python -m bench fingerprint [its own options]
    python -m bench audit-verify [--events N]
    python -m bench statistics [--events N]
    python -m bench alerts [--events N] [--writes N]
    python -m bench copy [--megabytes N]
    python -m bench publish [--megabytes N] [--rounds N]
    python -m bench snapshot [--files N] [--rounds N]
    python -m bench list

`links` and `resolve` (and `all`, both on one set-up) print a table per benchmark and
a last line of name=value pairs. `fingerprint` and `audit-verify` run their scripts
(bench/fingerprint_bench.py, bench/audit_verify.py) as subprocesses, passing the
remaining arguments through; they print their own table and last line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> what it measures
OWN = {
    "links": "POST /api/v1/models/{ns}/{name}/links under load vs a presign-only Flask app",
    "resolve": "HEAD /{ns}/{name}/resolve/main/{path} (Hugging Face door, S3 302) vs the same",
}
SCRIPTS = {
    "fingerprint": ("fingerprint_bench.py", "fingerprinting a real small model, and tracing"),
    "audit-verify": ("audit_verify.py", "`distserver audit verify` over sealed events"),
    "statistics": ("statistics_bench.py", "a model's download statistics, with and without 0017"),
    "alerts": ("alerts_bench.py", "alert rules over sealed events vs the fast path's write rate"),
}
# Run as modules of this package (they use the test suite's S3 peer and generators).
MODULES = {
    "copy": ("bench.copy_bench", "a marked copy of a 1 GB+ shard into the S3 peer vs a plain copy"),
    "publish": ("bench.release_bench", "`distserver models publish` of 2 GB vs `rclone copy`"),
    "snapshot": ("bench.release_bench", "snapshot_download of 50 files vs direct presigned GETs"),
}
NAMED = {"publish", "snapshot"}  # modules that take the benchmark's name first


def _list() -> str:
    rows = [("all", "links and resolve on one set-up (the default)")]
    rows += list(OWN.items())
    rows += [(name, f"{what} (bench/{script})") for name, (script, what) in SCRIPTS.items()]
    rows += [(name, f"{what} ({module})") for name, (module, what) in MODULES.items()]
    return "\n".join(f"  {name:<14} {what}" for name, what in rows)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SCRIPTS:
        script = HERE / SCRIPTS[argv[0]][0]
        return subprocess.call([sys.executable, str(script), *argv[1:]], cwd=HERE.parent)
    if argv and argv[0] in MODULES:
        module = MODULES[argv[0]][0]
        rest = argv if argv[0] in NAMED else argv[1:]
        return subprocess.call([sys.executable, "-m", module, *rest], cwd=HERE.parent)
    if argv and argv[0] == "list":
        print(_list())
        return 0

    from bench.links_bench import WARMUP_SECONDS

    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="distserver's benchmarks; figures are ratios against a baseline run "
        "at the same time (docs/benchmarks.md).",
        epilog="benchmarks:\n" + _list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("benchmark", nargs="?", default="all", choices=["all", *OWN])
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="length of each measured phase (default 10; the closed loop splits it "
        "in two halves per server)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=WARMUP_SECONDS,
        help=f"seconds of load on each server before measuring (default {WARMUP_SECONDS:g})",
    )
    parser.add_argument("--users", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--full-path",
        action="store_true",
        help="run the app with DOWNLOAD_FAST_PATH=false (every link through the ORM "
        "path), to compare with the fast path on the same machine",
    )
    parser.add_argument(
        "--no-facts-cache",
        action="store_true",
        help="run the app with DOWNLOAD_FACTS_CACHE=false (the fast path reads the "
        "facts for every request), to compare with the cache on the same machine",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600:
        parser.error("--seconds must be between 1 and 600")
    if not 0.5 <= args.warmup <= 60:
        parser.error("--warmup must be between 0.5 and 60")

    from bench.links_bench import BenchError, run
    from bench.stack import stopped

    names = list(OWN) if args.benchmark == "all" else [args.benchmark]
    try:
        outcomes = run(
            names,
            args.seconds,
            users=args.users,
            fast_path=not args.full_path,
            facts_cache=not args.no_facts_cache,
            warmup=args.warmup,
        )
    except (BenchError, KeyboardInterrupt) as exc:
        return stopped(exc)
    pairs: dict[str, str] = {}
    for outcome in outcomes:
        print(outcome.table())
        print()
        pairs.update(outcome.pairs())
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))
    return 0 if all(o.events == o.counted for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
