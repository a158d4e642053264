"""The API's JSON schemas are made when the OpenAPI document is first asked for, not
when the views are imported (distserver/api/spec.py): every process that builds the app
would otherwise pay for them at start-up."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import distserver.api
from distserver.api.spec import api_spec
assert api_spec.models == {}, sorted(api_spec.models)
assert len(api_spec._pending) > 10
from distserver.api.openapi import document
schemas = document()["components"]["schemas"]
assert api_spec._pending == []
assert {"Error", "LinkRequest"} <= set(schemas), sorted(schemas)
print("ok")
"""


def test_importing_the_api_makes_no_json_schema_until_the_document_is_asked_for() -> None:
    # A fresh interpreter: in this one, another test may have asked for the document.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
