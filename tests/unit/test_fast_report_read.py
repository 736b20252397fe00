"""flows.report reads output CSVs by column (`_read_csv` -> `_Table`), with a `str.split` path
for files without quotes. Pinned here to the row-by-row reader it replaced (csv.reader into one
dict per row, kept below as `_reference_rows`): the same values, the same InputErrors (message,
file, row) and the same csv errors; and `load_report_data` derives the same report data from
the columns as it did from the row dicts (`_reference_fields`, the old code)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import report as R
from flows.pipeline import MANIFEST, NODE_REWARDS, OPERATOR_PAYOUTS, POLICY_DIR, REJECTED_ROWS, TRANSFERS
from payouts.engine import REASONS
from payouts.errors import InputError
from payouts.report import BatchRow, FilledSlot, OperatorRow, RejectedRow

pytestmark = pytest.mark.unit


def _reference_rows(
    period_dir: Path, name: str, manifest: dict[str, Any], columns: tuple[str, ...]
) -> list[dict[str, str]]:
    """flows.report._read_csv before the columnar reader (the reference)."""
    path = period_dir / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name} is missing", file=str(path), fix=R._FIX) from None
    recorded = {o.get("name"): o.get("sha256") for o in manifest.get("outputs", [])}
    if name not in recorded:
        raise InputError(f"{MANIFEST} does not list {name}", file=str(period_dir / MANIFEST), fix=R._FIX)
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded[name]:
        raise InputError(
            f"SHA-256 {actual} differs from the manifest's {recorded[name]}: the file changed after the run",
            file=str(path),
            fix=R._FIX,
        )
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader, [])
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"no column {missing[0]!r}", file=str(path), row=1, fix=R._FIX)
    rows = [row for row in reader if row]
    ragged = next((row for row in rows if len(row) != len(header)), None)
    if ragged is not None:
        raise InputError(f"a row has {len(ragged)} fields, not {len(header)}", file=str(path), fix=R._FIX)
    return [dict(zip(header, row, strict=True)) for row in rows]


def _outcome(fn: Any) -> object:
    try:
        return ("ok", fn())
    except InputError as exc:
        return ("InputError", exc.message, exc.file, exc.row, exc.column, exc.fix)
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def _compare(tmp: Path, data: bytes, columns: tuple[str, ...], manifest: dict[str, Any] | None = None) -> str:
    """The columnar reader gives what the reference gives, on `data` as file x.csv; returns
    "ok" or the name of the error both raised."""
    (tmp / "x.csv").write_bytes(data)
    if manifest is None:
        manifest = {"outputs": [{"name": "x.csv", "sha256": hashlib.sha256(data).hexdigest()}]}
    ref = _outcome(lambda: _reference_rows(tmp, "x.csv", manifest, columns))
    new = _outcome(lambda: R._read_csv(tmp, "x.csv", manifest, columns))
    if ref[0] != "ok":  # type: ignore[index]
        assert new == ref
        return str(ref[0])  # type: ignore[index]
    assert new[0] == "ok", new  # type: ignore[index]
    rows, table = ref[1], new[1]  # type: ignore[index]
    header = next(csv.reader(io.StringIO(data.decode("utf-8"), newline="")), [])
    # a repeated name: first position, last value (as dict(zip(header, row)))
    assert table.columns == {h: [r[h] for r in rows] for h in dict.fromkeys(header)}
    assert list(table.columns) == list(dict.fromkeys(header))
    assert table.rows == len(rows)
    return "ok"


# --- _read_csv --------------------------------------------------------------------------------

_FIELD = st.text(alphabet='ab,"\n\r x\x00é', max_size=6)
_PLAIN_FIELD = st.text(alphabet="ab x0.-é", max_size=6)


@st.composite
def _csv_texts(draw: st.DrawFn) -> tuple[str, tuple[str, ...]]:
    plain = draw(st.booleans())
    field = _PLAIN_FIELD if plain else _FIELD
    header = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "a b", ""]), min_size=0, max_size=5))
    n_rows = draw(st.integers(0, 12))
    lines = [",".join(header)]
    for _ in range(n_rows):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "ragged"]))
        if kind == "blank":
            lines.append("")
            continue
        width = len(header) if kind == "row" else draw(st.integers(1, 7))
        values = draw(st.lists(field, min_size=width, max_size=width))
        if plain:
            lines.append(",".join(values))
        else:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow(values)
            lines.append(buf.getvalue())
    end = draw(st.sampled_from(["\n", "\r\n", "\r", ""]))
    text = "\n".join(lines) if end in ("\n", "") else end.join(lines)
    text += draw(st.sampled_from(["", end or "\n", "\n\n"]))
    wanted = tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True)))
    return text, wanted


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_csv_texts())
def test_columns_equal_the_row_reader_on_random_files(
    tmp_path: Path, case: tuple[str, tuple[str, ...]]
) -> None:
    text, wanted = case
    _compare(tmp_path, text.encode("utf-8"), wanted)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "\n\na,b\n1,2\n",
        "a,b\n",
        "a,b",
        "a,b\n1,2",
        "a,b\n1,2\n\n\n3,4\n",
        "a,b\n1,2,3\n",
        "a,b\n1\n",
        "a,b\n1,2\n3\n4,5,6\n",
        "a,b\r\n1,2\r\n",
        "a,b\r1,2\r",
        'a,b\n"1,5",2\n',
        'a,b\n"multi\nline",2\n',
        'a,b\n1,"2""q"\n',
        "a,b\n1\x00,2\n",
        "a,a,b\n1,2,3\n",  # a repeated column: the last one wins, as in a dict
        "a,b\n,\n",
        "a,b\n ,\t\n",
        "b\nx\n\ny\n",
        "a,b\n\u2028,\x0b\n",  # line separators csv does not split on
    ],
    ids=repr,
)
@pytest.mark.parametrize("wanted", [(), ("a",), ("a", "b"), ("c",)])
def test_columns_equal_the_row_reader_on_edge_files(
    tmp_path: Path, text: str, wanted: tuple[str, ...]
) -> None:
    _compare(tmp_path, text.encode("utf-8"), wanted)


def test_long_field_is_refused_by_csv_either_way(tmp_path: Path) -> None:
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(50)
        for text in ("a,b\n" + "x" * 60 + ",1\n", "a,b\n" + "x" * 49 + ",1\n", "a,b\n1," + "y" * 51 + "\n"):
            _compare(tmp_path, text.encode(), ("a",))
        (tmp_path / "x.csv").write_bytes(b"a,b\n" + b"x" * 60 + b",1\n")
        manifest = {
            "outputs": [
                {"name": "x.csv", "sha256": hashlib.sha256((tmp_path / "x.csv").read_bytes()).hexdigest()}
            ]
        }
        with pytest.raises(csv.Error, match="field larger than field limit"):
            R._read_csv(tmp_path, "x.csv", manifest, ("a",))
        # a long field in a file with a missing column: the missing column is reported first
        (tmp_path / "x.csv").write_bytes(b"a,b\n" + b"x" * 60 + b",1\n")
        with pytest.raises(InputError, match="no column 'c'"):
            R._read_csv(tmp_path, "x.csv", manifest, ("c",))
    finally:
        csv.field_size_limit(limit)


def test_sha_listing_missing_file_and_utf8_errors_are_unchanged(tmp_path: Path) -> None:
    data = b"a,b\n1,2\n"
    _compare(tmp_path, data, ("a",), {"outputs": [{"name": "x.csv", "sha256": "0" * 64}]})
    _compare(tmp_path, data, ("a",), {"outputs": [{"name": "other.csv", "sha256": "0" * 64}]})
    _compare(tmp_path, data, ("a",), {})
    _compare(tmp_path, b"a,b\n\xff,2\n", ("a",))  # not UTF-8: the same UnicodeDecodeError
    manifest = {"outputs": [{"name": "gone.csv", "sha256": "0" * 64}]}
    ref = _outcome(lambda: _reference_rows(tmp_path, "gone.csv", manifest, ()))
    assert _outcome(lambda: R._read_csv(tmp_path, "gone.csv", manifest, ())) == ref


# --- load_report_data ------------------------------------------------------------------------

NODE_HEADER = (
    "period,node_address,operator_address,eligible,reason,rank,score,uptime,tasks_completed,is_new,"
    "base_usd,multi_node_bonus_usd,rank_slot,rank_reward_usd"
)
OP_HEADER = (
    "period,operator_address,payout_address,eligible_nodes,base_usd,multi_node_bonus_usd,role_bonus_usd,"
    "bonus_cap_reduction_usd,rank_reward_usd,total_usd,held_reason,payout_address_changed,"
    "previous_payout_address"
)


def _addr(i: int) -> str:
    return f"0x{i:040x}"


def _period_folder(tmp: Path, seed: int, *, source_file: bool, with_rejected_total: bool) -> Path:
    import random

    rng = random.Random(seed)
    folder = tmp / "out" / "2026-10"
    folder.mkdir(parents=True)
    nodes = [NODE_HEADER]
    for i in range(300):
        eligible = rng.random() < 0.7
        reason = "" if eligible else rng.choice([*REASONS, "some_new_reason"])
        slot = str(rng.randint(1, 40)) if eligible and rng.random() < 0.2 else ""  # repeats: a stable sort
        nodes.append(
            f"2026-10,{_addr(i)},{_addr(1000 + i % 37) if rng.random() < 0.9 else ''},"
            f"{'true' if eligible else 'false'},{reason},{i + 1 if eligible else ''},0.50000000,0.990000,"
            f"{rng.randint(0, 99)},false,20.00,4.00,{slot},{rng.randint(0, 9999) / 100:.2f}"
        )
    ops = [OP_HEADER]
    for i in range(37):
        usd = [f"{rng.randint(0, 10**6) / 100:.2f}" for _ in range(6)]
        ops.append(f"2026-10,{_addr(1000 + i)},{_addr(2000 + i)},{rng.randint(0, 9)},{','.join(usd)},,false,")
    transfers = ["period,batch,payout_address,total_usd,amount_cor,amount_wei"]
    batch_of = sorted(rng.randint(1, 6) for _ in range(40))
    for i, b in enumerate(batch_of):
        usd = f"{rng.randint(1, 10**8) / 1000:.3f}" + "1" * rng.randint(0, 30)  # long: Decimal rounding
        transfers.append(f"2026-10,{b},{_addr(3000 + i)},{usd},1,{rng.randint(1, 10**30)}")
    rejected = [
        "source_row,node_address,column,check,value" + (",source_file" if source_file else ""),
        *(
            f'{r},{_addr(r)},stake,"range[1,inf)","{r},""x"""' + (f",m{r % 3}.csv" if source_file else "")
            for r in [2, 2, 5, 9, 9, 11]
        ),
    ]
    files = {
        NODE_REWARDS: "\n".join(nodes) + "\n",
        OPERATOR_PAYOUTS: "\n".join(ops) + "\n",
        TRANSFERS: "\n".join(transfers) + "\n",
        REJECTED_ROWS: "\n".join(rejected) + "\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    policy = (POLICY_DIR / "phase3.toml").read_bytes()
    totals: dict[str, Any] = {
        "nodes": 300,
        "eligible_nodes": 1,
        "held_nodes": 1,
        "operators": 37,
        "total_usd": "1.00",
        "transfers": 40,
        "total_wei": "1",
        "dust_wei": "0",
    }
    if with_rejected_total:
        totals["rejected_rows"] = 4
    manifest = {
        "period": "2026-10",
        "policy": {
            "name": "phase3",
            "version": "1",
            "sha256": hashlib.sha256(policy).hexdigest(),
            "source": "phase3",
        },
        "price": {"cor_usd": "0.0215", "source": "test"},
        "token": {"decimals": 18, "symbol": "COR"},
        "totals": totals,
        "batches": [{"batch": 2, "safe_nonce": 9, "safe_tx_hash": "0x" + "ab" * 32}],
        "outputs": [
            {"name": name, "sha256": hashlib.sha256(text.encode()).hexdigest()}
            for name, text in files.items()
        ],
    }
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def _reference_fields(folder: Path, rejected_shown: int) -> dict[str, object]:
    """The row-derived fields of ReportData as load_report_data computed them from row dicts."""
    manifest = R._read_manifest(folder)
    nodes = _reference_rows(folder, NODE_REWARDS, manifest, ())
    operators = _reference_rows(folder, OPERATOR_PAYOUTS, manifest, ())
    transfers = _reference_rows(folder, TRANSFERS, manifest, ())
    rejected = _reference_rows(folder, REJECTED_ROWS, manifest, ())
    held: dict[str, int] = {}
    for r in nodes:
        if r["eligible"] != "true":
            held[r["reason"]] = held.get(r["reason"], 0) + 1
    held_by_reason = tuple((reason, held.get(reason, 0)) for reason in REASONS) + tuple(
        sorted((r, c) for r, c in held.items() if r not in REASONS)
    )
    per_batch: dict[int, list[dict[str, str]]] = {}
    for r in transfers:
        per_batch.setdefault(int(r["batch"]), []).append(r)
    signed = {int(b["batch"]): b for b in manifest.get("batches") or []}
    batches = tuple(
        BatchRow(
            number=n,
            transfers=len(rows),
            total_usd=sum((Decimal(r["total_usd"]) for r in rows), Decimal(0)),
            total_wei=sum(int(r["amount_wei"]) for r in rows),
            safe_nonce=R._int_or_none(signed.get(n, {}).get("safe_nonce")),
            safe_tx_hash=signed.get(n, {}).get("safe_tx_hash") or None,
        )
        for n, rows in sorted(per_batch.items())
    )
    t = manifest["totals"]
    return {
        "held_by_reason": held_by_reason,
        "batches": batches,
        "rejected_rows": int(
            t.get("rejected_rows", len({(r.get("source_file"), r["source_row"]) for r in rejected}))
        ),
        "findings": len(rejected),
        "rejected_shown": tuple(
            RejectedRow(
                source_row=r["source_row"],
                node_address=r["node_address"],
                column=r["column"],
                check=r["check"],
                value=r["value"],
                source_file=r.get("source_file") or "",
            )
            for r in rejected[:rejected_shown]
        ),
        "operators": tuple(
            OperatorRow(
                operator_address=r["operator_address"],
                payout_address=r["payout_address"],
                eligible_nodes=int(r["eligible_nodes"]),
                base_usd=Decimal(r["base_usd"]),
                multi_node_bonus_usd=Decimal(r["multi_node_bonus_usd"]),
                role_bonus_usd=Decimal(r["role_bonus_usd"]),
                bonus_cap_reduction_usd=Decimal(r["bonus_cap_reduction_usd"]),
                rank_reward_usd=Decimal(r["rank_reward_usd"]),
                total_usd=Decimal(r["total_usd"]),
            )
            for r in operators
        ),
        "rank_slots": tuple(
            sorted(
                (
                    FilledSlot(
                        slot=int(r["rank_slot"]),
                        rank=int(r["rank"]),
                        node_address=r["node_address"],
                        operator_address=r["operator_address"],
                        reward_usd=Decimal(r["rank_reward_usd"]),
                    )
                    for r in nodes
                    if r["rank_slot"]
                ),
                key=lambda f: f.slot,
            )
        ),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("source_file", "with_rejected_total"), [(True, True), (True, False), (False, False)]
)
@pytest.mark.parametrize("rejected_shown", [0, 3, 100, -2])
def test_load_report_data_equals_the_row_dict_reference(
    tmp_path: Path, seed: int, source_file: bool, with_rejected_total: bool, rejected_shown: int
) -> None:
    folder = _period_folder(tmp_path, seed, source_file=source_file, with_rejected_total=with_rejected_total)
    data = R.load_report_data(folder, rejected_shown=rejected_shown)
    want = _reference_fields(folder, rejected_shown)
    got = {
        "held_by_reason": data.held_by_reason,
        "batches": data.batches,
        "rejected_rows": data.totals.rejected_rows,
        "findings": data.totals.findings,
        "rejected_shown": data.rejected_shown,
        "operators": data.operators,
        "rank_slots": data.rank_slots,
    }
    assert got == want
    assert data.emission_history == R.emission_history(folder)[0]
    assert data.emission_ignored == R.emission_history(folder)[1]
