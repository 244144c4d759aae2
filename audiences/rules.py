"""Rule audiences: the JSON rule of SPEC §7 compiled into one Q object."""

from __future__ import annotations

from django.db.models import Q


def compile_rule(rule: dict) -> Q:
    raise NotImplementedError("rule compilation is being built in the audiences issue")
