"""Demo data for this app (called by `manage.py seed_demo`, idempotent).

A few thousand profiles with names, cities, plans, time zones and mixed
consent; two rule audiences; one uploaded audience whose file has a few bad
rows, so the error report has something to show.
"""

from __future__ import annotations

import random

from django.core.files.base import ContentFile
from django.db import transaction

from audiences.importer import profile_import_create, profile_import_run
from audiences.models import Audience, Profile, Suppression
from audiences.services import audience_refresh_size

PROFILES = 3000
FIRST = [
    "Emma",
    "Lucas",
    "Sofia",
    "Noah",
    "Julie",
    "Liam",
    "Saga",
    "Hugo",
    "Anna",
    "Elias",
    "Léa",
    "Oscar",
    "Maja",
    "Louis",
    "Fleur",
    "Daan",
    "Inès",
    "Wilma",
    "Sem",
    "Chloé",
]
LAST = [
    "Martin",
    "de Vries",
    "Andersson",
    "Bernard",
    "Jansen",
    "Johansson",
    "Dubois",
    "Bakker",
    "Karlsson",
    "Laurent",
    "Visser",
    "Nilsson",
    "Moreau",
    "Smit",
    "Lindberg",
]
CITIES = [
    ("Paris", "Europe/Paris", "+336"),
    ("Lyon", "Europe/Paris", "+336"),
    ("Amsterdam", "Europe/Amsterdam", "+316"),
    ("Utrecht", "Europe/Amsterdam", "+316"),
    ("Stockholm", "Europe/Stockholm", "+467"),
    ("Göteborg", "Europe/Stockholm", "+467"),
    ("Brussels", "Europe/Brussels", "+324"),
    ("Montréal", "America/Toronto", "+1514"),
]
PLANS = ["free", "free", "free", "pro", "pro", "team"]
RULES = {
    "Paris pro customers": {
        "all": [
            {"field": "attributes.city", "op": "eq", "value": "Paris"},
            {"field": "attributes.plan", "op": "eq", "value": "pro"},
        ]
    },
    "Engaged Scandinavians": {
        "all": [
            {"field": "attributes.city", "op": "in", "value": ["Stockholm", "Göteborg"]},
            {
                "any": [
                    {"field": "attributes.orders", "op": "gte", "value": 3},
                    {"field": "attributes.plan", "op": "in", "value": ["pro", "team"]},
                ]
            },
        ]
    },
}
UPLOAD_NAME = "Trade fair 2026 leads"


def _profile(rnd: random.Random, i: int) -> Profile:
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    city, zone, prefix = rnd.choice(CITIES)
    digits = 7 if prefix == "+1514" else 8
    return Profile(
        email=f"{first}.{last}.{i}@example.com".lower()
        .replace(" ", "")
        .replace("é", "e")
        .replace("è", "e"),
        phone=f"{prefix}{i:0{digits}d}" if rnd.random() < 0.6 else None,
        push_token=f"demo-push-{i:05d}" if rnd.random() < 0.3 else None,
        profile_id=f"CRM-{i:05d}",
        attributes={
            "firstName": first,
            "lastName": last,
            "city": city,
            "plan": rnd.choice(PLANS),
            "orders": rnd.randint(0, 12),
            "language": {
                "Europe/Paris": "fr",
                "Europe/Stockholm": "sv",
                "Europe/Amsterdam": "nl",
            }.get(zone, "en"),
        },
        timezone=zone,
        consent_email=rnd.random() < 0.7,
        consent_sms=rnd.random() < 0.4,
        consent_push=rnd.random() < 0.3,
    )


def _upload_csv(rnd: random.Random) -> bytes:
    lines = ["email,phone,firstName,company,consent_email,timezone"]
    for i in range(40):
        first = rnd.choice(FIRST)
        lines.append(
            f"{first.lower()}.lead{i}@example.org,,{first},Company {i % 7},yes,Europe/Paris"
        )
    lines.insert(8, "not-an-email,,Broken,Nowhere,yes,")
    lines.insert(15, ",,Nobody,Ghost Inc,no,")
    lines.insert(22, "lead.tz@example.org,,Tim,Clock Co,yes,Mars/Olympus")
    return ("\n".join(lines) + "\n").encode()


def seed(*, users: dict, stdout=None, **kwargs) -> None:
    rnd = random.Random(2026)  # same data on every run
    owner = users.get("manager") if users else None
    profiles = [_profile(rnd, i) for i in range(PROFILES)]
    with transaction.atomic():
        existing = set(
            Profile.objects.filter(profile_id__startswith="CRM-").values_list(
                "profile_id", flat=True
            )
        )
        Profile.objects.bulk_create(
            [p for p in profiles if p.profile_id not in existing], batch_size=200
        )
        for address in ("bounced@example.com", profiles[5].email):
            Suppression.objects.get_or_create(
                channel="email", address=address, defaults={"reason": "hard_bounce"}
            )
        for name, rule in RULES.items():
            audience, _ = Audience.objects.get_or_create(
                name=name, defaults={"kind": Audience.Kind.RULE, "rule": rule, "created_by": owner}
            )
            audience_refresh_size(audience=audience)
    if not Audience.objects.filter(name=UPLOAD_NAME).exists():
        with transaction.atomic():
            audience = Audience.objects.create(
                name=UPLOAD_NAME, kind=Audience.Kind.UPLOAD, created_by=owner
            )
            created = profile_import_create(
                audience=audience,
                upload=ContentFile(_upload_csv(rnd)),
                file_name="trade-fair-2026.csv",
                actor=owner,
                enqueue=False,
            )
        profile_import_run(import_id=created.pk)
    if stdout is not None:
        stdout.write(
            f"Audiences: {Profile.objects.count()} profiles, {Audience.objects.count()} audiences."
        )
