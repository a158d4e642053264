"""Every door asks the one guard module (distserver/guards.py) whether the caller is signed
in and may see the model they name: no door writes the check again."""

from __future__ import annotations

import ast
from pathlib import Path

import distserver

PACKAGE_ROOT = Path(distserver.__file__).parent
DOORS = ("api", "web", "hf")

# The doors that answer for one named model or a signed-in caller.
GUARDED = (
    "api/applications_views.py",
    "api/audit_views.py",
    "api/catalog_views.py",
    "api/release_views.py",
    "web/model_views.py",
    "web/staff_views.py",
    "hf/lookup.py",
)
SIGN_IN_SENTENCE = "Sign in or send a Bearer token."


def _tree(relative: str) -> ast.Module:
    return ast.parse((PACKAGE_ROOT / relative).read_text(encoding="utf-8"))


def _imports_guards(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and (
            node.module == "distserver.guards"
            or (node.module == "distserver" and any(a.name == "guards" for a in node.names))
        )
        for node in ast.walk(tree)
    )


def test_each_door_that_checks_a_caller_uses_the_guard_module() -> None:
    assert [door for door in GUARDED if not _imports_guards(_tree(door))] == []


def test_no_door_writes_the_signed_in_check_again() -> None:
    found = [
        f"{path.relative_to(PACKAGE_ROOT)}:{node.lineno}"
        for door in DOORS
        for path in sorted((PACKAGE_ROOT / door).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value == SIGN_IN_SENTENCE
    ]
    assert found == []


def test_no_door_decides_one_models_visibility_itself() -> None:
    """`may_see` in a door is only for filtering a listing (a loop); a single named model
    goes through guards.require_visible or guards.visible_model."""
    single_checks = []
    for door in DOORS:
        for path in sorted((PACKAGE_ROOT / door).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            in_loops = {
                id(call)
                for loop in ast.walk(tree)
                if isinstance(loop, ast.For | ast.comprehension)
                for call in ast.walk(loop if isinstance(loop, ast.For) else loop.iter)
            } | {
                id(call)
                for comp in ast.walk(tree)
                if isinstance(comp, ast.ListComp | ast.GeneratorExp | ast.SetComp)
                for call in ast.walk(comp)
            }
            single_checks += [
                f"{path.relative_to(PACKAGE_ROOT)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "may_see"
                and id(node) not in in_loops
            ]
    assert single_checks == []
