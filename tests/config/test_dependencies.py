"""Dependencies point one way: accounts ← audiences ← channels ← campaigns
(config composes them). No module of a lower app imports an app above it, not
even inside a function: the lower apps reach the upper ones through hooks the
upper ones register (``audiences/hooks.py``, ``channels/deliveries.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "audiences", "channels", "campaigns")
# What each app may not import: every app above it.
FORBIDDEN = {app: set(APPS[i + 1 :]) for i, app in enumerate(APPS[:-1])}


def imported_modules(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (  # importlib.import_module("campaigns…") / __import__("campaigns…")
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def upward_imports(app: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:  # migrations name other apps' models by design
            continue
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module.split(".")[0] in FORBIDDEN[app]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("app", list(FORBIDDEN))
def test_no_app_imports_an_app_above_it(app):
    assert upward_imports(app) == []


def test_the_check_sees_imports_inside_functions():
    source = "def f():\n    from campaigns.models import Delivery\n    import channels.api\n"
    assert [m for _l, m in imported_modules(source)] == ["campaigns.models", "channels.api"]
