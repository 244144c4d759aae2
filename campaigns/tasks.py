"""django-q2 entry points for campaigns. Each task: ids in, fetch, one service."""

from __future__ import annotations
