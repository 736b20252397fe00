"""The ledger wired into the run: reruns, changed inputs, supersede, concurrency, crashes."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.ledger import ConflictingRun, Ledger
from flows.pipeline import RunRequest, run_without_prefect
from tests.conftest import REPO

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "2026-10"
METRICS = str(EXAMPLE / "metrics.csv")
OPERATORS = str(EXAMPLE / "operators.csv")


def _req(out: Path, price: str = "0.0215", supersede: bool = False) -> RunRequest:
    return RunRequest(
        period="2026-10",
        metrics=METRICS,
        operators=OPERATORS,
        price=price,
        price_source="test",
        out=out,
        supersede=supersede,
    )


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _wei(folder: Path, name: str = "transfers.csv") -> dict[str, int]:
    rows = csv.DictReader(io.StringIO((folder / name).read_text()))
    return {r["payout_address"]: int(r["amount_wei"]) for r in rows}


def test_rerun_is_a_noop_and_changed_inputs_are_refused(tmp_path: Path) -> None:
    folder, _, _ = run_without_prefect(_req(tmp_path))
    before = _hashes(folder)
    mtimes = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    with Ledger.open(tmp_path / "ledger.sqlite") as led:
        dump = led.dump()
    assert run_without_prefect(_req(tmp_path))[0] == folder
    assert _hashes(folder) == before
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == mtimes  # nothing rewritten
    with Ledger.open(tmp_path / "ledger.sqlite") as led:
        assert led.dump() == dump
    with pytest.raises(ConflictingRun) as err:
        run_without_prefect(_req(tmp_path, price="0.0210"))
    assert "103 address(es) changed" in str(err.value) and "--supersede" in str(err.value)
    assert _hashes(folder) == before
    assert not (tmp_path / "2026-10-r2").exists()


def test_supersede_pays_exactly_the_positive_deltas(tmp_path: Path) -> None:
    first, _, _ = run_without_prefect(_req(tmp_path, price="0.0215"))
    paid = _wei(first)
    # a higher price: everyone is owed less -> nothing to top up, all overpaid
    second, _, _ = run_without_prefect(_req(tmp_path, price="0.0220", supersede=True))
    assert second == tmp_path / "2026-10-r2"
    assert _wei(second) == {}
    owed = _wei(second, "node_rewards.csv") if False else None
    overpaid = list(csv.DictReader(io.StringIO((second / "overpaid.csv").read_text())))
    assert len(overpaid) == len(paid)
    for row in overpaid:
        assert int(row["paid_wei"]) == paid[row["payout_address"]]
        assert int(row["overpaid_wei"]) == int(row["paid_wei"]) - int(row["owed_wei"]) > 0
    # a lower price than ever: the top-up pays owed - everything emitted so far, per address
    third, _, _ = run_without_prefect(_req(tmp_path, price="0.0200", supersede=True))
    topup = _wei(third)
    assert len(topup) == len(paid)
    with Ledger.open(tmp_path / "ledger.sqlite") as led:
        active = led.active_run("2026-10")
        assert active is not None and active.seq == 3
        owed = led.owed(active.run_id)
        assert led.paid_by_address("2026-10") == owed  # after the top-up, emitted == owed exactly
    for address, wei in topup.items():
        assert wei == owed[address] - paid[address]
    assert (first / "transfers.csv").is_file()  # the first run's folder is never replaced


def _spawn(out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.run_period", str(out), METRICS, OPERATORS, "0.0215", *extra],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_runs_exactly_one_emits(tmp_path: Path) -> None:
    slow = _spawn(tmp_path, env={"PAYOUTS_FAULT": "pipeline:emit:staged@sleep=20"})
    deadline = time.time() + 30
    while not any(tmp_path.glob(".staging-2026-10-*")) and time.time() < deadline:
        time.sleep(0.05)
    fast = _spawn(tmp_path)
    fast_out, fast_err = fast.communicate(timeout=60)
    _, slow_err = slow.communicate(timeout=60)
    assert slow.returncode == 0, slow_err
    assert fast.returncode == 2, fast_out + fast_err
    assert "another run of period 2026-10 is in progress" in fast_err
    with Ledger.open(tmp_path / "ledger.sqlite") as led:
        assert [r.seq for r in led.runs("2026-10")] == [1]


def test_crash_before_ledger_commit_leaves_nothing_and_rerun_recovers(tmp_path: Path) -> None:
    crashed = _spawn(tmp_path, env={"PAYOUTS_FAULT": "pipeline:emit:staged"})
    crashed.communicate(timeout=60)
    assert crashed.returncode != 0
    assert not (tmp_path / "2026-10").exists()
    with Ledger.open(tmp_path / "ledger.sqlite") as led:
        assert led.runs("2026-10") == []
    folder, _, _ = run_without_prefect(_req(tmp_path))
    clean, _, _ = run_without_prefect(_req(tmp_path / "clean"))
    assert _hashes(folder) == _hashes(clean)


def test_crash_after_ledger_commit_is_restored_by_the_rerun(tmp_path: Path) -> None:
    crashed = _spawn(tmp_path, env={"PAYOUTS_FAULT": "pipeline:emit:recorded"})
    crashed.communicate(timeout=60)
    assert crashed.returncode != 0
    assert not (tmp_path / "2026-10").exists()  # recorded, but never visible
    rerun = _spawn(tmp_path)
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    clean, _, _ = run_without_prefect(_req(tmp_path / "clean"))
    assert _hashes(tmp_path / "2026-10") == _hashes(clean)
    with Ledger.open(tmp_path / "ledger.sqlite") as led:
        assert [r.seq for r in led.runs("2026-10")] == [1]  # no double emission


def test_a_run_freezes_the_heap_only_while_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`frozen_heap` keeps the objects that exist before a run out of the collector's scans while
    it runs, and hands them back afterwards (also when the run fails): the outputs are those of
    a run without it."""
    import gc

    from flows import pipeline

    seen: list[int] = []
    compute = pipeline.compute

    def spy(inputs: object) -> object:
        seen.append(gc.get_freeze_count())
        return compute(inputs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "compute", spy)
    before = gc.get_freeze_count()
    folder, _, _ = run_without_prefect(_req(tmp_path / "a"))
    assert seen and seen[0] > before and gc.get_freeze_count() == before
    with pytest.raises(Exception, match="price"):  # a failing run unfreezes too
        run_without_prefect(_req(tmp_path / "c", price="not a price"))
    assert gc.get_freeze_count() == before
    monkeypatch.setattr(pipeline, "frozen_heap", _no_freeze)
    plain, _, _ = run_without_prefect(_req(tmp_path / "b"))
    assert _hashes(folder) == _hashes(plain)


@contextlib.contextmanager
def _no_freeze() -> Iterator[None]:
    yield
