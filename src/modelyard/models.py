"""Imports every domain's tables so that Base.metadata knows them all (Alembic, tests)."""
from modelyard.auth.models import ApiKey, LoginEvent, User  # noqa: F401
from modelyard.jobs.models import Job  # noqa: F401
