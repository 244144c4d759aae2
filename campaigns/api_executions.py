"""API-triggered executions (SPEC §7 "Executions")."""

from ninja import Router

executions_router = Router(tags=["executions"])
