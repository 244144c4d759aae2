"""docs/ARCHITECTURE.md stays true: every file or folder it names exists, and
the README points to it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
FILE_ENDINGS = (".py", ".md", ".html", ".js", ".css", ".toml", ".yaml", ".json")


def named_paths(text: str) -> list[str]:
    """The code spans that are repository paths: ``campaigns/engine/send.py``,
    ``accounts/``, ``Makefile``; not URLs (``/api/v1/``), commands or names."""
    paths = []
    for span in re.findall(r"`([^`\s]+)`", text):
        if span.startswith("/") or not re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", span):
            continue
        if "/" in span or span.endswith(FILE_ENDINGS) or span == "Makefile":
            paths.append(span)
    return paths


def test_every_path_the_architecture_map_names_exists():
    paths = named_paths(DOC.read_text(encoding="utf-8"))
    assert len(paths) > 40  # the map names modules, not just apps
    missing = sorted({p for p in paths if not (ROOT / p).exists()})
    assert missing == []


def test_the_map_names_every_engine_module():
    paths = set(named_paths(DOC.read_text(encoding="utf-8")))
    engine = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "campaigns" / "engine").glob("*.py")
        if p.name not in {"__init__.py", "conf.py", "clock.py", "messaging.py", "report.py"}
    }
    assert engine - paths == set()


def test_the_check_tells_paths_from_urls_and_commands():
    text = "`campaigns/engine/send.py`, `/api/v1/`, `manage.py qcluster`, `requestId`, `Makefile`"
    assert named_paths(text) == ["campaigns/engine/send.py", "Makefile"]


def test_the_readme_links_the_map():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    assert "docs/ARCHITECTURE.md" in section
