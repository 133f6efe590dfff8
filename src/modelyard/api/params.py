"""Parameter types shared by the routers, bounded so that no client value can overflow the database.

SQLite and PostgreSQL keep integers in 64 bits (PostgreSQL's `integer` ids in 32): a larger `offset`, `page` or
id used to reach the database and answer 500. Every integer that reaches a query is bounded here, in its schema,
so that the OpenAPI document says the bound and FastAPI answers 422 before any query runs.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator

INT32_MAX = 2**31 - 1   # the largest id a PostgreSQL `integer` column holds
MAX_OFFSET = 10**9      # far beyond any real listing, far below the 64-bit limit of an SQL OFFSET
MAX_PAGE = 10**7        # times the largest page size (200) stays below INT32_MAX

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=200, description="rows to answer, at most 200")]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")]
UserId = Annotated[int, Path(ge=1, le=INT32_MAX, description="a user's numeric id")]

_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _not_a_number(value: object) -> object:
    """Pydantic reads a bare number as seconds since 1970; a client sending `since=0` meant something else."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("expected an ISO 8601 date or date-time (e.g. 2025-01-31 or 2025-01-31T12:00:00Z), "
                         "not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]
