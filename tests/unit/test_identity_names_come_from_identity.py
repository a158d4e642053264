"""Who acts (`Principal`, `SYSTEM`, the role checks) lives in distserver/identity.py, below
every domain: a module takes those names from there, never through a domain module that
happens to import them (a re-export would make the domain look like their home)."""

from __future__ import annotations

import ast
from pathlib import Path

import distserver
from distserver import identity

PACKAGE_ROOT = Path(distserver.__file__).parent
IDENTITY_NAMES = frozenset(
    node.name if isinstance(node, ast.ClassDef | ast.FunctionDef) else node.targets[0].id
    for node in ast.parse(Path(identity.__file__).read_text(encoding="utf-8")).body
    if isinstance(node, ast.ClassDef | ast.FunctionDef)
    or (
        isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and not node.targets[0].id.startswith("_")
    )
)


def identity_names_taken_elsewhere(path: Path) -> list[str]:
    """Each `from distserver.x import Principal` (or another identity name) whose source
    is not distserver.identity."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{path.relative_to(PACKAGE_ROOT.parent)}:{node.lineno} from {node.module} import {a.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("distserver")
        and node.module != "distserver.identity"
        for a in node.names
        if a.name in IDENTITY_NAMES
    ]


def test_identity_names_are_read_from_identity() -> None:
    assert {"Principal", "SYSTEM", "require_role", "require_signed_in"} <= IDENTITY_NAMES


def test_no_module_takes_an_identity_name_through_a_domain_module() -> None:
    offenders = [
        where
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
        for where in identity_names_taken_elsewhere(path)
    ]
    assert offenders == []
