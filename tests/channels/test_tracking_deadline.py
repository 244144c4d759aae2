"""Click tracking signs each authored link of a message; the rewrite is part of
the message and spends its deadline (review 16 #7: 50,000 links took 3.4 s a
message on top of the render's own 5 s). A clock that moves as links are
signed stands in for the time signing takes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from channels import rendering, tracking
from channels.rendering import RenderError, compile_content


def person():
    return SimpleNamespace(
        attributes={}, email="a@example.com", phone="", timezone="", profile_id=""
    )


@pytest.fixture
def slow_signing(monkeypatch):
    """Each signed link takes 10 ms of a fake clock."""
    now = [1000.0]
    real = tracking.click_url

    def click_url(delivery_id, url):
        now[0] += 0.01
        return real(delivery_id, url)

    monkeypatch.setattr(rendering.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(tracking, "click_url", click_url)


def _render(links: int):
    body = "".join(f'<a href="https://shop.example/p/{i}">{i}</a>' for i in range(links))
    compiled = compile_content(
        "email", {"subject": "S", "html": body}, category="transactional", track_clicks=True
    )
    return compiled.render(profile=person(), context={}, delivery_id=7)


def test_a_message_whose_links_take_past_the_deadline_to_sign_fails(db, slow_signing):
    with pytest.raises(RenderError) as failed:
        _render(1000)  # 10 s of signing against the 5 s deadline
    assert "took too long" in str(failed.value)


def test_a_message_signed_within_the_deadline_is_tracked(db, slow_signing):
    rendered = _render(200)  # 2 s
    assert rendered.html.count("/t/c/") == 200
