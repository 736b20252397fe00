"""`payouts run` end to end through the Prefect flow, as the treasury runs it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from payouts.engine import REASONS
from tests.cli import run_cli
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

EXAMPLE = REPO / "examples" / "2026-10"
CORE_FILES = (
    "manifest.json",
    "node_rewards.csv",
    "operator_payouts.csv",
    "rejected_rows.csv",
    "transfers.csv",
)


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


def test_example_month_runs_with_no_arguments(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    res = run_cli(capsys, "run")
    assert res.code == 0, res.err
    out = tmp_path / "output" / "2026-10"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "batches",
            "prior_eligibility.csv",
            "previous_payout_addresses.csv",
            "report.html",
            "report.md",
            *CORE_FILES,
        ]
    )
    assert "running the bundled example month 2026-10" in res.out
    assert "held over_node_cap" in res.out and "total USD" in res.out and "dust" in res.out

    nodes = _rows(out / "node_rewards.csv")
    assert len(nodes) == 653
    assert {r["reason"] for r in nodes} == {"", *REASONS}  # every reason code is exercised
    manifest = json.loads((out / "manifest.json").read_text())
    # the manifest's hashes are those of the files on disk
    for entry in manifest["outputs"]:
        assert hashlib.sha256((out / entry["name"]).read_bytes()).hexdigest() == entry["sha256"], entry[
            "name"
        ]
    assert manifest["inputs"][0]["name"] == "examples/2026-10/metrics.csv"
    assert (
        manifest["inputs"][0]["sha256"] == hashlib.sha256((EXAMPLE / "metrics.csv").read_bytes()).hexdigest()
    )
    assert manifest["policy"]["name"] == "phase3"
    assert (
        manifest["policy"]["sha256"]
        == hashlib.sha256((REPO / "policies/phase3.toml").read_bytes()).hexdigest()
    )
    assert manifest["totals"]["eligible_nodes"] == sum(r["eligible"] == "true" for r in nodes)
    transfers = _rows(out / "transfers.csv")
    assert manifest["totals"]["total_wei"] == str(sum(int(t["amount_wei"]) for t in transfers))
    # the batch files verify against transfers.csv
    batch_files = sorted(str(p) for p in (out / "batches").glob("batch-*.json"))
    check = run_cli(capsys, "check-batch", *batch_files)
    assert check.code == 0, check.out
    assert check.out.count("OK ") == len(batch_files) == len({t["batch"] for t in transfers})


def test_rerun_gives_byte_identical_files(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "run", "--out", "a").code == 0
    assert run_cli(capsys, "run", "--out", "b").code == 0
    first, second = _hashes(tmp_path / "a" / "2026-10"), _hashes(tmp_path / "b" / "2026-10")
    assert first == second
    assert len(first) >= len(CORE_FILES) + 3
    assert run_cli(capsys, "run", "--out", "a").code == 0  # same folder again: same bytes
    assert _hashes(tmp_path / "a" / "2026-10") == first


def _args(metrics: Path, operators: Path, out: Path, period: str = "2026-10", *extra: str) -> list[str]:
    return [
        "run",
        "--period",
        period,
        "--metrics",
        str(metrics),
        "--operators",
        str(operators),
        "--price",
        "0.0215",
        "--out",
        str(out),
        *extra,
    ]


def _copy_example(tmp_path: Path) -> tuple[Path, Path]:
    m, o = tmp_path / "metrics.csv", tmp_path / "operators.csv"
    shutil.copy(EXAMPLE / "metrics.csv", m)
    shutil.copy(EXAMPLE / "operators.csv", o)
    return m, o


def _lines(path: Path) -> list[str]:
    return path.read_text("utf-8").split("\n")


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing_column", "missing column(s) ['stake_cor']"),
        ("empty_file", "the file is empty"),
        ("header_only", "has a header but no rows"),
        ("date_outside", "date 2026-11-01 is outside the period 2026-10"),
        ("not_utf8", "not UTF-8"),
        ("bad_period", "period '2026-13' is not a month"),
        ("semicolons", "separated by semicolons"),
        ("missing_file", "metrics file not found"),
    ],
)
def test_file_level_faults_exit_2_and_write_nothing(case: str, fragment: str, tmp_path: Path, capsys) -> None:
    m, o = _copy_example(tmp_path)
    period = "2026-10"
    lines = _lines(m)
    if case == "missing_column":
        m.write_text("\n".join(",".join(line.split(",")[:-1]) for line in lines if line) + "\n")
    elif case == "empty_file":
        m.write_bytes(b"")
    elif case == "header_only":
        m.write_text(lines[0] + "\n")
    elif case == "date_outside":
        lines[5] = lines[5].replace("2026-10-", "2026-11-", 1)
        m.write_text("\n".join(lines))
    elif case == "not_utf8":
        m.write_bytes(m.read_bytes()[:500] + b"\xff\xfe" + m.read_bytes()[500:])
    elif case == "bad_period":
        period = "2026-13"
    elif case == "semicolons":
        m.write_text("\n".join(line.replace(",", ";") for line in lines))
    elif case == "missing_file":
        m.unlink()
    out = tmp_path / "out"
    res = run_cli(capsys, *_args(m, o, out, period))
    assert res.code == 2, (res.out, res.err)
    assert fragment in res.err
    assert "Traceback" not in res.err + res.out
    assert not (out / period).exists()
    assert not any(out.glob("*")) if out.exists() else True


def test_date_fault_names_file_line_and_column(tmp_path: Path, capsys) -> None:
    m, o = _copy_example(tmp_path)
    lines = _lines(m)
    lines[9] = lines[9].replace("2026-10-", "2026-09-", 1)  # line 10 of the file
    m.write_text("\n".join(lines))
    res = run_cli(capsys, *_args(m, o, tmp_path / "out"))
    assert res.code == 2
    assert f"{m}, line 10, column 'date': date 2026-09-" in res.err
    assert "-> pass the snapshot of this month only" in res.err


def test_budget_exceeded_exits_2_with_both_figures(tmp_path: Path, capsys) -> None:
    m, o = _copy_example(tmp_path)
    policy = tmp_path / "tight.toml"
    policy.write_text(
        (REPO / "policies/phase3.toml")
        .read_text()
        .replace('# monthly_budget_usd = "50000"', 'monthly_budget_usd = "1000"')
    )
    res = run_cli(capsys, *_args(m, o, tmp_path / "out", "2026-10", "--policy", str(policy)))
    assert res.code == 2
    assert "above the policy's monthly budget of 1000.00 USD" in res.err
    assert "11912.90 USD" in res.err  # the example month's total
    assert not (tmp_path / "out" / "2026-10").exists()


def test_bad_safe_checksum_and_batch_size_are_refused(tmp_path: Path, capsys) -> None:
    m, o = _copy_example(tmp_path)
    safe = "0x175fF7e28908933157B7701B3799BB3eD52cABb8"
    bad = safe[:-1] + "B".swapcase()  # change the case of the last letter: checksum breaks
    token = "0x75b757d248DC620895eA7ed54888327891787543"
    common = ["--network", "arbitrum-sepolia", "--token", token]
    res = run_cli(capsys, *_args(m, o, tmp_path / "out", "2026-10", *common, "--safe", bad))
    assert res.code == 2 and "--safe" in res.err and "address_checksum" in res.err.replace(" ", "_")
    res = run_cli(
        capsys, *_args(m, o, tmp_path / "out", "2026-10", *common, "--safe", safe, "--batch-size", "501")
    )
    assert res.code == 2 and "--batch-size 501 is out of range" in res.err
    # the token as a recipient: every operator is paid at the token address
    reg = o.read_text().split("\n")
    o.write_text("\n".join([reg[0]] + [_set_field(line, 1, token) for line in reg[1:] if line]) + "\n")
    res = run_cli(capsys, *_args(m, o, tmp_path / "out", "2026-10", *common, "--safe", safe))
    # address hygiene: the operators are held (reason in the output), nobody is paid the token
    assert res.code == 0, res.err
    assert "payout_is_token" in res.out
    ops = _rows(tmp_path / "out" / "2026-10" / "operator_payouts.csv")
    assert {r["held_reason"] for r in ops} == {"payout_is_token"}
    assert _rows(tmp_path / "out" / "2026-10" / "transfers.csv") == []
    assert not (tmp_path / "out" / "2026-10" / "batches").exists()


def _set_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def test_check_batch_exit_codes(tmp_path: Path, capsys) -> None:
    vectors = sorted((REPO.parent / "shared" / "vectors" / "txbuilder").glob("*.json"))
    valid = [str(p) for p in vectors if "invalid" not in p.name]
    invalid = [str(p) for p in vectors if "invalid" in p.name]
    ok = run_cli(capsys, "check-batch", *valid)
    assert ok.code == 0 and ok.out.count("OK ") == len(valid) == 9
    for path in invalid:
        bad = run_cli(capsys, "check-batch", path)
        assert bad.code == 1 and bad.out.startswith("FAIL ") and "meta.checksum: mismatch" in bad.out
    missing = run_cli(capsys, "check-batch", str(tmp_path / "nope.json"))
    assert missing.code == 2


def test_prefect_artifacts_and_report_are_published(tmp_path: Path, monkeypatch, capsys) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "run", "--out", "arts").code == 0
    folder = tmp_path / "arts" / "2026-10"
    assert (folder / "report.html").is_file() and (folder / "report.md").is_file()
    keys = ["payout-2026-10-operators", "payout-2026-10-summary", "payout-2026-10-folder"]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    latest = {a.key: a for a in sorted(found, key=lambda a: a.created)}  # this run's: the newest
    assert set(latest) == set(keys)
    table = latest["payout-2026-10-operators"].data
    table = json.loads(table) if isinstance(table, str) else table
    operators = _rows(folder / "operator_payouts.csv")
    assert len(table) == len(operators) == 121
    first = next(r for r in table if r["operator"] == operators[0]["operator_address"])
    assert first["total_usd"] == operators[0]["total_usd"]
    summary = latest["payout-2026-10-summary"].data
    assert "| total USD | 11912.90 |" in summary and "| held: over_node_cap | 57 |" in summary
    assert latest["payout-2026-10-folder"].data.endswith(f"({folder.resolve().as_uri()})")


@pytest.mark.parametrize(
    ("flag", "value", "fragment"),
    [
        ("--max-rows", "1000", "--max-rows"),
        ("--max-nodes", "100", "--max-nodes"),
        ("--max-input-bytes", "4096", "--max-input-bytes"),
    ],
)
def test_size_limits_refuse_and_name_their_flag(
    flag: str, value: str, fragment: str, tmp_path: Path, capsys
) -> None:
    m, o = _copy_example(tmp_path)
    res = run_cli(capsys, *_args(m, o, tmp_path / "out", "2026-10", flag, value))
    assert res.code == 2, res.err
    assert fragment in res.err and "Traceback" not in res.err
    assert not (tmp_path / "out" / "2026-10").exists()
