"""ade/dbretry.py: a lost PostgreSQL connection is retried on a new one; other database errors are not."""

import pytest
from django.db import OperationalError, connection, transaction

from ade.dbretry import DATABASE_LOST, is_disconnect, readable, retrying
from agents.models import Run

pytestmark = pytest.mark.django_db(transaction=True)


def _end_this_connection() -> None:
    """What a PostgreSQL restart does to a connection: the server ends it (AdminShutdown)."""
    import psycopg

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("autocommit", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_transaction_on_a_lost_connection_runs_again_on_a_new_one():
    if connection.vendor != "postgresql":
        pytest.skip("connections ended by the server: PostgreSQL")
    _end_this_connection()
    attempts = []

    def count():
        attempts.append(1)
        with transaction.atomic():
            return Run.objects.count()

    assert retrying(count, what="test", seconds=5) == 0
    assert len(attempts) == 2


def test_a_lost_connection_is_readable_and_other_errors_are_not_retried():
    if connection.vendor == "postgresql":
        _end_this_connection()
        with pytest.raises(OperationalError) as lost:
            Run.objects.count()
        assert is_disconnect(lost.value) and readable(lost.value) == DATABASE_LOST
        connection.close()
    attempts = []

    def refused():
        attempts.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_here")

    with pytest.raises(Exception) as error:
        retrying(refused, what="test", seconds=5)
    assert len(attempts) == 1 and not is_disconnect(error.value)
