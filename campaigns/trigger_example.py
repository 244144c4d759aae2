"""A ready-to-copy request that triggers an API-triggered campaign (SPEC §7,
issue 12 #11): shown on the campaign page and as ``triggerExample`` in the API.

The ``context`` of the example holds every ``context.*`` variable the content
uses, found by walking the Jinja2 syntax tree (not by a regular expression, so
``context["a b"]``, loops and filters are understood), each with a placeholder.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from django.conf import settings
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from campaigns.models import Campaign, CampaignType, CampaignVersion

_PARSER = SandboxedEnvironment()

# One plausible recipient per identity namespace (SPEC §7 execution namespaces).
EXAMPLE_RECIPIENT = {
    "email": "jane.doe@example.com",
    "phone": "+31612345678",
    "push_token": "device-push-token",
    "profile_id": "1",
}


def _path(node: nodes.Node) -> list[str] | None:
    """``["order", "id"]`` for ``context.order.id`` / ``context["order"]["id"]``;
    ``[]`` for ``context`` itself; None when the chain does not start at context."""
    keys: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            keys.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Getitem):
            keys = []  # a computed key: everything below it is unknown
            node = node.node
        elif isinstance(node, nodes.Name):
            return list(reversed(keys)) if node.name == "context" else None
        else:
            return None


def _sources(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, dict):
        return [s for value in content.values() for s in _sources(value)]
    if isinstance(content, list):
        return [s for value in content for s in _sources(value)]
    return []


def context_variables(content: dict | None) -> list[str]:
    """Every ``context.*`` path the content's templates read, dotted, sorted;
    a path that is only the prefix of a longer one is left out."""
    paths: set[tuple[str, ...]] = set()
    for source in _sources(content or {}):
        try:
            tree = _PARSER.parse(source)
            found = [_path(node) for node in tree.find_all((nodes.Getattr, nodes.Getitem))]
        except (TemplateSyntaxError, RecursionError, MemoryError):
            continue  # the review reports it; the example shows what it can
        paths.update(tuple(path) for path in found if path)
    longest = {p for p in paths if not any(q[: len(p)] == p and q != p for q in paths)}
    return sorted(".".join(p) for p in longest)


def example_context(content: dict | None) -> dict:
    """A nested ``context`` object with a placeholder for every variable used."""
    context: dict = {}
    for dotted in context_variables(content):
        keys = dotted.split(".")
        node = context
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node.setdefault(keys[-1], f"<{dotted}>")
    return context


def trigger_example(campaign: Campaign, version: CampaignVersion | None) -> dict | None:
    """``{"method", "url", "body", "curl", "docs_url"}`` for an API-triggered
    campaign; None for a scheduled one."""
    if campaign.type != CampaignType.API_TRIGGERED:
        return None
    namespace = (version.identity_namespace if version else None) or "email"
    body = {
        "requestId": f"campaign-{campaign.pk}-example-1",
        "campaignId": campaign.pk,
        "recipients": [
            {
                "userId": EXAMPLE_RECIPIENT.get(namespace, EXAMPLE_RECIPIENT["email"]),
                "namespace": namespace,
                "context": example_context(version.content if version else None),
            }
        ],
    }
    url = settings.SITE_URL + "/api/v1/executions/unitary"
    curl = "\n".join(
        [
            f"curl -X POST {shlex.quote(url)} \\",
            "  -H 'Authorization: Bearer <YOUR_API_KEY>' \\",
            "  -H 'Content-Type: application/json' \\",
            f"  --data {shlex.quote(json.dumps(body, indent=2, ensure_ascii=False))}",
        ]
    )
    docs = settings.SITE_URL + "/api/v1/docs"
    return {"method": "POST", "url": url, "body": body, "curl": curl, "docs_url": docs}
