"""The API root (`/api/v1/`): authentication, problem+json errors, the routers.

Every app adds its endpoints to its own ``api.py`` router; they are mounted here
and nowhere else. Routes return camelCase (``by_alias=True``).
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.parser import Parser

from config import jsonparse, problems
from config.api_auth import ApiKeyAuth


class StrictJsonParser(Parser):
    """Every JSON body, on every endpoint: no NaN/Infinity, bounded depth."""

    def parse_body(self, request: HttpRequest):
        return jsonparse.loads(request.body)


class VolleyApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        from config.openapi import document_problems

        return document_problems(super().get_openapi_schema(**kwargs))


api = VolleyApi(
    title="Volley API",
    version="1",
    description="Campaigns as code: everything a marketer does in the UI, with the same permissions.",
    auth=ApiKeyAuth(),
    parser=StrictJsonParser(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
problems.install(api)


@api.get("/", auth=None, include_in_schema=False)
def root(request: HttpRequest) -> dict:
    return {
        "name": "Volley",
        "version": "1",
        "openapi": "/api/v1/openapi.json",
        "docs": "/api/v1/docs",
    }


def _mount() -> None:
    from accounts.api import notifications_router
    from accounts.api import router as accounts_router
    from audiences.api import (
        audiences_router,
        privacy_router,
        profiles_router,
        suppressions_router,
    )
    from audiences.events_api import events_router
    from campaigns.api import campaigns_router, policies_router
    from campaigns.api_executions import executions_router
    from campaigns.api_rules import rules_router
    from campaigns.assets_api import assets_router
    from campaigns.calendar_api import calendar_router
    from campaigns.templates_api import templates_router
    from channels.api import channels_router, feedback_router
    from webhooks.api import webhooks_router

    # The trigger endpoints first: URL resolution tries the patterns in order,
    # and they are the API's hot path.
    api.add_router("/executions", executions_router)
    api.add_router("/me", accounts_router)
    api.add_router("/notifications", notifications_router)
    api.add_router("/campaigns", campaigns_router)
    api.add_router("/approval-policies", policies_router)
    api.add_router("/templates", templates_router)
    api.add_router("/assets", assets_router)
    api.add_router("/business-rules", rules_router)
    api.add_router("/calendar", calendar_router)
    api.add_router("/audiences", audiences_router)
    api.add_router("/profiles", profiles_router)
    api.add_router("/events", events_router)
    api.add_router("/privacy-log", privacy_router)
    api.add_router("/suppressions", suppressions_router)
    api.add_router("/channel-configurations", channels_router)
    api.add_router("/feedback", feedback_router)
    api.add_router("/webhooks", webhooks_router)


_mount()
