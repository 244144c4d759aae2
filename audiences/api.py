"""Audiences and profiles API (SPEC §7)."""

from ninja import Router

audiences_router = Router(tags=["audiences"])
profiles_router = Router(tags=["profiles"])
