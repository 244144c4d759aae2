"""API-triggered executions and campaign reports (SPEC §7)."""

from ninja import Router

executions_router = Router(tags=["executions"])
# Mounted at /campaigns beside campaigns.api.campaigns_router: /campaigns/{id}/report.
reports_router = Router(tags=["reports"])
