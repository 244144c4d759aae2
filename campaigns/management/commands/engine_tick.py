"""`manage.py engine_tick` — run the engine's periodic sweep once, now.

Useful after a long outage, in scripts, and in tests; the cluster runs the same
sweep every minute (schedule "volley-engine-tick", declared by migrate).
"""

from django.core.management.base import BaseCommand

from campaigns.engine.completion import tick
from config.schedules import ensure_schedules


class Command(BaseCommand):
    help = "Declare the engine's schedules and run its periodic sweep once."

    def handle(self, *args, **options):
        ensure_schedules()
        tick()
        self.stdout.write("engine tick done")
