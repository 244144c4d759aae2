"""Base schema for the API: camelCase on the wire, snake_case in Python."""

from datetime import UTC, datetime
from typing import Annotated

from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import AfterValidator, ConfigDict
from pydantic.alias_generators import to_camel


def _storable(value: datetime) -> datetime:
    # 0001-01-01T00:00:00+14:00 is a valid ISO date whose UTC time is before
    # year 1: Python cannot represent it, so no column can store it.
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError(_("This date is out of range.")) from None
    return value


# A date-time the database can store once converted to UTC.
ApiDateTime = Annotated[datetime, AfterValidator(_storable)]


class CamelSchema(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class CamelOut(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
