"""schemathesis against /openapi.json: generated requests, valid and not, never get a 5xx."""

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from parcours.faces.api import create_app

TOKEN = "t" * 24


def test_no_server_errors(shop):
    # schemathesis calls the app as the host "testserver": a name this workspace lets clients use
    (shop.path / "parcours.toml").write_text(f'[api]\nhosts = ["testserver"]\n'
                                             f'tokens = [{{ token = "{TOKEN}", scopes = ["read", "write"] }}]\n')
    app = create_app(shop.path)
    # runs the start-up: the workspace is open for every generated call
    with TestClient(app, base_url="http://127.0.0.1"):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [op.ok() for op in schema.get_all_operations()]
        # with fields, models, info, the three of jobs, six of audiences, conditions, profiles, persons, forget
        assert len(operations) == 22
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
            def no_5xx(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error])
            no_5xx()
