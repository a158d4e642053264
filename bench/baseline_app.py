"""The baseline of the `links` and `resolve` benchmarks: a minimal Flask app whose one
route only presigns the same key, with one boto3 client built at start-up (configured
as distserver's S3 backend builds its own). No database, no auth, no audit.

    gunicorn -c docker/gunicorn.conf.py bench.baseline_app:app

Settings from the environment: DISTSERVER_S3_BUCKET, DISTSERVER_S3_ENDPOINT_URL,
DISTSERVER_S3_REGION (as the app reads them), BENCH_KEY (the object key),
BENCH_DISPOSITION (the ResponseContentDisposition the app would send) and BENCH_TTL
(seconds); credentials from boto3's own chain.

Any path answers: POST with 201 and {"url": ...} (the shape of the API's links),
GET/HEAD with a 302 to the URL (the shape of the Hugging Face door's resolve).
"""

from __future__ import annotations

import os

import boto3
from botocore.config import Config
from flask import Flask, Response, jsonify, request

BUCKET = os.environ["DISTSERVER_S3_BUCKET"]
KEY = os.environ["BENCH_KEY"]
DISPOSITION = os.environ.get("BENCH_DISPOSITION", "attachment")
TTL = int(os.environ.get("BENCH_TTL", "900"))

client = boto3.session.Session().client(
    "s3",
    endpoint_url=os.environ.get("DISTSERVER_S3_ENDPOINT_URL") or None,
    region_name=os.environ.get("DISTSERVER_S3_REGION", "us-east-1"),
    config=Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=3,
        read_timeout=30,
        retries={"max_attempts": 2, "mode": "standard"},
        response_checksum_validation="when_required",
    ),
)

app = Flask(__name__)


@app.route("/", defaults={"_path": ""}, methods=["GET", "HEAD", "POST"])
@app.route("/<path:_path>", methods=["GET", "HEAD", "POST"])
def presign(_path: str) -> Response | tuple[Response, int]:
    url = client.generate_presigned_url(
        "get_object",
        Params={"Bucket": BUCKET, "Key": KEY, "ResponseContentDisposition": DISPOSITION},
        ExpiresIn=TTL,
    )
    if request.method == "POST":
        return jsonify({"url": url}), 201
    response = Response(b"", status=302)
    response.headers["Location"] = url
    return response
