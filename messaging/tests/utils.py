"""Helpers shared by the test modules."""

import pytest
from django.db import connection

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (row locks, concurrent sessions)"
)
