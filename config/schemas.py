"""Base schema for the API: camelCase on the wire, snake_case in Python."""

from ninja import Schema
from pydantic import ConfigDict
from pydantic.alias_generators import to_camel


class CamelSchema(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class CamelOut(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
