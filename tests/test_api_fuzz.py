"""Property-based fuzzing of the /v1 API from its own OpenAPI document (schemathesis): for every operation,
generated requests (valid ones, and invalid ones from the coverage phase) never get a 5xx, and every answer
conforms to the document (status code, content type, body schema). Bounded: a few examples per operation.

Path ids are mostly replaced by ids of real objects, seeded once for the module, so operations get past the 404
and exercise their bodies; each test's own writes are rolled back. Operations that hand work to background
threads (SSE streams, async runs) are covered by tests/test_api_messages.py instead.
"""

import hashlib

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

# Valid and invalid ("negative") data in the fuzzing phase; the exhaustive coverage phase takes minutes here.
CONFIG = schemathesis.Config.from_dict(
    {"generation": {"mode": "all"}, "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", get_wsgi_application(), config=CONFIG)
BACKGROUND = ("/messages/stream", "/messages/async", "/stream")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
ECHO = 'def echo(text: str) -> str:\n    """Echo.\n\n    Args:\n        text: Text.\n    """\n    return text\n'


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, scripted_llm_server):
    """A user with an API key, an agent that has talked once, a block, a tool and a folder; committed for the
    module and removed at its end."""
    from accounts.actions import create_api_key, create_user
    from accounts.models import Organization
    from agents.actions import create_agent
    from agents.runs import execute, start_turn
    from memory.actions import Actor, create_block
    from memory.folders import create_folder, embedding_config_for
    from tools.actions import create_tool

    with django_db_blocker.unblock(), override_settings(SCRIPTED_LLM_URL=scripted_llm_server.url):
        user = create_user("fuzzer", "correct horse battery", org_name="Fuzz")
        agent = create_agent(user, {"name": "fuzzed", "memory_blocks": [{"label": "human", "value": "x"}]})
        run = start_turn(user, agent.id, [{"role": "user", "content": "hello"}])
        execute(run.id)  # here, whether or not workers are configured
        ids = {
            "agent_id": agent.id,
            "block_id": create_block(user.organization, label="shared", value="y", actor=Actor.user(user)).id,
            "tool_id": create_tool(user, ECHO).id,
            "folder_id": create_folder(user, name="fuzz", embedding_config=embedding_config_for()).id,
            "run_id": run.id,
            "message_id": run.messages.first().id,
            "block_label": "human",
            "tool_name": "echo",
            "key": create_api_key(user)[1],
        }
        ids["source_id"] = ids["folder_id"]
    yield ids
    with django_db_blocker.unblock():
        org = Organization.objects.get(id=user.organization_id)
        user.delete()
        org.delete()


@pytest.fixture
def keep_connection():
    """The WSGI app closes the database connection after each request; inside a test transaction it must not
    (Django's test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _use_real_ids(case, seeded: dict) -> None:
    # Three valid cases in four address real objects; the rest keep their generated (mostly unknown) ids, and
    # invalid path ids stay invalid.
    digest = hashlib.sha256(repr(case.path_parameters).encode()).digest()[0]
    if case.path_parameters and digest % 4 and not case.meta.is_negative_at(ParameterLocation.PATH):
        for name in case.path_parameters:
            if name in seeded:
                case.path_parameters[name] = seeded[name]
    if isinstance(case.body, dict) and case.body.get("streaming") is True:
        case.body["streaming"] = False  # streams run in threads: tested elsewhere


@pytest.mark.django_db
@schema.exclude(path_regex="|".join(BACKGROUND)).parametrize()
@settings(max_examples=5, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_document(case, seeded, scripted_llm, keep_connection):
    scripted_llm.queue_text("ok", repeat=1000)
    _use_real_ids(case, seeded)
    # A case whose headers were made invalid on purpose (the key left out) goes without the key.
    auth = {} if case.meta.is_negative_at(ParameterLocation.HEADER) else {"Authorization": f"Bearer {seeded['key']}"}
    response = case.call(headers=auth)
    case.validate_response(response, checks=CHECKS)
