"""The `copy` benchmark (docs/benchmarks.md): preparing one recipient's marked copy of
a 1 GB+ safetensors shard into the S3 peer, against a plain streamed copy of the same
blob to the same storage, in the same run. Both read the published blob from the peer
and write a new object through the same S3 backend (multipart upload); the marked one
also runs the mark over every matrix.

    .venv/bin/python -m bench copy [--megabytes 1100] [--rounds 2]

Prints a table and a last line of name=value pairs; peak memory is the process's
resident high-water mark after the copies, against the shard's size.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from distserver.fingerprint import mark_file
from distserver.storage.base import blob_key
from distserver.storage.s3 import S3Storage
from tests.fingerprint.shards import big_safetensors, rows_for
from tests.support.s3peer import S3PeerUnavailable, start_s3_peer

KEY = b"bench-master-key-of-32-bytes!!!!"  # any 32 bytes: a benchmark, not a secret


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench copy")
    parser.add_argument("--megabytes", type=float, default=1100, help="shard size (default 1100)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each copy (best is kept)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="copy-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            peer = start_s3_peer(tmp / "s3")
        except S3PeerUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        try:
            os.environ.update(peer.env())
            storage = S3Storage(peer.bucket, endpoint_url=peer.endpoint_url)
            shard = tmp / "shard.safetensors"
            size = big_safetensors(shard, [("model.layers.0.mlp.up_proj.weight",
                                            rows_for(args.megabytes))])  # fmt: skip
            stored = storage.store_file(shard)
            shard.unlink()
            before = peak_rss_mb()
            plain, marked = [], []
            for i in range(args.rounds):
                t0 = time.perf_counter()
                with storage.open(blob_key(stored.sha256)) as src:
                    storage.store_stream(f"plain/{i}", iter(lambda: src.read(1 << 22), b""))
                plain.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                with storage.open(blob_key(stored.sha256)) as src:
                    copy = storage.store_stream(f"copies/{i}", mark_file(src, KEY, "user-1"))
                marked.append(time.perf_counter() - t0)
                assert copy.size == size
            peak = peak_rss_mb()
        finally:
            peer.stop()
    mb = size / 2**20
    plain_rate, marked_rate = mb / min(plain), mb / min(marked)
    ratio = marked_rate / plain_rate
    load = os.getloadavg()[0]
    print(f"copy of a {mb:.0f} MB shard into the S3 peer (best of {args.rounds})")
    print(f"  {'plain streamed copy':<28} {plain_rate:8.1f} MB/s")
    print(f"  {'marked copy':<28} {marked_rate:8.1f} MB/s   ratio {ratio:.2f} (goal >= 0.5)")
    print(f"  peak RSS {peak:.0f} MB (before the copies {before:.0f} MB); load average {load:.2f}")
    print(
        f"copy_mb_s={marked_rate:.1f} plain_mb_s={plain_rate:.1f} copy_ratio={ratio:.2f} "
        f"shard_mb={mb:.0f} peak_rss_mb={peak:.0f} load={load:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
