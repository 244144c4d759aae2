"""Database ids in URLs and bodies: a number past a 64-bit integer is "not
found", never a database error (PostgreSQL's bigint overflows, SQLite's driver
raises OverflowError)."""

MAX_ID = 2**63 - 1


def is_id(value: int) -> bool:
    """Could ``value`` be the primary key of a row?"""
    return 0 < value <= MAX_ID
