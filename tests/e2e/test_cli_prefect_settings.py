"""The Prefect settings each command runs with: `payouts run` on a temporary server is as light as
Prefect allows (no server background services, no flow-run heartbeats); against a persistent
server (PREFECT_API_URL) and for `payouts serve`, Prefect's defaults. No server is started here:
the flow and `serve_forever` are replaced by functions that record what they would run with."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from flows import cli
from tests.cli import run_cli

pytestmark = pytest.mark.e2e

SAFE = "0x175fF7e28908933157B7701B3799BB3eD52cABb8"
TOKEN = "0x75b757d248DC620895eA7ed54888327891787543"
SERVICE_VARS = [f"PREFECT_SERVER_SERVICES_{name}_ENABLED" for name in cli.ONE_SHOT_SERVICES_OFF]


def _seen() -> dict[str, Any]:
    """What a flow started now would run with."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    return {
        "env": {
            k: v
            for k, v in os.environ.items()
            if k.startswith(("PREFECT_SERVER_SERVICES_", "PREFECT_API_SERVICES_"))
        },
        "heartbeat": PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value(),
    }


@pytest.fixture
def flow_sees(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the monthly flow: it records its settings, then fails as an unavailable source would
    (exit 1, before anything is computed or written)."""
    import flows.monthly
    from flows.sources import TransientFetchError

    seen: list[dict[str, Any]] = []

    def fake_flow(period: str, req: object) -> None:
        seen.append(_seen())
        raise TransientFetchError("metrics: recorded the settings")

    monkeypatch.setattr(flows.monthly, "monthly_payout", fake_flow)
    for var in os.environ:
        if var.startswith(("PREFECT_SERVER_SERVICES_", "PREFECT_API_SERVICES_")):
            monkeypatch.delenv(var)
    return seen


def _api_url(url: str | None) -> Any:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: url})


def test_every_service_name_is_a_prefect_setting_and_turns_the_service_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.context import SettingsContext, get_settings_context
    from prefect.settings import Settings
    from prefect.settings.models.server.services import ServerServicesSettings

    assert {n.lower() for n in cli.ONE_SHOT_SERVICES_OFF} <= set(ServerServicesSettings.model_fields)
    for var in SERVICE_VARS:
        monkeypatch.setenv(var, "false")
    settings = Settings()
    for name in cli.ONE_SHOT_SERVICES_OFF:
        assert getattr(settings.server.services, name.lower()).enabled is False, name
    # what a temporary (ephemeral) server would start with these settings: no background service
    # but the in-memory event distributor (not a service setting), and no periodic job
    import prefect.server.api.server  # noqa: F401  (registers the services)
    from prefect.server.services.base import RunInEphemeralServers
    from prefect.server.services.perpetual_services import get_enabled_perpetual_services

    with SettingsContext(profile=get_settings_context().profile, settings=settings):
        started = [s.__name__ for s in RunInEphemeralServers.all_services() if s.enabled()]
        periodic = [c.function.__name__ for c in get_enabled_perpetual_services(ephemeral=True)]
    assert started == ["Distributor"]
    assert periodic == []  # telemetry is off too (PREFECT_SERVER_ANALYTICS_ENABLED=false)


def test_run_on_a_temporary_server_is_light_and_restores_the_environment(
    tmp_path: Path, flow_sees: list[dict[str, Any]], capsys
) -> None:
    before = _seen()
    with _api_url(None):
        res = run_cli(capsys, "run", "--quiet", "--out", str(tmp_path / "out"))
    assert res.code == 1 and "still failing after retries" in res.err
    [seen] = flow_sees
    assert seen["env"] == {var: "false" for var in SERVICE_VARS}
    assert seen["heartbeat"] is None
    assert _seen() == before  # nothing left behind for the rest of the process
    assert before["heartbeat"] == 180  # Prefect's default


def test_run_keeps_what_the_user_set(
    tmp_path: Path, flow_sees: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "true")
    monkeypatch.setenv("PREFECT_API_SERVICES_TRIGGERS_ENABLED", "true")  # the legacy alias
    from prefect.settings import PREFECT_SERVER_SERVICES_FOREMAN_ENABLED, temporary_settings

    # as from a profile (`prefect config set`): a setting, not an environment variable
    with _api_url(None), temporary_settings(updates={PREFECT_SERVER_SERVICES_FOREMAN_ENABLED: True}):
        assert run_cli(capsys, "run", "--quiet", "--out", str(tmp_path / "out")).code == 1
    [seen] = flow_sees
    assert "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED" not in seen["env"]
    assert seen["env"]["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED"] == "true"
    assert seen["env"]["PREFECT_API_SERVICES_TRIGGERS_ENABLED"] == "true"
    assert "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED" not in seen["env"]  # would shadow the alias
    assert seen["env"]["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] == "false"
    assert os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED"] == "true"  # not popped


def test_run_against_a_persistent_server_changes_nothing(
    tmp_path: Path, flow_sees: list[dict[str, Any]], capsys
) -> None:
    with _api_url("http://127.0.0.1:9/api"):
        before = _seen()
        assert run_cli(capsys, "run", "--quiet", "--out", str(tmp_path / "out")).code == 1
    assert flow_sees == [before]
    assert before == {"env": {}, "heartbeat": 180}


def test_serve_keeps_prefect_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from flows import serve

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(serve, "serve_forever", lambda cfg: seen.append(_seen()))
    for var in os.environ:
        if var.startswith(("PREFECT_SERVER_SERVICES_", "PREFECT_API_SERVICES_")):
            monkeypatch.delenv(var)
    config = tmp_path / "payouts.toml"
    config.write_text(
        'metrics = "https://metrics.example/snapshots/{period}.csv"\n'
        'operators = "https://metrics.example/registry/operators.csv"\n'
        'price_url = "https://prices.example/cor-usd/{year}/{month}.txt"\n'
        'price_source = "VWAP {period}"\n'
        f'network = "arbitrum-sepolia"\nsafe = "{SAFE}"\ntoken = "{TOKEN}"\n'
    )
    with _api_url("http://127.0.0.1:9/api"):
        res = run_cli(capsys, "serve", "--config", str(config))
    assert res.code == 0, res.err
    assert seen == [{"env": {}, "heartbeat": 180}]
