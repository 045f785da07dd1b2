"""The house's walls: interfaces call services and selectors; the side doors know no interface.

Read from the source (every import statement, relative ones resolved, function-level
ones included), so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]

#: Interfaces: what the core and its side doors must never reach for.
INTERFACES = ("rest_framework", "messaging.api", "messaging.web")
#: What only the pages and the API speak: requests, responses, views.
HTTP = ("django.http", "django.views", "django.utils.cache", "django.middleware")


def imports(source: str, module: str) -> set[str]:
    """Every module `source` (the code of `module`) imports, relative imports resolved."""
    package = (
        module.removesuffix(".__init__")
        if module.endswith(".__init__")
        else (module.rsplit(".", 1)[0])
    )
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules(*parts: str) -> list[Path]:
    root = PACKAGE.joinpath(*parts)
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


def forbidden_in(source: str, module: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for name in sorted(imports(source, module))
        if any(
            name == prefix or name.startswith((prefix + ".", prefix + "_")) for prefix in forbidden
        )
    ]


def reaching(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        problem
        for path in paths
        for problem in forbidden_in(
            path.read_text(),
            ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts),
            forbidden,
        )
    ]


@pytest.mark.parametrize("side", ["services", "selectors", "realtime", "cache", "payloads"])
def test_the_core_and_its_side_doors_know_no_interface(side):
    assert reaching(modules(side), INTERFACES) == []


@pytest.mark.parametrize("side", ["services", "selectors", "cache"])
def test_the_core_speaks_no_http(side):
    assert reaching(modules(side), HTTP) == []


def test_the_check_sees_a_forbidden_import():
    # The check itself can fail: relative and absolute imports of an interface are found.
    source = "from ..api import serializers\nfrom rest_framework import status\n"

    found = forbidden_in(source, "messaging.realtime.probe", INTERFACES)

    assert found == [
        "messaging.realtime.probe imports messaging.api",
        "messaging.realtime.probe imports messaging.api.serializers",
        "messaging.realtime.probe imports rest_framework",
        "messaging.realtime.probe imports rest_framework.status",
    ]
