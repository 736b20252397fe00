"""The terminal experience of `payouts run` (table, --quiet, --json, progress), every command's
--help, and `payouts serve` (config checks, --dry-run, the deployment on a real Prefect API, the
scheduled flow paying the previous month)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.cli import run_cli
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

EXAMPLE = REPO / "examples" / "2026-10"
SAFE = "0x175fF7e28908933157B7701B3799BB3eD52cABb8"
TOKEN = "0x75b757d248DC620895eA7ed54888327891787543"
PHASES = ("fetching metrics", "validating metrics.csv and operators.csv", "computing rewards", "writing")


# ---------------------------------------------------------------------------------------------
# payouts run: --json, --quiet, the summary table and progress lines


@pytest.mark.usefixtures("prefect_server")
def test_run_json_prints_one_object_with_exact_totals(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    res = run_cli(capsys, "run", "--json", "--out", "j")
    assert res.code == 0, res.err
    assert len(res.out.splitlines()) == 1  # nothing else on stdout
    data = json.loads(res.out)
    assert res.out.strip() == json.dumps(data, sort_keys=True)
    assert data["total_usd"] == "11912.90"
    assert data["transfers"] == 103
    assert data["eligible"] == 428 and data["held"] == 225 and data["nodes"] == 653
    assert data["held_by_reason"]["over_node_cap"] == 57
    assert data["status"] == "emitted" and data["period"] == "2026-10"
    assert data["folder"] == str(Path("j") / "2026-10")
    manifest = json.loads((tmp_path / "j" / "2026-10" / "manifest.json").read_text())
    assert data["total_wei"] == manifest["totals"]["total_wei"]  # exact, as a string
    assert isinstance(data["dust_wei"], str) and isinstance(data["total_cor"], str)
    assert [b["transfers"] for b in data["batches"]] == [100, 3]
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", b["safe_tx_hash"]) for b in data["batches"])
    assert data["batches"][0]["safe_tx_hash"] == manifest["batches"][0]["safe_tx_hash"]
    # no progress with --json; the example notice goes to stderr
    assert not any(p in res.err for p in PHASES)
    assert "running the bundled example month" in res.err


@pytest.mark.usefixtures("prefect_server")
def test_run_quiet_prints_only_the_folder_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    res = run_cli(capsys, "run", "--quiet", "--out", "q")
    assert res.code == 0, res.err
    assert res.out.splitlines() == [f"written to {Path('q') / '2026-10'}"]
    assert res.err == ""
    again = run_cli(capsys, "run", "-q", "--out", "q")  # identical inputs: nothing new
    assert again.out.splitlines() == [f"already emitted: {Path('q') / '2026-10'}"]


@pytest.mark.usefixtures("prefect_server")
def test_run_prints_progress_and_a_summary_table(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    res = run_cli(capsys, "run", "--out", "t")
    assert res.code == 0, res.err
    progress = res.err.splitlines()
    for phase in PHASES:
        assert any(line.startswith(phase) and line.endswith(" …") for line in progress), (phase, res.err)
    out = res.out
    assert "COR payout 2026-10: emitted, run 1 (full)" in out
    assert re.search(r"^total USD +11912\.90$", out, re.M)
    assert re.search(r"^transfers +103$", out, re.M)
    assert re.search(r"^  held over_node_cap +57$", out, re.M)
    assert "Safe batches on arbitrum-sepolia (chain 421614)" in out
    manifest = json.loads((tmp_path / "t" / "2026-10" / "manifest.json").read_text())
    for batch in manifest["batches"]:  # every safeTxHash in full, never folded or cut
        assert batch["safe_tx_hash"] in out
    assert out.splitlines()[-1] == f"written to {Path('t') / '2026-10'}"
    assert all(line == line.rstrip() for line in out.splitlines())


def test_quiet_and_json_exclude_each_other(capsys) -> None:
    res = run_cli(capsys, "run", "--quiet", "--json")
    assert res.code == 2 and "exclude each other" in res.err


# ---------------------------------------------------------------------------------------------
# --help


def test_every_help_has_an_example(capsys) -> None:
    from flows.cli import app

    root = run_cli(capsys, "--help")
    assert root.code == 0 and "Example" in root.out
    commands = sorted(c.name or c.callback.__name__ for c in app.registered_commands)
    assert {"run", "serve", "check-batch", "verify"} <= set(commands)
    for name in commands:
        res = run_cli(capsys, name, "--help")
        assert res.code == 0, name
        assert "Example" in res.out, name


# ---------------------------------------------------------------------------------------------
# payouts serve


def _config(tmp_path: Path, **extra: str | int) -> Path:
    lines = {
        "metrics": '"https://metrics.example/snapshots/{period}.csv"',
        "operators": '"https://metrics.example/registry/operators.csv"',
        "price_url": '"https://prices.example/cor-usd/{year}/{month}.txt"',
        "price_source": '"VWAP {period}"',
        "network": '"arbitrum-sepolia"',
        "safe": f'"{SAFE}"',
        "token": f'"{TOKEN}"',
    }
    for key, value in extra.items():
        if value is None:
            lines.pop(key, None)
        else:
            lines[key] = value if isinstance(value, str) else str(value)
    path = tmp_path / "payouts.toml"
    path.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
    return path


def test_serve_dry_run_prints_the_schedule_and_the_months_it_pays(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path)
    res = run_cli(capsys, "serve", "--dry-run", "--config", str(config), "--after", "2026-10-15T12:00:00Z")
    assert res.code == 0, res.err
    out = res.out
    assert "deployment  cor-monthly-payout (flow scheduled_monthly_payout)" in out
    assert 'cron "0 6 1 * *", timezone UTC' in out
    runs = re.findall(r"^  (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC  pays (\d{4}-\d{2})$", out, re.M)
    assert runs == [
        ("2026-11-01 06:00", "2026-10"),
        ("2026-12-01 06:00", "2026-11"),
        ("2027-01-01 06:00", "2026-12"),
    ]
    assert "metrics   https://metrics.example/snapshots/2026-10.csv" in out
    assert "price     from https://prices.example/cor-usd/2026/12.txt" in out
    assert "treasury reviews the run" in out
    assert "nothing deployed" in out


def test_serve_dry_run_from_now_pays_the_month_before_each_run(tmp_path: Path, capsys) -> None:
    res = run_cli(capsys, "serve", "--dry-run", "--config", str(_config(tmp_path, safe_nonce=7)))
    assert res.code == 0, res.err
    runs = re.findall(r"^  (\d{4})-(\d{2})-01 06:00 UTC  pays (\d{4}-\d{2})$", res.out, re.M)
    assert len(runs) == 3
    now = datetime.now(UTC)
    first = datetime(int(runs[0][0]), int(runs[0][1]), 1, 6, tzinfo=UTC)
    assert now <= first and (first - now).days < 32  # the next 1st at 06:00 UTC
    for year, month, period in runs:
        y, m = (int(year), int(month) - 1) if month != "01" else (int(year) - 1, 12)
        assert period == f"{y:04d}-{m:02d}"
    assert "first Safe nonce 7" in res.out


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"metrix": '"a.csv"'}, "unknown key(s) ['metrix']"),
        ({"price": '"0.0215"'}, "give exactly one of 'price' and 'price_url' (both are set)"),
        ({"price_url": None, "price": "0.0215"}, "money is never a float"),
        ({"price_url": None}, "(neither is set)"),
        ({"metrics": '"https://x.example/{day}.csv"'}, "unknown placeholder(s) ['{day}']"),
        ({"safe_nonce": '"42"'}, "'safe_nonce' must be an integer"),
        ({"safe": '"0x0000000000000000000000000000000000000000"'}, "zero address"),
        ({"safe": f'"{SAFE.lower()[:-1]}B"'}, "--safe"),
        ({"network": '"arbitrum-two"'}, "unknown network 'arbitrum-two'"),
        ({"policy": '"phase9"'}, "unknown policy 'phase9'"),
    ],
)
def test_serve_refuses_a_bad_config_with_exit_2(extra: dict, fragment: str, tmp_path: Path, capsys) -> None:
    res = run_cli(capsys, "serve", "--dry-run", "--config", str(_config(tmp_path, **extra)))
    assert res.code == 2, (res.out, res.err)
    assert fragment in res.err
    assert "Traceback" not in res.err


def test_serve_without_a_prefect_server_refuses(tmp_path: Path, monkeypatch, capsys) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import serve

    def never(_cfg: object) -> None:
        raise AssertionError("must not serve without a server")

    monkeypatch.setattr(serve, "serve_forever", never)
    with temporary_settings(updates={PREFECT_API_URL: None}):
        res = run_cli(capsys, "serve", "--config", str(_config(tmp_path)))
    assert res.code == 2
    assert "needs a running Prefect server" in res.err and "PREFECT_API_URL=" in res.err
    missing = run_cli(capsys, "serve", "--dry-run", "--config", str(tmp_path / "nope.toml"))
    assert missing.code == 2 and "config file not found" in missing.err


def _sqlalchemy_2_1() -> bool:
    import sqlalchemy

    return tuple(int(x) for x in sqlalchemy.__version__.split(".")[:2]) >= (2, 1)


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.xfail(
    _sqlalchemy_2_1(),
    raises=httpx.HTTPStatusError,  # the server's 503 for /deployments/{id}/schedule
    reason="Prefect 3.8.8's scheduler cannot insert scheduled runs with SQLAlchemy 2.1 "
    "(InvalidRequestError: Can't evaluate bulk DML statement); pin sqlalchemy 2.0.x",
    strict=True,
)
def test_deployment_schedules_runs_on_the_1st_at_0600_utc(tmp_path: Path) -> None:
    """The deployment `payouts serve` registers, scheduled by the Prefect server's own code."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from flows import serve

    cfg = serve.load_config(_config(tmp_path))
    deployment_id = serve.scheduled_monthly_payout.to_deployment(**serve.deployment_options(cfg)).apply()
    # a server error fails at once (the client would retry a 500 for two minutes)
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}), get_client(sync_client=True) as client:
        deployment = client.read_deployment(deployment_id)
        assert deployment.name == "cor-monthly-payout"
        assert deployment.parameters == {"config_path": str(cfg.path)}
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 6 1 * *", "UTC")
        # the server's scheduler, asked for the runs after 2030-12-15 (a year boundary ahead)
        response = client._client.post(
            f"/deployments/{deployment_id}/schedule",
            json={"start_time": "2030-12-15T00:00:00Z", "min_runs": 3, "max_runs": 3},
        )
        response.raise_for_status()
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    starts = sorted(r.expected_start_time.astimezone(UTC) for r in runs)[:3]
    assert starts == [datetime(2031, m, 1, 6, tzinfo=UTC) for m in (1, 2, 3)]
    assert [serve.previous_period(s) for s in starts] == ["2030-12", "2031-01", "2031-02"]


@pytest.mark.usefixtures("prefect_server")
def test_scheduled_flow_pays_the_month_before_its_scheduled_start(tmp_path: Path, monkeypatch) -> None:
    from prefect.runtime import flow_run

    from flows.serve import scheduled_monthly_payout

    examples = (REPO / "examples").as_posix()
    config = _config(
        tmp_path,
        metrics=f'"{examples}/{{period}}/metrics.csv"',
        operators=f'"{examples}/{{period}}/operators.csv"',
        price_url=None,
        price='"0.0215"',
        price_source='"fixed for {period}"',
        out='"monthly"',
        safe_nonce=0,
    )
    # scheduled for 2027-01-01 06:00 UTC would pay 2026-12: here, for 2026-11-01 -> 2026-10
    monkeypatch.setitem(flow_run.FIELDS, "scheduled_start_time", lambda: datetime(2026, 11, 1, 6, tzinfo=UTC))
    folder = Path(scheduled_monthly_payout(str(config)))
    assert folder == tmp_path / "monthly" / "2026-10"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["price"] == {"cor_usd": "0.0215", "source": "fixed for 2026-10"}
    assert manifest["totals"]["total_usd"] == "11912.90"
    assert manifest["chain"]["network"] == "arbitrum-sepolia"
    assert manifest["batches"][0]["safe_tx_hash"].startswith("0x")
    assert (tmp_path / "monthly" / "ledger.sqlite").is_file()
