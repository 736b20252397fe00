"""The payout ledger: what was emitted, what superseded what, and what landed on chain (SQLite).

A payout is a financial act, so the pipeline remembers every run it emitted, refuses to emit a
period twice, pays only positive differences when a period is deliberately superseded, and
later records which transfers were executed. Default location `output/ledger.sqlite`.

Crash-ordering contract: LEDGER FIRST, ARTIFACTS SECOND
-------------------------------------------------------
`payouts run` must do, in this order:

1. compute and render every artifact in memory; write them into a staging directory beside the
   final one (`<out>/.staging-<period>-*`, fsync'd; `flows.pipeline.write_outputs` already does);
2. `Ledger.emit(...)`: ONE `BEGIN IMMEDIATE` transaction records the run, its transfers and the
   SHA-256 of every artifact (`RunMeta.outputs`), and commits;
3. `os.replace(staging, <out>/<period>)`: only now do the batch files become visible.

Invariant: **a batch file is never visible unless the ledger records it.** The crash windows:

* crash before the commit in 2 (including inside the transaction): SQLite's atomic commit
  leaves the ledger byte-for-byte as before; only an invisible staging directory is left. A
  rerun is simply the first run again.
* crash between 2 and 3: the ledger says "emitted" but no file is visible, so nobody can have
  paid from it. A rerun with identical inputs gets `AlreadyEmitted`; the caller sees
  `check_artifacts(run, dir)` report missing files, rebuilds them (the pipeline is deterministic
  and carries no wall clock), verifies the rebuilt hashes equal `run.outputs` and moves them
  into place. If the hashes differ (e.g. a tool upgrade changed manifest bytes) it must refuse
  (exit 2) - never put different bytes under a recorded run.
* crash after 3: complete.

The opposite order (artifacts, then ledger) has a window where signers can see and execute
batch files the ledger does not know about; a later run with changed inputs would then emit a
*full* second payment instead of a top-up. Ledger-first's worst case, "recorded but not yet
visible", pays nobody and is repaired by a rerun.

Concurrency
-----------
`plan_emission` reads the period's active run; `emit` re-checks, inside its write transaction,
that the active run is still the one the plan was based on (compare-and-swap). Two runs of one
period started together both plan against "no run"; SQLite serializes their `BEGIN IMMEDIATE`,
the first commits, the second finds run #N where it expected none and raises `ConcurrentRun`
(exit 2) having written nothing. Independently of that logic, a partial UNIQUE index makes a
second non-superseded run of a period impossible at the database level. `period_lock` (an OS
file lock released when the process dies) additionally lets the CLI refuse a concurrent run of
the same period up front, before it computes or touches the output directory.

Other decisions
---------------
* Amounts are stored as decimal TEXT (wei exceeds int64) and summed in Python, never in SQL.
* Rows are never deleted and amounts never updated (triggers enforce it); a run's status only
  moves forward: emitted -> executed, emitted|executed -> superseded.
* A superseded run's transfers still count as emitted: its batch files exist and may have been
  executed, so a top-up pays only what exceeds *everything emitted* for the period.
* A node's first eligible period is recorded the first time an emitted run (or a --history
  import) shows it eligible, and is never removed, even if a superseding run finds the node
  ineligible: it was already paid as new once. If an *earlier* period later records the node,
  the record moves to that earlier period (`EmitResult.first_eligible_moved` lists those).
* `runs.created_at` (UTC, seconds) is the only wall-clock value stored: auditors need to know when
  a run was recorded (e.g. which of two runs came first). It never reaches an artifact.

Fault injection: set `PAYOUTS_FAULT=<point>` to SIGKILL the process at a named point (points
used here: `ledger:emit:before-commit`, `ledger:emit:after-commit`, `ledger:mark:before-commit`,
`ledger:mark:after-commit`; the pipeline may add its own with
`fault_point`); `PAYOUTS_FAULT=<point>@sleep=<seconds>` sleeps there instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain, repeat
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from payouts.addresses import checksum, checksum_many
from payouts.deltas import DiffLine, describe_diff, diff_summary, topup_deltas
from payouts.errors import InputError
from payouts.money import format_decimal

DEFAULT_LEDGER = Path("output") / "ledger.sqlite"
BUSY_TIMEOUT_MS = 15_000
FAULT_ENV = "PAYOUTS_FAULT"

EMITTED, EXECUTED, SUPERSEDED = "emitted", "executed", "superseded"
FULL, TOPUP = "full", "topup"

_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")

# ---------------------------------------------------------------------------------------------
# Schema: MIGRATIONS[i] takes the ledger from user_version i to i + 1, in one transaction.
# Append new steps; never edit a released one.

_DIGITS = "GLOB '[0-9]*' AND {col} NOT GLOB '*[^0-9]*' AND ({col} = '0' OR {col} NOT GLOB '0*')"


def _wei_check(col: str, positive: bool = False) -> str:
    base = f"{col} " + _DIGITS.format(col=col)
    return f"{base} AND {col} <> '0'" if positive else base


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE runs (
            run_id          INTEGER PRIMARY KEY,
            period          TEXT    NOT NULL CHECK (period GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]'),
            seq             INTEGER NOT NULL CHECK (seq >= 1),
            kind            TEXT    NOT NULL CHECK (kind IN ('full', 'topup')),
            status          TEXT    NOT NULL CHECK (status IN ('emitted', 'executed', 'superseded')),
            superseded_by   INTEGER NULL REFERENCES runs (run_id) DEFERRABLE INITIALLY DEFERRED,
            supersedes      INTEGER NULL REFERENCES runs (run_id),
            run_key         TEXT    NOT NULL CHECK (length(run_key) = 64),
            policy_name     TEXT    NOT NULL,
            policy_version  TEXT    NOT NULL,
            policy_sha256   TEXT    NOT NULL,
            price           TEXT    NOT NULL,
            chain_id        INTEGER NULL,
            safe_address    TEXT    NULL,
            token_address   TEXT    NULL,
            inputs_json     TEXT    NOT NULL,
            outputs_json    TEXT    NOT NULL,
            totals_json     TEXT    NOT NULL,
            created_at      TEXT    NOT NULL,
            UNIQUE (period, seq),
            CHECK ((status = 'superseded') = (superseded_by IS NOT NULL)),
            CHECK ((kind = 'topup') = (supersedes IS NOT NULL))
        )
        """,
        # At most ONE non-superseded run per period, whatever the code above it does.
        "CREATE UNIQUE INDEX runs_one_active_per_period ON runs (period) WHERE status <> 'superseded'",
        f"""
        CREATE TABLE run_owed (
            run_id          INTEGER NOT NULL REFERENCES runs (run_id),
            payout_address  TEXT    NOT NULL,
            amount_wei      TEXT    NOT NULL CHECK ({_wei_check("amount_wei")}),
            PRIMARY KEY (run_id, payout_address)
        )
        """,
        f"""
        CREATE TABLE transfers (
            transfer_id     INTEGER PRIMARY KEY,
            run_id          INTEGER NOT NULL REFERENCES runs (run_id),
            period          TEXT    NOT NULL,
            payout_address  TEXT    NOT NULL,
            amount_wei      TEXT    NOT NULL CHECK ({_wei_check("amount_wei", positive=True)}),
            batch           INTEGER NOT NULL CHECK (batch >= 1),
            batch_file      TEXT    NOT NULL,
            batch_sha256    TEXT    NOT NULL CHECK (length(batch_sha256) = 64),
            tx_hash         TEXT    NULL,
            log_index       INTEGER NULL,
            executed_block  INTEGER NULL,
            UNIQUE (run_id, payout_address),
            CHECK ((tx_hash IS NULL) = (executed_block IS NULL)),
            CHECK ((tx_hash IS NULL) = (log_index IS NULL))
        )
        """,
        "CREATE INDEX transfers_by_period_address ON transfers (period, payout_address)",
        # One on-chain Transfer log pays at most one ledger transfer.
        """CREATE UNIQUE INDEX transfers_onchain_once ON transfers (tx_hash, log_index)
           WHERE tx_hash IS NOT NULL""",
        """
        CREATE TABLE node_first_eligible (
            node_address    TEXT    PRIMARY KEY,
            period          TEXT    NOT NULL,
            run_id          INTEGER NULL REFERENCES runs (run_id),
            source          TEXT    NOT NULL
        )
        """,
        """
        CREATE TABLE operator_payout_address (
            operator_address TEXT    NOT NULL,
            run_id           INTEGER NOT NULL REFERENCES runs (run_id),
            period           TEXT    NOT NULL,
            payout_address   TEXT    NOT NULL,
            PRIMARY KEY (operator_address, run_id)
        )
        """,
        # Append-only: nothing is ever deleted; recorded amounts and identities never change.
        *(
            f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                BEGIN SELECT RAISE(ABORT, 'ledger: {table} rows are never deleted'); END"""
            for table in ("runs", "run_owed", "transfers", "operator_payout_address")
        ),
        """CREATE TRIGGER runs_immutable BEFORE UPDATE OF run_id, period, seq, kind, supersedes, run_key,
               policy_name, policy_version, policy_sha256, price, chain_id, safe_address, token_address,
               inputs_json, outputs_json, totals_json, created_at ON runs
           BEGIN SELECT RAISE(ABORT, 'ledger: a recorded run never changes'); END""",
        """CREATE TRIGGER runs_status_forward BEFORE UPDATE OF status ON runs
           WHEN OLD.status = 'superseded' OR (OLD.status = 'executed' AND NEW.status = 'emitted')
           BEGIN SELECT RAISE(ABORT, 'ledger: a run status only moves forward'); END""",
        """CREATE TRIGGER run_owed_immutable BEFORE UPDATE ON run_owed
           BEGIN SELECT RAISE(ABORT, 'ledger: recorded amounts never change'); END""",
        """CREATE TRIGGER transfers_immutable BEFORE UPDATE OF transfer_id, run_id, period, payout_address,
               amount_wei, batch, batch_file, batch_sha256 ON transfers
           BEGIN SELECT RAISE(ABORT, 'ledger: a recorded transfer never changes'); END""",
        """CREATE TRIGGER transfers_executed_once BEFORE UPDATE OF tx_hash, log_index, executed_block
               ON transfers WHEN OLD.tx_hash IS NOT NULL
           BEGIN SELECT RAISE(ABORT, 'ledger: an executed transfer stays executed'); END""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

# ---------------------------------------------------------------------------------------------
# Errors (all exit 2 except AlreadyEmitted, which the CLI reports as success)


class LedgerError(InputError):
    """A ledger refusal: nothing was written. Exit 2."""


class AlreadyEmitted(LedgerError):
    """The period's active run has the same run key: a no-op rerun. The CLI exits 0."""

    def __init__(self, run: Run) -> None:
        super().__init__(
            f"period {run.period} already emitted (run {run.run_id}, #{run.seq} of the period, "
            f"status {run.status}); nothing new was written"
        )
        self.run = run


class ConflictingRun(LedgerError):
    """The period was emitted from different inputs and `--supersede` was not given."""

    def __init__(self, run: Run, diff: list[DiffLine], decimals: int = 18, symbol: str = "COR") -> None:
        super().__init__(
            f"period {run.period} was already emitted from different inputs (run {run.run_id}, "
            f"#{run.seq} of the period, status {run.status}); compared with it:\n"
            + describe_diff(diff, decimals, symbol),
            fix="rerun with the original inputs, or pass --supersede to pay only the positive "
            "differences in top-up batches (negative differences are listed in overpaid.csv, "
            "never clawed back)",
        )
        self.run = run
        self.diff = diff


class ConcurrentRun(LedgerError):
    """Another run of the period was recorded after this one planned: nothing was written."""

    def __init__(self, period: str, expected: Run | None, found: Run | None) -> None:
        saw = f"run {expected.run_id}" if expected else "no run"
        now = f"run {found.run_id} (#{found.seq}, {found.kind}, {found.status})" if found else "no run"
        super().__init__(
            f"another run of period {period} was recorded while this one was computing: this run "
            f"started from {saw}, the ledger now holds {now}; nothing was written",
            fix="wait for the other run to finish, then rerun: an identical rerun is a no-op",
        )
        self.period = period
        self.expected = expected
        self.found = found


class RunInProgress(LedgerError):
    """`period_lock`: another process is running this period right now."""


class LedgerBusy(LedgerError):
    """The ledger stayed locked by another writer longer than the busy timeout."""


class LedgerUnusable(LedgerError):
    """Not a ledger, unreadable, or written by a newer version of this program."""


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Run:
    run_id: int
    period: str
    seq: int
    kind: str  # 'full' | 'topup'
    status: str  # 'emitted' | 'executed' | 'superseded'
    superseded_by: int | None
    supersedes: int | None
    run_key: str
    policy_name: str
    policy_version: str
    policy_sha256: str
    price: str
    chain_id: int | None
    safe_address: str | None
    token_address: str | None
    inputs: Any
    outputs: dict[str, str]  # artifact name -> sha256 hex
    totals: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class TransferRecord:
    """One transfer a run pays: what `emit` is given and what a batch file contains."""

    payout_address: str
    amount_wei: int
    batch: int
    batch_file: str  # artifact name, a key of RunMeta.outputs
    batch_sha256: str


@dataclass(frozen=True)
class LedgerTransfer:
    transfer_id: int
    run_id: int
    period: str
    payout_address: str
    amount_wei: int
    batch: int
    batch_file: str
    batch_sha256: str
    tx_hash: str | None
    log_index: int | None
    executed_block: int | None


@dataclass(frozen=True)
class RunMeta:
    """Everything about a run that `emit` records besides its transfers."""

    policy_name: str
    policy_version: str
    policy_sha256: str
    price: str
    inputs: Any  # JSON-able: e.g. the manifest's "inputs" list
    outputs: Mapping[str, str]  # EVERY artifact written for this run: name -> sha256 hex
    totals: Mapping[str, Any]  # JSON-able
    eligible_nodes: Collection[str] = ()
    operator_payouts: Mapping[str, str] = field(default_factory=dict)  # operator -> payout address
    chain_id: int | None = None
    safe_address: str | None = None
    token_address: str | None = None
    # --history import recorded atomically with the run: earlier period -> nodes eligible then
    history: Mapping[str, Collection[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """What a new run of a period must pay, based on the ledger as read by `plan_emission`."""

    period: str
    run_key: str
    kind: Literal["full", "topup"]
    based_on: Run | None  # the active run when planned (None: first run of the period)
    owed: dict[str, int]  # what the period owes each payout address under the new run
    paid_before: dict[str, int]  # everything emitted for the period so far, per address
    pay: dict[str, int]  # what THIS run pays: full -> owed (> 0); topup -> the positive deltas
    overpaid: dict[str, int]  # paid_before - owed where positive (report, never claw back)
    diff: list[DiffLine]  # based_on's owed -> owed (empty for a first run)

    @property
    def seq(self) -> int:
        """The new run's number within the period (1 for the first run): name its directory by it."""
        return 1 if self.based_on is None else self.based_on.seq + 1


@dataclass(frozen=True)
class EmitResult:
    run: Run
    superseded: Run | None
    first_eligible_added: tuple[str, ...]
    first_eligible_moved: tuple[tuple[str, str], ...]  # (node, later period it was recorded in)


@dataclass(frozen=True)
class MarkResult:
    marked: int  # ledger transfers newly marked executed
    runs_executed: tuple[int, ...]  # runs whose status became 'executed'


@dataclass(frozen=True)
class BatchSummary:
    batch: int
    batch_file: str
    batch_sha256: str
    transfers: int
    total_wei: int
    executed: int


@dataclass(frozen=True)
class HistoryRow:
    """One run, as `payouts history` lists it."""

    period: str
    run_id: int
    seq: int
    kind: str
    status: str
    superseded_by: int | None
    policy: str  # name@version
    price: str
    owed_addresses: int
    owed_wei: int  # what the period owes under this run
    transfers: int  # what this run pays
    paid_wei: int
    executed_transfers: int
    batches: tuple[BatchSummary, ...]
    created_at: str


class _OnChain(Protocol):
    """The attributes of `payouts.reconcile.OnChainTransfer` that `mark_executed` reads."""

    @property
    def to(self) -> str: ...
    @property
    def amount_wei(self) -> int: ...
    @property
    def tx_hash(self) -> str: ...
    @property
    def block(self) -> int: ...
    @property
    def log_index(self) -> int: ...


# ---------------------------------------------------------------------------------------------
# Helpers


def fault_point(name: str) -> None:
    """Test hook: SIGKILL (or sleep) here when PAYOUTS_FAULT names this point. No-op otherwise."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, action = spec.partition("@")
    if point != name:
        return
    if action.startswith("sleep="):
        time.sleep(float(action.removeprefix("sleep=")))
        return
    if hasattr(signal, "SIGKILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)  # pragma: no cover - platforms without SIGKILL


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run_key(
    *,
    policy_sha256: str,
    inputs: Iterable[tuple[str, str]],
    price: Decimal | str,
    previously_eligible: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
) -> str:
    """The identity of a run's inputs: sha256 over canonical JSON of everything that decides payouts.

    `inputs` is (role, sha256) per input file (file *contents*, not names); `price` is normalized
    ('0.02150' == '0.0215'); `previously_eligible` is the set of non-new nodes the run used (it
    comes from the ledger, so a month-1 change shows up as a month-2 change); `extra` should carry
    what else changes the artifacts' meaning: chain id, Safe, token, price source.
    """
    parts = {
        "policy_sha256": policy_sha256,
        "inputs": sorted([str(role), str(sha).lower()] for role, sha in inputs),
        "price": format_decimal(Decimal(str(price))),
        "previously_eligible": hashlib.sha256(
            "\n".join(sorted(a.lower() for a in previously_eligible)).encode()
        ).hexdigest(),
        "extra": dict(sorted((extra or {}).items())),
    }
    return hashlib.sha256(_canonical_json(parts).encode()).hexdigest()


def check_artifacts(run: Run, directory: Path) -> list[str]:
    """Names of the run's recorded artifacts that are missing in `directory` or differ from the ledger."""
    bad = []
    for name, sha in sorted(run.outputs.items()):
        path = directory / name
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            bad.append(name)
            continue
        if hashlib.sha256(data).hexdigest() != sha:
            bad.append(name)
    return bad


def _addresses_if_valid(values: list[Any]) -> list[str] | None:
    """The EIP-55 form of every value, in order, when all are `0x` + 40 hex digits (one
    vectorized `checksum_many`, itself a single set pass when all are already-known EIP-55
    forms; each address is hashed once per process). None when any is not, and then the caller
    runs its per-value `_address` loop, which raises naming the first bad value and its role."""
    try:
        return checksum_many(values)
    except ValueError:
        return None


def _address(value: str, what: str) -> str:
    """The EIP-55 form of a `0x` + 40-hex-digit address; ValueError naming `what` otherwise."""
    if not isinstance(value, str) or _HEX40.fullmatch(value) is None:
        raise ValueError(f"{what}: {value!r} is not a 0x-prefixed 40-hex-digit address")
    return checksum(value)


def _period(value: str) -> str:
    if not isinstance(value, str) or _PERIOD.fullmatch(value) is None:
        raise ValueError(f"period {value!r} is not YYYY-MM")
    return value


def _sha(value: str, what: str) -> str:
    if not isinstance(value, str) or _SHA256.fullmatch(value) is None:
        raise ValueError(f"{what}: {value!r} is not a lowercase sha256 hex digest")
    return value


def _amounts(amounts: Mapping[str, int], what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    forms = _addresses_if_valid(list(amounts))  # None: _address below names the bad one
    for i, (address, wei) in enumerate(amounts.items()):
        checked = forms[i] if forms is not None else _address(address, what)
        if isinstance(wei, bool) or not isinstance(wei, int) or wei < 0:
            raise ValueError(f"{what}[{address}] must be a non-negative int, got {wei!r}")
        if checked in out:
            raise ValueError(f"{what}: address {address} appears twice")
        out[checked] = wei
    return out


#: Bound parameters per statement in `_insert_rows`: SQLite's limit before 3.32 (999).
_MAX_PARAMS = 999


def _insert_rows(c: sqlite3.Connection, into: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``INSERT INTO <into> VALUES (?, ...)`` for every row, in order - as ``c.executemany`` with
    the one-row statement, but several rows per statement (``VALUES (...), (...), ...`` up to
    `_MAX_PARAMS` parameters): the per-row statement step and reset is most of executemany's
    cost for the ledger's 100k-row inserts (~1.5x faster in all).

    Same rows, same order (so the same rowids / INTEGER PRIMARY KEYs), same constraint checks and
    errors; a failing statement raises as executemany would, and the caller's transaction
    (`Ledger._write`) rolls everything back either way. `into` is a constant of this module
    (``table (col, ...)``), never user data; all values are bound parameters.
    """
    if not rows:
        return
    width = len(rows[0])
    one = "(" + ", ".join(["?"] * width) + ")"
    per = max(1, _MAX_PARAMS // width)
    full = len(rows) - len(rows) % per
    if full:
        c.executemany(
            f"INSERT INTO {into} VALUES " + ", ".join([one] * per),
            [list(chain.from_iterable(rows[i : i + per])) for i in range(0, full, per)],
        )
    if full < len(rows):
        c.executemany(f"INSERT INTO {into} VALUES {one}", rows[full:])


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


# ---------------------------------------------------------------------------------------------
# The ledger


class Ledger:
    """One open ledger file. Use as `with Ledger.open(path) as ledger: ...`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], str]) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        clock: Callable[[], str] = _utc_now,
    ) -> Ledger:
        """Open (creating parent directories and the file) and migrate the schema to the latest."""
        path = Path(path)
        if path.is_dir():
            raise LedgerUnusable(f"ledger path {path} is a directory", fix="pass --ledger PATH to a file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerUnusable(
                f"cannot create the ledger's directory {path.parent}: {exc.strerror or exc}",
                fix="pass --ledger PATH in a writable directory",
            ) from None
        # Switching a new file to WAL can report "locked" at once, without waiting on the busy
        # handler, when another process is creating the same ledger: retry until the timeout.
        deadline = time.monotonic() + busy_timeout_ms / 1000
        while True:
            try:
                return cls._open_once(path, busy_timeout_ms, clock)
            except LedgerBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    @classmethod
    def _open_once(cls, path: Path, busy_timeout_ms: int, clock: Callable[[], str]) -> Ledger:
        try:
            conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise LedgerUnusable(f"cannot open the ledger {path}: {exc}", fix="check --ledger") from None
        ledger = cls(conn, path, clock)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # e.g. a filesystem without shared memory
                raise LedgerUnusable(
                    f"the ledger {path} cannot use SQLite WAL mode (got {mode!r})",
                    fix="put the ledger on a local filesystem (--ledger PATH)",
                )
            conn.execute("PRAGMA synchronous = FULL")  # a committed payout survives power loss
            ledger._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise LedgerBusy(
                    f"the ledger {path} is locked by another process", fix="retry when it has finished"
                ) from None
            raise LedgerUnusable(
                f"{path} is not a usable payout ledger (SQLite: {exc})",
                fix="pass --ledger PATH to a ledger file, or a new path to start one",
            ) from None
        except BaseException:
            conn.close()
            raise
        return ledger

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        for version, statements in enumerate(MIGRATIONS, start=1):
            if self.schema_version() >= version:
                continue
            with self._write() as c:
                if self.schema_version() >= version:  # another process migrated meanwhile
                    continue
                for statement in statements:
                    c.execute(statement)
                c.execute(f"PRAGMA user_version = {version}")
        if self.schema_version() > SCHEMA_VERSION:
            raise LedgerUnusable(
                f"the ledger {self.path} has schema version {self.schema_version()}, newer than this "
                f"program's {SCHEMA_VERSION}",
                fix="upgrade cor-payouts",
            )

    # ---- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, label: str = "") -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; any exception (or a kill) rolls everything back.

        With a `label`, the fault points `ledger:<label>:before-commit` / `:after-commit` apply.
        """
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise LedgerBusy(
                    f"the ledger {self.path} stayed locked by another process",
                    fix="retry when the other run has finished",
                ) from None
            raise
        try:
            yield c
            if label:
                fault_point(f"ledger:{label}:before-commit")
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        if label:
            fault_point(f"ledger:{label}:after-commit")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        c = self._conn
        c.execute("BEGIN")
        try:
            yield c
        finally:
            if c.in_transaction:
                c.execute("COMMIT")

    # ---- queries ---------------------------------------------------------------------------

    @staticmethod
    def _run(row: sqlite3.Row) -> Run:
        return Run(
            run_id=row["run_id"],
            period=row["period"],
            seq=row["seq"],
            kind=row["kind"],
            status=row["status"],
            superseded_by=row["superseded_by"],
            supersedes=row["supersedes"],
            run_key=row["run_key"],
            policy_name=row["policy_name"],
            policy_version=row["policy_version"],
            policy_sha256=row["policy_sha256"],
            price=row["price"],
            chain_id=row["chain_id"],
            safe_address=row["safe_address"],
            token_address=row["token_address"],
            inputs=json.loads(row["inputs_json"]),
            outputs=json.loads(row["outputs_json"]),
            totals=json.loads(row["totals_json"]),
            created_at=row["created_at"],
        )

    def _active(self, c: sqlite3.Connection, period: str) -> Run | None:
        row = c.execute(
            "SELECT * FROM runs WHERE period = ? AND status <> 'superseded'", (period,)
        ).fetchone()
        return None if row is None else self._run(row)

    def active_run(self, period: str) -> Run | None:
        """The period's current (non-superseded) run, if any."""
        return self._active(self._conn, _period(period))

    def run(self, run_id: int) -> Run | None:
        row = self._conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else self._run(row)

    def runs(self, period: str | None = None) -> list[Run]:
        """Every run (of one period), by period then seq."""
        if period is None:
            rows = self._conn.execute("SELECT * FROM runs ORDER BY period, seq")
        else:
            rows = self._conn.execute("SELECT * FROM runs WHERE period = ? ORDER BY seq", (_period(period),))
        return [self._run(r) for r in rows]

    def owed(self, run_id: int) -> dict[str, int]:
        """What the period owes each payout address under this run (for a top-up: the full amounts)."""
        rows = self._conn.execute(
            "SELECT payout_address, amount_wei FROM run_owed WHERE run_id = ? ORDER BY lower(payout_address)",
            (run_id,),
        )
        return {r["payout_address"]: int(r["amount_wei"]) for r in rows}

    @staticmethod
    def _transfer(row: sqlite3.Row) -> LedgerTransfer:
        return LedgerTransfer(
            transfer_id=row["transfer_id"],
            run_id=row["run_id"],
            period=row["period"],
            payout_address=row["payout_address"],
            amount_wei=int(row["amount_wei"]),
            batch=row["batch"],
            batch_file=row["batch_file"],
            batch_sha256=row["batch_sha256"],
            tx_hash=row["tx_hash"],
            log_index=row["log_index"],
            executed_block=row["executed_block"],
        )

    def transfers(self, period: str | None = None, *, run_id: int | None = None) -> list[LedgerTransfer]:
        """Recorded transfers, by run, batch, address."""
        sql, args = "SELECT * FROM transfers WHERE 1 = 1", []
        if period is not None:
            sql, args = sql + " AND period = ?", [*args, _period(period)]
        if run_id is not None:
            sql, args = sql + " AND run_id = ?", [*args, run_id]
        rows = self._conn.execute(sql + " ORDER BY run_id, batch, lower(payout_address)", args)
        return [self._transfer(r) for r in rows]

    def _paid(self, c: sqlite3.Connection, period: str) -> dict[str, int]:
        paid: dict[str, int] = {}
        for r in c.execute("SELECT payout_address, amount_wei FROM transfers WHERE period = ?", (period,)):
            paid[r["payout_address"]] = paid.get(r["payout_address"], 0) + int(r["amount_wei"])
        return dict(sorted(paid.items(), key=lambda kv: kv[0].lower()))

    def paid_by_address(self, period: str) -> dict[str, int]:
        """Everything emitted for the period, per payout address, summed over ALL its runs.

        Superseded runs count: their batch files exist and may have been executed. This is what
        the chain should show once every batch is executed (reconcile's `expected`).
        """
        return self._paid(self._conn, _period(period))

    def previously_eligible(self, period: str) -> frozenset[str]:
        """Nodes whose first eligible period is before `period`: they are not new in it."""
        rows = self._conn.execute(
            "SELECT node_address FROM node_first_eligible WHERE period < ?", (_period(period),)
        )
        return frozenset(r["node_address"] for r in rows)

    def first_eligible(self) -> dict[str, str]:
        """node -> first eligible period, for every recorded node."""
        rows = self._conn.execute(
            "SELECT node_address, period FROM node_first_eligible ORDER BY node_address"
        )
        return {r["node_address"]: r["period"] for r in rows}

    def last_payout_addresses(self, before_period: str) -> dict[str, str]:
        """operator -> payout address in the latest period before `before_period` (active runs only)."""
        rows = self._conn.execute(
            """SELECT o.operator_address, o.payout_address FROM operator_payout_address o
               JOIN runs r ON r.run_id = o.run_id
               WHERE o.period < ? AND r.status <> 'superseded'
               ORDER BY o.period, o.run_id""",
            (_period(before_period),),
        )
        out: dict[str, str] = {}
        for r in rows:
            out[r["operator_address"]] = r["payout_address"]
        return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))

    def onchain_attributed(self, exclude_period: str | None = None) -> frozenset[tuple[str, int]]:
        """(tx hash, log index) of on-chain logs already matched to transfers of other periods."""
        rows = self._conn.execute(
            "SELECT tx_hash, log_index FROM transfers WHERE tx_hash IS NOT NULL AND period IS NOT ?",
            (exclude_period,),
        )
        return frozenset((r["tx_hash"], r["log_index"]) for r in rows)

    def history_rows(self) -> list[HistoryRow]:
        """Every run with its totals and batches, by period then seq (for `payouts history`)."""
        out = []
        with self._read() as c:
            runs = [self._run(r) for r in c.execute("SELECT * FROM runs ORDER BY period, seq")]
            owed_rows = c.execute("SELECT run_id, amount_wei FROM run_owed").fetchall()
            transfer_rows = [self._transfer(r) for r in c.execute("SELECT * FROM transfers ORDER BY batch")]
        owed: dict[int, list[int]] = {}
        for r in owed_rows:
            owed.setdefault(r["run_id"], []).append(int(r["amount_wei"]))
        by_run: dict[int, list[LedgerTransfer]] = {}
        for t in transfer_rows:
            by_run.setdefault(t.run_id, []).append(t)
        for run in runs:
            ts = by_run.get(run.run_id, [])
            batches: dict[tuple[int, str, str], list[LedgerTransfer]] = {}
            for t in ts:
                batches.setdefault((t.batch, t.batch_file, t.batch_sha256), []).append(t)
            out.append(
                HistoryRow(
                    period=run.period,
                    run_id=run.run_id,
                    seq=run.seq,
                    kind=run.kind,
                    status=run.status,
                    superseded_by=run.superseded_by,
                    policy=f"{run.policy_name}@{run.policy_version}",
                    price=run.price,
                    owed_addresses=sum(1 for w in owed.get(run.run_id, []) if w > 0),
                    owed_wei=sum(owed.get(run.run_id, [])),
                    transfers=len(ts),
                    paid_wei=sum(t.amount_wei for t in ts),
                    executed_transfers=sum(1 for t in ts if t.tx_hash is not None),
                    batches=tuple(
                        BatchSummary(
                            batch=b,
                            batch_file=f,
                            batch_sha256=s,
                            transfers=len(group),
                            total_wei=sum(t.amount_wei for t in group),
                            executed=sum(1 for t in group if t.tx_hash is not None),
                        )
                        for (b, f, s), group in sorted(batches.items())
                    ),
                    created_at=run.created_at,
                )
            )
        return out

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every ledger table, ordered (for tests and audits)."""
        tables = [
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        with self._read() as c:
            return {t: [tuple(r) for r in c.execute(f'SELECT * FROM "{t}" ORDER BY 1, 2, 3')] for t in tables}

    # ---- planning and emitting -------------------------------------------------------------

    def plan_emission(
        self,
        period: str,
        run_key: str,
        owed: Mapping[str, int],
        *,
        supersede: bool = False,
        decimals: int = 18,
        symbol: str = "COR",
    ) -> Plan:
        """Decide what a new run of `period` would pay, without writing anything.

        Raises `AlreadyEmitted` (same run key as the active run), `ConflictingRun` (a different
        key and not `supersede`). Otherwise returns a `Plan`: a first run pays `owed` in full; a
        superseding run (`kind='topup'`) pays only the positive deltas against everything already
        emitted for the period. Render the run's batch files from `plan.pay`, then call `emit`.
        """
        period = _period(period)
        _sha(run_key, "run_key")
        owed_checked = _amounts(owed, "owed")
        with self._read() as c:
            active = self._active(c, period)
            old_owed = {} if active is None else self.owed(active.run_id)
            paid = self._paid(c, period)
        diff = [] if active is None else diff_summary(old_owed, owed_checked)
        if active is not None and active.run_key == run_key:
            raise AlreadyEmitted(active)
        if active is not None and not supersede:
            raise ConflictingRun(active, diff, decimals, symbol)
        topups, overpaid = topup_deltas(paid, owed_checked)
        positive = {a: w for a, w in sorted(owed_checked.items(), key=lambda kv: kv[0].lower()) if w > 0}
        return Plan(
            period=period,
            run_key=run_key,
            kind=FULL if active is None else TOPUP,
            based_on=active,
            owed=dict(sorted(owed_checked.items(), key=lambda kv: kv[0].lower())),
            paid_before=paid,
            pay=positive if active is None else topups,
            overpaid=overpaid,
            diff=diff,
        )

    def emit(self, plan: Plan, meta: RunMeta, transfers: Sequence[TransferRecord]) -> EmitResult:
        """Record a new run of `plan.period` in ONE `BEGIN IMMEDIATE` transaction.

        Inside the transaction: the active run must still be `plan.based_on` (else
        `ConcurrentRun`), and what was emitted for the period must be unchanged; then the old run
        (if any) is marked superseded by the new one, and the new run, its owed amounts, its
        transfers (exactly `plan.pay`, each in a batch file listed in `meta.outputs` with the
        same hash), newly eligible nodes, the --history import and the operators' payout
        addresses are inserted. Raises `LedgerBusy` if the ledger stays locked.
        """
        records = self._check_transfers(plan, meta, transfers)
        with self._write("emit") as c:
            active = self._active(c, plan.period)
            if (active.run_id if active else None) != (plan.based_on.run_id if plan.based_on else None):
                raise ConcurrentRun(plan.period, plan.based_on, active)
            if active is not None and active.run_key == plan.run_key:
                raise AlreadyEmitted(active)
            if self._paid(c, plan.period) != plan.paid_before:
                raise ConcurrentRun(plan.period, plan.based_on, active)
            run_id = int(c.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchone()[0])
            seq = int(
                c.execute(
                    "SELECT coalesce(max(seq), 0) + 1 FROM runs WHERE period = ?", (plan.period,)
                ).fetchone()[0]
            )
            if seq != plan.seq:  # the active run always holds the period's highest seq
                raise ConcurrentRun(plan.period, plan.based_on, active)
            if active is not None:
                c.execute(
                    "UPDATE runs SET status = 'superseded', superseded_by = ? WHERE run_id = ?",
                    (run_id, active.run_id),
                )
            try:
                c.execute(
                    """INSERT INTO runs (run_id, period, seq, kind, status, superseded_by, supersedes,
                           run_key, policy_name, policy_version, policy_sha256, price, chain_id,
                           safe_address, token_address, inputs_json, outputs_json, totals_json, created_at)
                       VALUES (?, ?, ?, ?, 'emitted', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        run_id,
                        plan.period,
                        seq,
                        plan.kind,
                        active.run_id if active else None,
                        plan.run_key,
                        meta.policy_name,
                        meta.policy_version,
                        meta.policy_sha256,
                        meta.price,
                        meta.chain_id,
                        _address(meta.safe_address, "safe") if meta.safe_address else None,
                        _address(meta.token_address, "token") if meta.token_address else None,
                        _canonical_json(meta.inputs),
                        _canonical_json(dict(sorted(meta.outputs.items()))),
                        _canonical_json(meta.totals),
                        self._clock(),
                    ),
                )
            except sqlite3.IntegrityError:  # the partial unique index: never two active runs
                raise ConcurrentRun(plan.period, plan.based_on, self._active(c, plan.period)) from None
            _insert_rows(
                c,
                "run_owed (run_id, payout_address, amount_wei)",
                [(run_id, a, str(w)) for a, w in plan.owed.items()],
            )
            _insert_rows(
                c,
                "transfers (run_id, period, payout_address, amount_wei, batch, batch_file, batch_sha256)",
                [
                    (
                        run_id,
                        plan.period,
                        t.payout_address,
                        str(t.amount_wei),
                        t.batch,
                        t.batch_file,
                        t.batch_sha256,
                    )
                    for t in records
                ],
            )
            for hist_period, nodes in sorted(meta.history.items()):
                if _period(hist_period) >= plan.period:
                    raise ValueError(f"--history period {hist_period} is not before {plan.period}")
                self._record_first_eligible(c, hist_period, nodes, None, "history")
            added, moved = self._record_first_eligible(c, plan.period, meta.eligible_nodes, run_id, "run")
            _insert_rows(
                c,
                "operator_payout_address (operator_address, run_id, period, payout_address)",
                self._operator_rows(meta.operator_payouts, run_id, plan.period),
            )
            new_run = self._active(c, plan.period)
        assert new_run is not None and new_run.run_id == run_id
        return EmitResult(
            run=new_run,
            superseded=None if active is None else self.run(active.run_id),
            first_eligible_added=added,
            first_eligible_moved=moved,
        )

    @staticmethod
    def _operator_rows(
        operator_payouts: Mapping[str, str], run_id: int, period: str
    ) -> list[tuple[str, int, str, str]]:
        """(operator, run_id, period, payout address) rows, EIP-55, sorted by the given operator."""
        pairs = sorted(operator_payouts.items())
        forms = _addresses_if_valid([a for pair in pairs for a in pair])
        if forms is None:  # a malformed address: the per-pair loop names the first one
            return [
                (_address(o, "operator"), run_id, period, _address(p, "payout address")) for o, p in pairs
            ]
        return list(zip(forms[0::2], repeat(run_id), repeat(period), forms[1::2], strict=False))

    @staticmethod
    def _check_transfers(
        plan: Plan, meta: RunMeta, transfers: Sequence[TransferRecord]
    ) -> list[TransferRecord]:
        """The transfers must be exactly `plan.pay`, each in a recorded batch file. ValueError if not."""
        outputs = {name: _sha(sha, f"outputs[{name}]") for name, sha in meta.outputs.items()}
        records: list[TransferRecord] = []
        transfers = list(transfers)
        # None: a malformed address, which _address below names, in transfer order
        payees = _addresses_if_valid([t.payout_address for t in transfers])
        for i, t in enumerate(transfers):
            if isinstance(t.amount_wei, bool) or not isinstance(t.amount_wei, int) or t.amount_wei <= 0:
                raise ValueError(f"transfers[{i}].amount_wei must be a positive int, got {t.amount_wei!r}")
            if isinstance(t.batch, bool) or not isinstance(t.batch, int) or t.batch < 1:
                raise ValueError(f"transfers[{i}].batch must be an int >= 1, got {t.batch!r}")
            if outputs.get(t.batch_file) != _sha(t.batch_sha256, f"transfers[{i}].batch_sha256"):
                raise ValueError(
                    f"transfers[{i}]: batch file {t.batch_file!r} with sha256 {t.batch_sha256} is not "
                    "among the run's recorded outputs"
                )
            records.append(
                TransferRecord(
                    payees[i] if payees is not None else _address(t.payout_address, f"transfers[{i}]"),
                    t.amount_wei,
                    t.batch,
                    t.batch_file,
                    t.batch_sha256,
                )
            )
        paying: dict[str, int] = {}
        for t in records:
            if t.payout_address in paying:
                raise ValueError(f"payout address {t.payout_address} has two transfers in one run")
            paying[t.payout_address] = t.amount_wei
        if paying != plan.pay:
            raise ValueError("the transfers given to emit() are not exactly the plan's `pay` amounts")
        return records

    def _record_first_eligible(
        self,
        c: sqlite3.Connection,
        period: str,
        nodes: Iterable[str],
        run_id: int | None,
        source: str,
    ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        """Insert nodes not yet recorded; move a record to `period` if that is earlier. (added, moved)."""
        nodes = list(nodes)
        forms = _addresses_if_valid(nodes)
        if forms is None:  # a malformed address: the loop below names the first one
            forms = [_address(n, "node") for n in nodes]
        wanted = sorted(set(forms))
        cur = c.cursor()
        cur.row_factory = None  # plain (node_address, period) tuples, not sqlite3.Row
        known: dict[str, str] = dict(cur.execute("SELECT node_address, period FROM node_first_eligible"))
        added = tuple(n for n in wanted if n not in known)
        moved = tuple((n, known[n]) for n in wanted if n in known and period < known[n])
        _insert_rows(
            c,
            "node_first_eligible (node_address, period, run_id, source)",
            [(n, period, run_id, source) for n in added],
        )
        c.executemany(
            "UPDATE node_first_eligible SET period = ?, run_id = ?, source = ? WHERE node_address = ?",
            [(period, run_id, source, n) for n, _ in moved],
        )
        return added, moved

    def import_history(self, period: str, nodes: Iterable[str], source: str = "history") -> int:
        """Record nodes eligible in a month paid before the ledger existed. Returns rows added or moved."""
        with self._write() as c:
            added, moved = self._record_first_eligible(c, _period(period), nodes, None, source)
        return len(added) + len(moved)

    # ---- execution -------------------------------------------------------------------------

    def mark_executed(self, period: str, onchain: Iterable[_OnChain]) -> MarkResult:
        """Record which of the period's transfers the chain shows executed; returns what changed.

        Each on-chain Transfer log (from `flows.reconcile.read_transfers`) pays at most one ledger
        transfer: the earliest (by run, batch) not-yet-executed transfer of this period to the
        same address for exactly the same amount. Logs already attributed to any transfer are
        skipped, so calling this again is a no-op. A run whose transfers are all executed
        becomes 'executed' (a superseded run keeps its status).
        """
        period = _period(period)
        logs = sorted(onchain, key=lambda t: (t.block, t.log_index, t.tx_hash.lower()))
        with self._write("mark") as c:
            pending = [
                self._transfer(r)
                for r in c.execute(
                    "SELECT * FROM transfers WHERE period = ? AND tx_hash IS NULL "
                    "ORDER BY run_id, batch, transfer_id",
                    (period,),
                )
            ]
            used = {
                (r["tx_hash"], r["log_index"])
                for r in c.execute("SELECT tx_hash, log_index FROM transfers WHERE tx_hash IS NOT NULL")
            }
            updates: list[tuple[str, int, int, int]] = []
            for log in logs:
                key = (log.tx_hash.lower(), log.log_index)
                if key in used:
                    continue
                for t in pending:
                    if t.payout_address.lower() == log.to.lower() and t.amount_wei == log.amount_wei:
                        pending.remove(t)
                        used.add(key)
                        updates.append((key[0], log.log_index, log.block, t.transfer_id))
                        break
            c.executemany(
                """UPDATE transfers SET tx_hash = ?, log_index = ?, executed_block = ?
                   WHERE transfer_id = ? AND tx_hash IS NULL""",
                updates,
            )
            done = [
                r["run_id"]
                for r in c.execute(
                    """SELECT run_id FROM runs WHERE period = ? AND status = 'emitted' AND NOT EXISTS
                           (SELECT 1 FROM transfers t WHERE t.run_id = runs.run_id AND t.tx_hash IS NULL)
                       ORDER BY run_id""",
                    (period,),
                )
            ]
            c.executemany("UPDATE runs SET status = 'executed' WHERE run_id = ?", [(r,) for r in done])
        return MarkResult(marked=len(updates), runs_executed=tuple(done))

    # ---- locking ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def period_lock(self, period: str) -> Iterator[None]:
        """Hold an exclusive OS lock for one period for the whole run; `RunInProgress` if taken.

        A byte-range lock (byte = months since year 0) on `<ledger>.lock`: released by the kernel
        when the process exits or is killed, so a crash never leaves a stale lock. Not available
        on Windows (no-op there); the ledger's transaction checks still apply.
        """
        period = _period(period)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        offset = int(period[:4]) * 12 + int(period[5:]) - 1
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:
                raise RunInProgress(
                    f"another run of period {period} is in progress (lock {lock_path})",
                    fix="wait for it to finish, then rerun: an identical rerun is a no-op",
                ) from None
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
        finally:
            os.close(fd)
