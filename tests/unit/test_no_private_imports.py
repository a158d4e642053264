"""A module's private names (`_like_this`) are its own: no other module of distserver imports
one (`from distserver.x import _y`) or reaches one through a module (`x._y`). What two modules
share gets a public name in the module that owns it."""

from __future__ import annotations

import ast
from pathlib import Path

import distserver

PACKAGE_ROOT = Path(distserver.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    path = PACKAGE_ROOT.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _resolve(module: str | None, level: int, importer: str, is_package: bool) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def private_imports(path: Path, importer: str) -> list[str]:
    """Every place in one file that takes a private name from another distserver module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    module_aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(node.module, node.level, importer, path.name == "__init__.py")
            if not source.startswith("distserver") or source == importer:
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{path.name}:{node.lineno} from {source} import {alias.name}")
                elif _is_module(f"{source}.{alias.name}"):
                    module_aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("distserver") and alias.asname:
                    module_aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _is_private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_aliases
        ):
            found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_no_module_imports_a_private_name_from_another() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE_ROOT.parent)}: {where}"
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
        for where in private_imports(path, _module_name(path))
    ]
    assert offenders == []


def test_the_walk_finds_both_forms(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from distserver.audit.chain import _dumps\n"
        "from distserver.audit import chain\n"
        "from . import _sibling\n"
        "chain._field\n",
        encoding="utf-8",
    )
    found = private_imports(probe, importer="distserver.web.probe")
    assert found == [
        "probe.py:1 from distserver.audit.chain import _dumps",
        "probe.py:3 from distserver.web import _sibling",
        "probe.py:4 chain._field",
    ]
