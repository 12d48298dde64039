"""Negative fuzzing of every write operation of /v1 (issue 10): schemathesis' coverage phase sends, for each body
field, values of the wrong kind and just outside its bounds (`true` for a number, `0` for a boolean, a number for a
date-time, ...). Every one must be refused with a 4xx and nothing else may fail (status, content type, schema). The
all-operations run with valid and invalid data is tests/test_api_fuzz.py; this one goes deeper on the bodies."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.core.parameters import ParameterLocation

from tests.test_api_fuzz import BACKGROUND, CHECKS, _use_real_ids, keep_connection, seeded  # noqa: F401 (fixtures)

CONFIG = schemathesis.Config.from_dict(
    {
        # An oversized body (a list past its maxItems makes a 60 MB request) is refused before it is parsed: 413.
        "checks": {
            "negative_data_rejection": {"expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]}
        },
        "generation": {"mode": "negative"},
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": False},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", get_wsgi_application(), config=CONFIG)


@pytest.mark.django_db
@schema.include(method=["POST", "PATCH", "PUT"]).exclude(path_regex="|".join(BACKGROUND)).parametrize()
@settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_wrong_kinds_of_values_are_refused(case, seeded, scripted_llm, keep_connection):  # noqa: F811
    scripted_llm.queue_text("ok", repeat=1000)
    _use_real_ids(case, seeded)
    auth = {} if case.meta.is_negative_at(ParameterLocation.HEADER) else {"Authorization": f"Bearer {seeded['key']}"}
    response = case.call(headers=auth)
    case.validate_response(response, checks=CHECKS)
