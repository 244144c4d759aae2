"""The server and the page script count SMS segments the same way: both are
checked against one file of strings (GSM-7 extension characters, UCS-2 with
surrogate pairs, the 160/153 and 70/67 boundaries)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from audiences.channel_facts import sms_segments

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests/fixtures/sms_segments.json").read_text(encoding="utf-8"))
SCRIPT = ROOT / "static/js/sms-counter.js"
FIELDS = ("characters", "units", "encoding", "segments")


def _expected(case: dict) -> dict:
    return {name: case[name] for name in FIELDS}


@pytest.mark.parametrize("case", VECTORS, ids=[c["why"] for c in VECTORS])
def test_the_server_counts_each_vector(case):
    assert sms_segments(case["text"]) == _expected(case)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_page_script_counts_each_vector_like_the_server():
    # The script exports its counter to node; the DOM part only runs in a page.
    program = (
        "const {count} = require(process.argv[1]);"
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(cases.map(c => count(c.text))));"
    )
    result = subprocess.run(
        ["node", "-e", program, str(SCRIPT)],
        input=json.dumps(VECTORS),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    counted = json.loads(result.stdout)
    for case, got in zip(VECTORS, counted, strict=True):
        assert got == _expected(case), case["why"]


def test_every_page_that_counts_uses_the_one_script():
    scripts = sorted(p.name for p in (ROOT / "static/js").glob("*.js"))
    for name in scripts:
        if name == SCRIPT.name:
            continue
        source = (ROOT / "static/js" / name).read_text(encoding="utf-8")
        assert "160" not in source and "153" not in source, f"{name} counts SMS itself"
    templates = [
        p for p in (ROOT / "templates").rglob("*.html") if 'id="sms-counter"' in p.read_text()
    ]
    assert len(templates) >= 2
    for template in templates:
        assert "js/sms-counter.js" in template.read_text(), template.name
