"""What a namespace, model name and file path may look like."""

from __future__ import annotations

import re
import unicodedata

from distserver.errors import BadRequest

# ASCII only, so that look-alike (confusable) namespaces cannot be registered.
NAMESPACE_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$")
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
MAX_PATH = 1024
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
# A commit id abbreviated as git does (at least 7 hex digits).
SHORT_COMMIT_RE = re.compile(r"^[0-9a-f]{7,39}$")
# Revision tags (catalog/tags.py), which never look like a (short) commit id.
TAG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")


def split_ref(ref: str) -> tuple[str, str]:
    namespace, sep, name = ref.partition("/")
    if not sep:
        raise BadRequest(f"{ref!r} is not NAMESPACE/NAME.", code="invalid_name")
    check_names(namespace, name)
    return namespace, name


def check_names(namespace: str, name: str) -> None:
    if not NAMESPACE_RE.match(namespace):
        raise BadRequest(
            "A namespace is 1-64 ASCII letters, digits, '-' or '_', starting and ending "
            "with a letter or digit.",
            code="invalid_name",
        )
    if not NAME_RE.match(name) or ".." in name:
        raise BadRequest(
            "A model name is 1-96 ASCII letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit.",
            code="invalid_name",
        )


def check_path(path: str) -> str:
    """A relative POSIX path inside a revision: no '..', no absolute paths, no NUL."""
    if not path or len(path) > MAX_PATH:
        raise BadRequest(f"A file path is 1 to {MAX_PATH} characters.", code="invalid_path")
    if "\\" in path or any(unicodedata.category(c) in ("Cc", "Cs") for c in path):
        raise BadRequest(
            "A file path may not contain NUL, control characters or '\\'.", code="invalid_path"
        )
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BadRequest(
            "A file path is relative, without '.', '..' or empty parts.", code="invalid_path"
        )
    return path
