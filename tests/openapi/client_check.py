"""Calls the API through the client openapi-python-client generated from /openapi.json
(package `exporter_client`, on PYTHONPATH): three routes, one of them a POST, and two bad
requests whose answers must come back as the typed `Problem`. Prints one line per call for
tests/tests/openapi_contract.rs, and exits non-zero when an answer is not the documented type.

Usage: client_check.py BASE_URL (the key in EXPORTER_API_KEY)."""

import os
import sys

from exporter_client import AuthenticatedClient, Client
from exporter_client.api.alerts import create_silence, list_alerts
from exporter_client.api.health import health
from exporter_client.models import (
    AlertPage,
    Health,
    MatcherRequest,
    Problem,
    PublicHealth,
    SilenceRequest,
    SilenceState,
    SilenceView,
)


def expect(value, kind, what):
    if not isinstance(value, kind):
        sys.exit(f"{what}: expected {kind.__name__}, got {type(value).__name__}: {value!r}")
    return value


def main():
    base_url = sys.argv[1].rstrip("/")
    # The generated client sends the key as `Authorization: Bearer <key>`, the document's
    # `bearer` scheme.
    keyed = AuthenticatedClient(base_url=base_url, token=os.environ["EXPORTER_API_KEY"])
    anonymous = Client(base_url=base_url)

    # Without a key the states only, with the key every detail: two documented shapes.
    public = expect(health.sync(client=anonymous), PublicHealth, "GET /health (no key)")
    answer = expect(health.sync(client=keyed), Health, "GET /health (key)")
    print(f"health: {type(public).__name__}/{type(answer).__name__} status={answer.status.value} postgres={answer.postgres.status.value}")

    page = expect(list_alerts.sync(client=keyed), AlertPage, "GET /alerts")
    print(f"alerts: AlertPage total={page.total} limit={page.limit}")

    request = SilenceRequest(
        matchers=[MatcherRequest(name="alertname", value="GpuTemperatureHigh")],
        comment="maintenance window",
        duration="2h",
    )
    silence = expect(create_silence.sync(client=keyed, body=request), SilenceView, "POST /silences")
    expect(silence.state, SilenceState, "SilenceView.state")
    print(f"silence created: SilenceView state={silence.state.value} by={silence.created_by}")

    bad = SilenceRequest(
        matchers=[MatcherRequest(name="alertname", value="GpuTemperatureHigh")],
        comment=" ",
        duration="2h",
    )
    problem = expect(create_silence.sync(client=keyed, body=bad), Problem, "POST /silences (bad)")
    print(f"bad silence: Problem status={problem.status} parameter={problem.parameter}")

    problem = expect(list_alerts.sync(client=keyed, limit=0), Problem, "GET /alerts?limit=0")
    print(f"bad limit: Problem status={problem.status} parameter={problem.parameter}")


if __name__ == "__main__":
    main()
