"""Test-run speed: every app has its own Jinja environment, so each app compiled every
template it rendered again (Jinja's parse, code generation and `compile()`), and the
suite makes an app for nearly every test. The tests hand every app one in-memory
bytecode cache (Jinja's own hook for this: a bucket per template name and source
checksum), so each template is compiled once per test process.

Jinja ships file-system and memcached caches only; an in-process dict is the few lines
below. Only the tests use it (a production process makes its app once)."""

from __future__ import annotations

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class InMemoryBytecodeCache(BytecodeCache):
    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        stored = self.code.get(bucket.key)
        if stored is not None:
            bucket.bytecode_from_string(stored)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


def install() -> None:
    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": InMemoryBytecodeCache()}
