"""The ledger's fast paths give the same database and the same errors as the plain ones:
`_insert_rows` (several rows per INSERT) against one-row executemany, and the vectorized
address forms (`_addresses_if_valid`) against the per-value `_address` messages."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import ledger as ledger_mod
from flows.ledger import Ledger, TransferRecord
from tests.builders import run_meta

pytestmark = pytest.mark.integration


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _addresses(kind: str, n: int, seed: int = 0) -> list[str]:
    rng = random.Random(f"{kind}:{seed}")
    return [to_checksum_address(f"0x{rng.getrandbits(160):040x}") for _ in range(n)]


def _table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL UNIQUE, b INTEGER, c TEXT CHECK (c <> 'x'))"
    )


def _rows(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return conn.execute("SELECT rowid, * FROM t ORDER BY rowid").fetchall()


def _both(rows: list[tuple[object, ...]]) -> tuple[object, object]:
    """(outcome, rows) of inserting `rows` one per statement and with `_insert_rows`."""
    results = []
    for fast in (False, True):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        _table(conn)
        conn.execute("BEGIN")
        try:
            if fast:
                ledger_mod._insert_rows(conn, "t (a, b, c)", rows)
            else:
                conn.executemany("INSERT INTO t (a, b, c) VALUES (?, ?, ?)", rows)
            outcome: object = "ok"
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            outcome = (type(exc).__name__, str(exc))
            conn.execute("ROLLBACK")
        results.append((outcome, _rows(conn)))
        conn.close()
    return results[0], results[1]


@pytest.mark.parametrize("n", [0, 1, 2, 332, 333, 334, 665, 666, 667, 1000, 2345])
def test_insert_rows_equals_executemany_around_chunk_edges(n: int) -> None:
    rows = [(f"k{i}", i * 7 - 3, f"v{i % 5}") for i in range(n)]
    plain, fast = _both(rows)
    assert fast == plain
    assert plain[0] == "ok" and len(plain[1]) == n  # type: ignore[index, arg-type]


@pytest.mark.parametrize("where", [0, 1, 332, 333, 500, 999])
def test_insert_rows_fails_like_executemany_and_the_transaction_keeps_nothing(where: int) -> None:
    rows = [(f"k{i}", i, "ok") for i in range(1000)]
    unique = [*rows[:where], ("k0" if where else "k1", -1, "ok"), *rows[where:]]
    check = [*rows[:where], ("new", -1, "x"), *rows[where:]]
    for bad in (unique, check):
        plain, fast = _both(bad)
        assert fast == plain
        assert plain[1] == []  # type: ignore[index]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(max_size=5),
            st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.text(max_size=3),
        ),
        max_size=800,
    )
)
def test_insert_rows_equals_executemany_on_random_rows(rows: list[tuple[str, int | None, str]]) -> None:
    plain, fast = _both(rows)
    assert fast == plain


def test_insert_rows_wide_rows_stay_under_the_parameter_limit() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    columns = [f"c{i}" for i in range(7)]
    conn.execute(f"CREATE TABLE w ({', '.join(columns)})")
    rows = [tuple(range(i, i + 7)) for i in range(1000)]
    ledger_mod._insert_rows(conn, f"w ({', '.join(columns)})", rows)
    assert conn.execute("SELECT rowid, * FROM w ORDER BY rowid").fetchall() == [
        (i + 1, *r) for i, r in enumerate(rows)
    ]


# --- emit with the vectorized address checks --------------------------------------------------


def _emit(
    path: Path,
    owed: dict[str, int],
    nodes: list[object],
    ops: dict[object, object],
    payees: list[object] | None = None,
) -> dict[str, list[tuple[object, ...]]]:
    with Ledger.open(path, clock=lambda: "2026-11-02T00:00:00Z") as ledger:
        plan = ledger.plan_emission("2026-10", _sha("k"), owed)
        outputs = {"batch-1.json": _sha("batch"), "manifest.json": _sha("manifest")}
        pay = list(plan.pay.items())
        transfers = [
            TransferRecord(
                payees[i] if payees is not None else a,  # type: ignore[arg-type]
                w,
                1,
                "batch-1.json",
                outputs["batch-1.json"],
            )
            for i, (a, w) in enumerate(pay)
        ]
        meta = run_meta(
            outputs,
            eligible_nodes=nodes,  # type: ignore[arg-type]
            operator_payouts=ops,  # type: ignore[arg-type]
        )
        try:
            ledger.emit(plan, meta, transfers)
        finally:
            dump = ledger.dump()
    return dump


def test_emit_stores_eip55_forms_of_any_spelling(tmp_path: Path) -> None:
    nodes = _addresses("node", 700, 1)
    payees = _addresses("pay", 300, 1)
    ops = dict(zip(_addresses("op", 400, 1), payees * 2, strict=False))
    owed = {(p.lower() if i % 2 else "0x" + p[2:].upper()): 10**18 + i for i, p in enumerate(payees)}
    spelled = [n.lower() if i % 3 else n for i, n in enumerate(nodes)]
    dump = _emit(tmp_path / "l.sqlite", owed, spelled, {o.lower(): p.lower() for o, p in ops.items()})
    assert [r[0] for r in dump["node_first_eligible"]] == sorted(nodes)
    assert sorted(r[1] for r in dump["run_owed"]) == sorted(payees)
    assert sorted(r[3] for r in dump["transfers"]) == sorted(payees)
    assert [(r[0], r[3]) for r in dump["operator_payout_address"]] == sorted(ops.items())
    # the transfer ids follow plan.pay's order, as one-row inserts numbered them
    assert [r[0] for r in dump["transfers"]] == list(range(1, len(payees) + 1))
    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        rowids = conn.execute("SELECT node_address FROM node_first_eligible ORDER BY rowid").fetchall()
    assert [r[0] for r in rowids] == sorted(nodes)  # inserted in sorted order, rowid 1..n


BAD = "0x" + "ab" * 19 + "a"  # one digit short


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("node", f"node: {BAD!r} is not a 0x-prefixed 40-hex-digit address"),
        ("operator", f"operator: {BAD!r} is not a 0x-prefixed 40-hex-digit address"),
        ("payout", f"payout address: {BAD!r} is not a 0x-prefixed 40-hex-digit address"),
        ("transfer", f"transfers[1]: {BAD!r} is not a 0x-prefixed 40-hex-digit address"),
        ("node-none", "node: None is not a 0x-prefixed 40-hex-digit address"),
    ],
)
def test_emit_names_the_bad_address_and_writes_nothing(tmp_path: Path, where: str, message: str) -> None:
    nodes: list[object] = list(_addresses("node", 50, 2))
    payees = _addresses("pay", 5, 2)
    ops: dict[object, object] = dict(zip(_addresses("op", 5, 2), payees, strict=True))
    transfer_payees: list[object] | None = None
    if where == "node":
        nodes[17] = BAD
    elif where == "node-none":
        nodes[3] = None
    elif where == "operator":
        ops[BAD] = payees[0]
    elif where == "payout":
        ops[_addresses("op", 1, 9)[0]] = BAD
    elif where == "transfer":
        transfer_payees = [payees[0], BAD, *payees[2:]]
    with pytest.raises(ValueError) as err:
        _emit(tmp_path / "l.sqlite", dict.fromkeys(payees, 10**18), nodes, ops, transfer_payees)
    assert str(err.value) == message
    with Ledger.open(tmp_path / "l.sqlite") as ledger:
        assert all(rows == [] for rows in ledger.dump().values())


def test_plan_emission_names_the_first_bad_owed_address(tmp_path: Path) -> None:
    good = _addresses("pay", 3, 3)
    with Ledger.open(tmp_path / "l.sqlite") as ledger:
        with pytest.raises(ValueError) as err:
            ledger.plan_emission("2026-10", _sha("k"), {good[0]: 1, BAD: 2, good[1]: -1})
        assert str(err.value) == f"owed: {BAD!r} is not a 0x-prefixed 40-hex-digit address"
        with pytest.raises(ValueError) as err:  # an earlier bad amount is reported first
            ledger.plan_emission("2026-10", _sha("k"), {good[0]: -1, BAD: 2})
        assert str(err.value) == f"owed[{good[0]}] must be a non-negative int, got -1"
        with pytest.raises(ValueError, match="appears twice"):
            ledger.plan_emission("2026-10", _sha("k"), {good[0]: 1, good[0].lower(): 2})
