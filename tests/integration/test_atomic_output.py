"""Atomic output: a run that fails or is killed at any write step leaves no `<out>/<period>/`.

Faults are injected at every write of `flows.pipeline.stage_outputs` / `publish` and at the
ledger's commit points (`flows.ledger.fault_point`, PAYOUTS_FAULT):

* in-process: opening, writing (half a file, then an error) or fsync-ing the k-th file, moving the
  staging directory into place, or recording the run in the ledger raises -> the exception
  propagates, no period folder, no staging directory left, and a rerun succeeds with files
  byte-identical to an undisturbed run;
* killed (a forked child SIGKILLs itself between two files, between ledger and publish, in the
  middle of replacing an existing folder) -> no period folder; only a hidden `.staging-*` may
  remain; a rerun succeeds with byte-identical files (rebuilding the folder when the ledger had
  already recorded the run).
"""

from __future__ import annotations

import builtins
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flows import ledger as ledger_mod
from flows import pipeline
from flows.chain_config import ChainOptions
from flows.pipeline import RunRequest, run_without_prefect
from tests.conftest import REPO

pytestmark = pytest.mark.integration

CORPUS = REPO / "tests" / "data" / "bad"
PERIOD = "2026-10"
CHAIN = ChainOptions(
    network="arbitrum-sepolia",
    safe="0x175fF7e28908933157B7701B3799BB3eD52cABb8",
    token="0x75b757d248DC620895eA7ed54888327891787543",
    safe_nonce=3,
)
LEDGER_FILES = {"ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "ledger.sqlite.lock"}


def request(out: Path) -> RunRequest:
    return RunRequest(
        period=PERIOD,
        metrics=str(CORPUS / "base" / "metrics.csv"),
        operators=str(CORPUS / "base" / "operators.csv"),
        price="0.02",
        price_source="atomic-output test",
        out=out,
        chain=CHAIN,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def leftovers(out: Path) -> list[str]:
    """Entries of the output root besides the ledger (and the period folder, when it exists)."""
    return sorted(p.name for p in out.iterdir() if p.name not in LEDGER_FILES and p.name != PERIOD)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder, _, _ = run_without_prefect(request(tmp_path_factory.mktemp("reference")))
    files = snapshot(folder)
    assert "manifest.json" in files and any(name.startswith("batches/") for name in files)
    return files


N_FILES = 10  # files flows.pipeline writes, checked below: every step of the write is covered
REPORT_FILES = ("report.html", "report.md")  # written into the same staging folder by flows.report


def test_the_fault_steps_cover_every_file(reference: dict[str, bytes]) -> None:
    assert len([n for n in reference if n not in REPORT_FILES]) == N_FILES, sorted(reference)
    assert all(n in reference for n in REPORT_FILES)


def rerun_is_identical(out: Path, reference: dict[str, bytes]) -> None:
    folder, _, _ = run_without_prefect(request(out))
    assert folder == out / PERIOD
    assert snapshot(folder) == reference


# ---------------------------------------------------------------------------------------------
# In-process faults: the exception propagates and nothing is left behind


class Disk:
    """Replaces `open` in flows.pipeline: the k-th file opened for writing fails."""

    def __init__(self, step: int, how: str) -> None:
        self.step, self.how, self.count = step, how, 0

    def open(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode:
            self.count += 1
            if self.count == self.step:
                if self.how == "open":
                    raise OSError(28, "No space left on device (injected)")
                return _HalfWriter(builtins.open(file, mode, *args, **kwargs), self.how)
        return builtins.open(file, mode, *args, **kwargs)


class _HalfWriter:
    """A file that writes half of the data and then fails (write), or fails to fsync."""

    def __init__(self, fh: Any, how: str) -> None:
        self.fh, self.how = fh, how

    def __enter__(self) -> _HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def write(self, data: bytes) -> int:
        if self.how == "write":
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise OSError(5, "Input/output error (injected)")
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()

    def fileno(self) -> int:
        if self.how == "fsync":
            raise OSError(5, "fsync failed (injected)")
        return self.fh.fileno()


FAILING_WRITES = [
    *(("open", k) for k in range(1, N_FILES + 1)),  # before each file: every step
    *(("write", k) for k in (1, N_FILES // 2, N_FILES)),  # half a file on disk
    *(("fsync", k) for k in (1, N_FILES)),
]


@pytest.mark.parametrize(("how", "step"), FAILING_WRITES)
def test_a_failing_write_leaves_no_period_folder(
    step: int, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, bytes]
) -> None:
    out = tmp_path / "out"
    disk = Disk(step, how)
    monkeypatch.setattr(pipeline, "open", disk.open, raising=False)
    with pytest.raises(OSError, match="injected"):
        run_without_prefect(request(out))
    assert disk.count == step
    assert not (out / PERIOD).exists()
    assert leftovers(out) == [], "the staging directory is removed on an error"
    monkeypatch.undo()
    rerun_is_identical(out, reference)


def test_a_failing_move_into_place_leaves_no_period_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, bytes]
) -> None:
    out = tmp_path / "out"
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if Path(dst).name == PERIOD:
            raise OSError(18, "Invalid cross-device link (injected)")
        real_replace(src, dst)

    monkeypatch.setattr(pipeline.os, "replace", failing_replace)
    with pytest.raises(OSError, match="injected"):
        run_without_prefect(request(out))
    assert not (out / PERIOD).exists()
    assert leftovers(out) == []
    monkeypatch.undo()
    rerun_is_identical(out, reference)  # recorded in the ledger, folder rebuilt and published


def test_a_failing_ledger_commit_leaves_no_period_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, bytes]
) -> None:
    out = tmp_path / "out"

    def locked(*_a: Any, **_k: Any) -> None:
        raise ledger_mod.sqlite3.OperationalError("database is locked (injected)")

    monkeypatch.setattr(ledger_mod.Ledger, "emit", locked)
    with pytest.raises(ledger_mod.sqlite3.OperationalError, match="injected"):
        run_without_prefect(request(out))
    assert not (out / PERIOD).exists()
    assert leftovers(out) == []
    monkeypatch.undo()
    rerun_is_identical(out, reference)


# ---------------------------------------------------------------------------------------------
# Killed: a forked child dies at the injected point (SIGKILL: no cleanup, no finally)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def in_killed_child(action: Callable[[], None]) -> None:
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            action()
        finally:
            os._exit(3)  # reached only if the fault did not fire
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status


@pytest.mark.parametrize("step", [1, 2, N_FILES // 2, N_FILES])
def test_killed_between_files_leaves_no_period_folder(
    step: int, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    out = tmp_path / "out"

    def run() -> None:
        count = 0

        def dying_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            nonlocal count
            if "w" in mode:
                count += 1
                if count == step:  # files 1 .. step-1 are complete and fsync'd
                    _kill_self()
            return builtins.open(file, mode, *args, **kwargs)

        pipeline.open = dying_open  # type: ignore[attr-defined]  # in the child only
        run_without_prefect(request(out))

    in_killed_child(run)
    assert not (out / PERIOD).exists()
    assert all(name.startswith(".staging-") for name in leftovers(out)), leftovers(out)
    rerun_is_identical(out, reference)


@pytest.mark.parametrize(
    "point",
    [
        "pipeline:emit:staged",
        "ledger:emit:before-commit",
        "ledger:emit:after-commit",
        "pipeline:emit:recorded",
    ],
)
def test_killed_around_the_ledger_commit_leaves_no_period_folder(
    point: str, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    out = tmp_path / "out"

    def run() -> None:
        os.environ[ledger_mod.FAULT_ENV] = point
        run_without_prefect(request(out))

    in_killed_child(run)
    assert not (out / PERIOD).exists()
    assert all(name.startswith(".staging-") for name in leftovers(out)), leftovers(out)
    rerun_is_identical(out, reference)  # before the commit: a first run; after: restored


def test_killed_while_replacing_a_damaged_folder(tmp_path: Path, reference: dict[str, bytes]) -> None:
    """A rerun restores a damaged folder by replacing it; killed between its two moves, neither
    the damaged nor a half folder is visible, and the next rerun restores it."""
    out = tmp_path / "out"
    folder, _, _ = run_without_prefect(request(out))
    (folder / "transfers.csv").write_bytes(b"tampered\n")

    def run() -> None:
        real_replace = os.replace

        def dying_replace(src: Any, dst: Any) -> None:
            if Path(src).name.startswith(".staging-"):  # the damaged folder is aside: die
                _kill_self()
            real_replace(src, dst)

        pipeline.os.replace = dying_replace  # the child's own module object
        run_without_prefect(request(out))

    in_killed_child(run)
    assert not (out / PERIOD).exists()
    rerun_is_identical(out, reference)


def test_the_next_run_sweeps_stale_staging_directories(tmp_path: Path, reference: dict[str, bytes]) -> None:
    out = tmp_path / "out"

    def run() -> None:
        os.environ[ledger_mod.FAULT_ENV] = "pipeline:emit:staged"
        run_without_prefect(request(out))

    in_killed_child(run)
    assert leftovers(out), "the killed run left its staging directory"
    rerun_is_identical(out, reference)
    assert leftovers(out) == []
