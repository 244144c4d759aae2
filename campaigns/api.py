"""Campaigns, executions and approval policies API (SPEC §7)."""

from ninja import Router

campaigns_router = Router(tags=["campaigns"])
policies_router = Router(tags=["approval policies"])
