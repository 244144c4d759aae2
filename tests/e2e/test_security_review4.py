"""Fourth outside review of issue 10 (docs/security-review-4.md): the designer
script in Chromium. A design stored through the API is kept as given (it is
opaque there), and the script puts text blocks back with ``innerHTML``; image
names and profile attribute names reach the page too. Nothing of them may run
or load, whatever the Content-Security-Policy would also have stopped."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

EVIL = "evil.example"
PAYLOADS = [
    '<img src=x onerror="window.__pwned=1">',
    '<svg onload="window.__pwned=2"></svg>',
    '<a href="javascript:window.__pwned=3">link</a>',
    f'<iframe src="https://{EVIL}/frame"></iframe>',
    f'<form action="https://{EVIL}/steal"><input name=p></form>',
    f'<img src="https://{EVIL}/pixel.gif">',
    "<script>window.__pwned=4</script>",
    f'<a href="https://{EVIL}/ok" onmouseover="window.__pwned=5">fine link</a>',
    "<style>*{background:url(https://evil.example/css)}</style>",
]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_the_designer_runs_and_loads_nothing_from_a_stored_design(
    signed_in_page, live_server, media
):
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.services import api_key_create
    from audiences.models import Profile
    from campaigns.assets import asset_create
    from tests.campaigns.lifecycle_helpers import ready_email
    from tests.campaigns.test_assets import png
    from tests.conftest import ApiClient

    manager = get_user_model().objects.get(username="manager")
    campaign = ready_email(manager, name="Stored design")
    design = {
        "blocks": [
            {"type": "text", "html": "".join(PAYLOADS)},
            {"type": "footer", "html": PAYLOADS[0] + PAYLOADS[3]},
            {"type": "heading", "text": PAYLOADS[0]},
            {"type": "button", "label": PAYLOADS[1], "href": "https://shop.example/"},
            {"type": "image", "src": "https://img.example/hero.png", "alt": PAYLOADS[0]},
            {"type": "columns", "columns": [[{"type": "text", "html": PAYLOADS[1]}], []]},
        ]
    }
    _key, plain = api_key_create(user=manager, name="designer")
    api = ApiClient(plain)
    response = api.patch(
        f"/campaigns/{campaign.pk}",
        {"content": {"subject": "Hi", "html": "<p>Hi</p>", "text": "Hi", "design": design}},
    )
    assert response.status_code == 200, response.content
    stored = api.get(f"/campaigns/{campaign.pk}").json()["content"]["design"]
    assert stored["blocks"][0]["html"] == "".join(PAYLOADS)  # kept as given by the API
    asset_create(
        actor=manager,
        upload=SimpleUploadedFile('<img src=x onerror="window.__pwned=7">.png', png(10, 10)),
    )
    Profile.objects.create(
        email="attr@example.com", attributes={'<img src=x onerror="window.__pwned=8">': 1}
    )

    page = signed_in_page("manager")
    dialogs, requests, errors = [], [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/design/")
    designer = page.get_by_test_id("email-designer")
    expect(designer).to_be_visible()
    canvas = designer.locator(".dz-canvas")
    blocks = canvas.locator(".dz-block")
    expect(blocks.first).to_be_visible()
    # Every block selected (its settings shown), the image library and the
    # personalization list opened, the text hovered.
    for n in range(blocks.count()):
        blocks.nth(n).click(position={"x": 2, "y": 2})
    designer.locator("[data-add=image]").click()
    expect(designer.locator("dialog.dz-picker button.pick")).not_to_have_count(0)
    designer.locator("dialog.dz-picker .close").click()
    canvas.locator(".dz-rich").first.hover()
    page.wait_for_timeout(300)

    # What the page built from them: no element that runs or loads anything.
    found = designer.evaluate(
        """root => {
            const bad = [];
            for (const node of root.querySelectorAll(".dz-canvas *, dialog.dz-picker *")) {
                const tag = node.tagName.toLowerCase();
                if (["script", "iframe", "form", "style", "svg", "object", "embed"].includes(tag))
                    bad.push(tag);
                for (const attr of node.attributes) {
                    const value = attr.value.trim().toLowerCase();
                    if (attr.name.startsWith("on")) bad.push(tag + " " + attr.name);
                    if (value.startsWith("javascript:")) bad.push(tag + " " + attr.name + "=" + value);
                }
            }
            return bad;
        }"""
    )
    assert found == []
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == [] and errors == []
    assert not [url for url in requests if EVIL in url]
    # The text is still there, as text (escaped), and the plain link kept.
    expect(canvas.locator(".dz-rich").first).to_contain_text("fine link")
    data = json.loads(page.locator("#designer-data").text_content())
    # Text fields go in as text; the HTML of text blocks was reduced first.
    rich = [b["html"] for b in data["design"]["blocks"] if "html" in b]
    assert rich and not [html for html in rich if "onerror" in html or "<svg" in html]

    # A stored design with a script address does not check at all: the
    # designer starts empty rather than put it on the page.
    design["blocks"][3]["href"] = "javascript:window.__pwned=6"
    api.patch(
        f"/campaigns/{campaign.pk}",
        {"content": {"subject": "Hi", "html": "<p>Hi</p>", "text": "Hi", "design": design}},
    )
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/design/")
    expect(designer).to_be_visible()
    expect(canvas.locator(".dz-block")).to_have_count(0)
    assert "javascript:" not in page.locator("#designer-data").text_content()
    assert page.evaluate("() => window.__pwned") is None
