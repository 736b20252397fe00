"""The bad-input corpus (tests/data/bad/): every malformed input has one exact, stated outcome.

* file-level fault: `InputError` (the CLI's exit 2) naming file, line, column and the fix, and
  nothing written - not even the output root;
* row-level fault: the run completes (exit 0), the row is in rejected_rows.csv with its line,
  column and check, exactly the affected nodes are held as invalid_data, every other node is paid;
* an encoding variant (byte-order mark, CRLF, CR, quoting, blank lines, column order, address
  case): node_rewards.csv, operator_payouts.csv and transfers.csv byte-identical to the base month.

Also here: the size limits (--max-rows, --max-nodes, --max-input-bytes), and secrets in the
environment never reaching output, logs or files. A few cases go through the real CLI (`payouts
run` in-process, Prefect flow) to prove exit code 2 and no traceback.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flows.chain_config import ChainOptions
from flows.pipeline import RunRequest, run_without_prefect
from flows.sources import MAX_COLUMNS, MAX_LINE_CHARS, Source, read_table
from payouts.errors import InputError
from payouts.period import Period
from schemas.inputs import DEFAULT_MAX_NODES, DEFAULT_MAX_ROWS, parse_metrics, parse_registry
from tests.cli import run_cli
from tests.conftest import REPO

pytestmark = pytest.mark.integration

CORPUS = REPO / "tests" / "data" / "bad"
TABLE = tomllib.loads((CORPUS / "cases.toml").read_text("utf-8"))
BASE = TABLE["base"]
NODES: dict[str, str] = TABLE["nodes"]
CASES: dict[str, dict[str, Any]] = {c["id"]: c for c in TABLE["case"]}
FILE_LEVEL = [c for c in CASES.values() if c["exit"] == 2]
ROW_LEVEL = [c for c in CASES.values() if c["exit"] == 0]
COMPARED = ("node_rewards.csv", "operator_payouts.csv", "transfers.csv")


def request(case: dict[str, Any], out: Path, **changes: Any) -> RunRequest:
    policy = case.get("policy")
    return RunRequest(
        period=case.get("period", BASE["period"]),
        metrics=str(CORPUS / case.get("metrics", BASE["metrics"])),
        operators=str(CORPUS / case.get("operators", BASE["operators"])),
        price=case.get("price", BASE["price"]),
        price_source="bad-input corpus",
        policy=str(CORPUS / policy) if policy else "phase3",
        out=out,
        **changes,
    )


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


@pytest.fixture(scope="module")
def base_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder, _, _ = run_without_prefect(request({}, tmp_path_factory.mktemp("base")))
    nodes = rows(folder / "node_rewards.csv")
    assert {n["node_address"] for n in nodes} == set(NODES.values())
    assert all(n["eligible"] == "true" for n in nodes), "every node of the base month is eligible"
    assert rows(folder / "rejected_rows.csv") == []
    return {name: (folder / name).read_bytes() for name in COMPARED}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def test_corpus_is_what_the_generator_writes() -> None:
    files = _generator().write_files()
    on_disk = {
        p.relative_to(CORPUS).as_posix()
        for p in CORPUS.rglob("*")
        if p.is_file() and p.suffix in (".csv", ".toml")
    }
    assert on_disk == set(files)
    for name, data in files.items():
        assert (CORPUS / name).read_bytes() == data, f"{name}: run tests/data/bad/make_corpus.py"


def test_corpus_covers_every_bullet_of_the_issue() -> None:
    covers = {c["covers"] for c in CASES.values()}
    for bullet in (
        "not UTF-8",
        "byte-order mark handled",
        "CRLF handled",
        "wrong delimiter",
        "missing header",
        "duplicated header",
        "no rows",
        "a period with no rows for some days is not a fault",
        "date outside the period",
        "registry with a duplicated operator",
        "price <= 0 or not a number",
        "unknown policy key",
        "policy value out of range",
        "out-of-range value",
        "NaN/inf/empty where a number is required",
        "scientific notation in stake_cor",
        "more than 18 decimals in stake_cor",
        "bad EIP-55 checksum",
        "whitespace",
        "homoglyphs",
        "wrong length",
        "ok > total",
        "tasks_accurate > tasks_completed",
        "duplicate (date, node_address): all copies rejected",
        "quoted field with an embedded newline",
    ):
        assert bullet in covers, bullet
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", FILE_LEVEL, ids=[c["id"] for c in FILE_LEVEL])
def test_file_level_fault_stops_the_run_and_writes_nothing(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        run_without_prefect(request(case, out))
    message = str(caught.value)
    for fragment in case["message"]:
        assert fragment in message, (fragment, message)
    named = case.get("metrics") or case.get("operators")
    if named:
        assert named in message, (named, message)  # the file is named
    assert "->" in message and caught.value.fix, "the message says how to fix it"
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


@pytest.mark.parametrize("case", ROW_LEVEL, ids=[c["id"] for c in ROW_LEVEL])
def test_row_level_fault_holds_exactly_the_affected_nodes(
    case: dict[str, Any], tmp_path: Path, base_outputs: dict[str, bytes]
) -> None:
    folder, result, _ = run_without_prefect(request(case, tmp_path / "out"))
    by_address = {n["node_address"]: n for n in rows(folder / "node_rewards.csv")}
    assert set(by_address) == set(NODES.values()), "every node of the snapshot is reported"
    held = {label for label, a in NODES.items() if by_address[a]["reason"] == "invalid_data"}
    assert held == set(case["held"])
    for label, a in NODES.items():
        node = by_address[a]
        if label in held:
            assert (node["eligible"], node["base_usd"], node["rank_reward_usd"]) == ("false", "0.00", "0.00")
        else:
            assert node["reason"] == case.get("reasons", {}).get(label, ""), (label, node)

    rejected = rows(folder / "rejected_rows.csv")
    assert {(int(r["source_row"]), r["column"], r["check"]) for r in rejected} == {
        tuple(x) for x in case["rejected"]
    }
    if case["rejected"]:
        source = str(CORPUS / case[case["rejected_file"]])
        assert {r["source_file"] for r in rejected} == {source}
    if case.get("rejected_file", "metrics") == "metrics":
        # a rejected metrics row names its held node in EIP-55 form
        assert {r["node_address"] for r in rejected} <= {NODES[h] for h in held}
    assert result.totals.eligible_nodes == sum(n["eligible"] == "true" for n in by_address.values())
    if case.get("same_as_base"):
        for name in COMPARED:
            assert (folder / name).read_bytes() == base_outputs[name], name


@pytest.mark.parametrize(
    ("case_id", "value"),
    [
        ("node_cyrillic_a", "\\u0430"),  # a look-alike is made visible
        ("node_zero_width_space", "\\u200b"),
        ("uptime_nul_byte", "0.9\\x00"),
        ("uptime_formula", "'=1+1"),  # a formula is neutralized for spreadsheets
        ("stake_cor_arabic_digits", "\\u0665\\u0660\\u0660\\u0660"),
        ("quoted_comma_value", "1,5"),
    ],
)
def test_rejected_values_are_echoed_safely(case_id: str, value: str, tmp_path: Path) -> None:
    folder, _, _ = run_without_prefect(request(CASES[case_id], tmp_path / "out"))
    text = (folder / "rejected_rows.csv").read_text("utf-8")
    assert value in text
    assert text.count("\n") == 2, "one line per rejected row: no raw control characters"


def test_missing_days_are_not_a_fault(tmp_path: Path) -> None:
    folder, _, _ = run_without_prefect(request(CASES["missing_days"], tmp_path / "out"))
    nodes = {n["node_address"]: n for n in rows(folder / "node_rewards.csv")}
    # n1: 26 of 31 days at 0.989 -> 0.829...; n7: 29 of 31 days at 0.983 -> 0.919...
    assert nodes[NODES["n1"]]["uptime"].startswith("0.829")
    assert nodes[NODES["n7"]]["uptime"].startswith("0.919") and nodes[NODES["n7"]]["eligible"] == "true"


# ---------------------------------------------------------------------------------------------
# Limits


def _metrics_source(data: bytes | None = None) -> Source:
    return Source("metrics", "metrics.csv", data or (CORPUS / BASE["metrics"]).read_bytes())


def test_default_limits() -> None:
    assert (DEFAULT_MAX_ROWS, DEFAULT_MAX_NODES) == (5_000_000, 100_000)


def test_too_many_rows_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.sources as sources

    def never(*_a: Any, **_k: Any) -> None:
        raise AssertionError("the rows were parsed although the file is over the limit")

    monkeypatch.setattr(sources.pa_csv, "read_csv", never)
    with pytest.raises(InputError, match="above the limit of 100") as caught:
        read_table(_metrics_source(), max_rows=100)
    assert "--max-rows" in str(caught.value)


def test_row_and_node_limits_of_the_parsers() -> None:
    frame = read_table(_metrics_source())
    period = Period.parse(BASE["period"])
    assert len(parse_metrics(frame, "m.csv", period, max_rows=279, max_nodes=9).rows) == 279
    with pytest.raises(InputError, match="--max-rows"):
        parse_metrics(frame, "m.csv", period, max_rows=278)
    with pytest.raises(InputError, match=r"9 distinct nodes, above the limit of 8.*--max-nodes"):
        parse_metrics(frame, "m.csv", period, max_nodes=8)
    reg = read_table(Source("operators", "o.csv", (CORPUS / BASE["operators"]).read_bytes()))
    with pytest.raises(InputError, match="--max-rows"):
        parse_registry(reg, "o.csv", frozenset({"miner", "oracle"}), max_rows=2)


def test_input_bytes_limit() -> None:
    with pytest.raises(InputError, match=r"above the limit of 1000.*--max-input-bytes"):
        read_table(_metrics_source(), max_bytes=1000)


def test_an_enormous_line_or_header_is_refused() -> None:
    header = (CORPUS / BASE["metrics"]).read_bytes().split(b"\n", 1)[0]
    long_line = header + b"\n" + b"x" * (MAX_LINE_CHARS + 1) + b"\n"
    with pytest.raises(InputError, match=r"line 2.*characters long"):
        read_table(_metrics_source(long_line))
    wide = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)).encode() + b"\n"
    with pytest.raises(InputError, match="columns, above the limit"):
        read_table(_metrics_source(wide))


def test_parquet_row_limit_is_read_from_the_metadata(tmp_path: Path) -> None:
    frame = read_table(_metrics_source())
    buf = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buf)
    src = Source("metrics", "metrics.parquet", buf.getvalue())
    assert len(read_table(src)) == len(frame)
    with pytest.raises(InputError, match="--max-rows"):
        read_table(src, max_rows=10)
    assert read_table(src).index[0] == 2


# ---------------------------------------------------------------------------------------------
# Secrets in the environment never reach output, logs or files

SECRETS = {
    "SAFE_PROPOSER_PRIVATE_KEY": "0x" + "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d",
    "SAFE_TX_SERVICE_API_KEY": "sk_live_9c1f0e7a55d34b8e8f1c2a7b6d4e3f21",
    "PAYOUTS_RPC_TOKEN": "tok-71c3a0b58e2f4d6a9b1c",
}
CHAIN = ChainOptions(
    network="arbitrum-sepolia",
    safe="0x175fF7e28908933157B7701B3799BB3eD52cABb8",
    token="0x75b757d248DC620895eA7ed54888327891787543",
    safe_nonce=7,
)


def _needles() -> list[bytes]:
    out = []
    for value in SECRETS.values():
        out += [value.encode(), value.lower().encode(), value.upper().encode()]
        if value.startswith("0x"):
            out.append(value[2:].encode())
    return out


def _assert_no_secret(text: bytes, where: str) -> None:
    for needle in _needles():
        assert needle not in text, f"a secret leaked into {where}"


def _scan_tree(root: Path) -> int:
    n = 0
    for p in root.rglob("*"):
        if p.is_file():
            _assert_no_secret(p.read_bytes(), str(p))
            n += 1
    return n


def test_secrets_never_reach_outputs_or_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    folder, _, _ = run_without_prefect(request(CASES["faults_on_two_nodes"], out, chain=CHAIN))
    assert (folder / "batches").is_dir()
    with pytest.raises(InputError) as caught:  # and the message of a failed run
        run_without_prefect(request(CASES["ragged_missing_field"], tmp_path / "bad", chain=CHAIN))
    _assert_no_secret(str(caught.value).encode(), "an error message")
    captured = capsys.readouterr()
    _assert_no_secret((captured.out + captured.err).encode(), "stdout/stderr")
    _assert_no_secret("\n".join(r.getMessage() for r in caplog.records).encode(), "logs")
    assert _scan_tree(out) >= 6


# ---------------------------------------------------------------------------------------------
# Through the real CLI and Prefect flow: exit 2, the message, no traceback, nothing written


def _cli_args(case: dict[str, Any], out: Path) -> list[str]:
    req = request(case, out)
    return [
        "run",
        "--period",
        req.period,
        "--metrics",
        req.metrics,
        "--operators",
        req.operators,
        "--price",
        req.price,
        "--policy",
        req.policy,
        "--out",
        str(out),
    ]


@pytest.mark.parametrize("case_id", ["price_zero", "period_not_a_month", "policy_tiers_out_of_order"])
def test_cli_argument_faults_exit_2_before_prefect(case_id: str, tmp_path: Path, capsys: Any) -> None:
    res = run_cli(capsys, *_cli_args(CASES[case_id], tmp_path / "out"))
    assert res.code == 2, res
    for fragment in CASES[case_id]["message"]:
        assert fragment in res.err
    assert "Traceback" not in res.out + res.err
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize(
    "case_id", ["not_utf8", "ragged_missing_field", "node_unattributable", "registry_duplicate_operator"]
)
def test_cli_file_faults_exit_2_without_traceback(case_id: str, tmp_path: Path, capsys: Any) -> None:
    res = run_cli(capsys, *_cli_args(CASES[case_id], tmp_path / "out"))
    assert res.code == 2, res
    assert res.err.startswith("error: ") or "\nerror: " in res.err
    for fragment in CASES[case_id]["message"]:
        assert fragment in res.err
    assert "Traceback" not in res.out + res.err
    assert not (tmp_path / "out" / BASE["period"]).exists()


@pytest.mark.e2e
@pytest.mark.usefixtures("prefect_server")
def test_cli_row_faults_and_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "out"
    args = _cli_args(CASES["faults_on_two_nodes"], out)
    args += ["--network", CHAIN.network or "", "--safe", CHAIN.safe or "", "--token", CHAIN.token or ""]
    res = run_cli(capsys, *args, "--safe-nonce", "7")
    assert res.code == 0, res
    assert "held invalid_data" in res.out and "2 held" in res.out, res.out
    _assert_no_secret((res.out + res.err).encode(), "CLI output")
    assert _scan_tree(out) >= 6
    prefect_home = os.environ.get("PREFECT_HOME")
    if prefect_home:  # Prefect's own storage (flow parameters, logs, results)
        _scan_tree(Path(prefect_home))
    from prefect.settings import get_current_settings

    url = str(get_current_settings().server.database.connection_url or "")
    if url.startswith("sqlite") and "///" in url:
        db = Path(url.split("///", 1)[1])
        if db.is_file():
            _assert_no_secret(db.read_bytes(), "the Prefect database")


def test_frames_stay_string_typed(tmp_path: Path) -> None:
    frame = read_table(_metrics_source())
    assert all(str(t) == "str" for t in frame.dtypes)
    assert isinstance(frame.index, pd.Index) and frame.index[0] == 2 and frame.index[-1] == 280


def test_registry_that_matches_no_node_holds_every_node(tmp_path: Path) -> None:
    """Found by the fuzzer: an empty operator_payouts.csv used to fail its own output schema
    (object-dtype columns) - a crash (exit 1) instead of a run paying nobody."""
    other = "0x" + "1" * 40
    registry = tmp_path / "operators.csv"
    registry.write_text(
        f"operator_address,payout_address,roles,preapproved,disqualified,bug_points\n"
        f"{other},{other},,false,false,0\n"
    )
    folder, result, _ = run_without_prefect(
        RunRequest(
            period=BASE["period"],
            metrics=str(CORPUS / BASE["metrics"]),
            operators=str(registry),
            price=BASE["price"],
            out=tmp_path / "out",
        )
    )
    assert {n["reason"] for n in rows(folder / "node_rewards.csv")} == {"unknown_operator"}
    assert rows(folder / "operator_payouts.csv") == [] and result.totals.total_wei == 0


def test_typed_parquet_export_gives_the_csv_results(tmp_path: Path, base_outputs: dict[str, bytes]) -> None:
    """A Parquet snapshot with real types (float64, int64, decimal128, date) is read as the CSV:
    float64 0.00001 must not become "1e-05", a decimal zero "0E-18", or an int 10 "10.0"."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.read_csv(CORPUS / BASE["metrics"], dtype=str)
    ints = [c for c in frame.columns if c.startswith(("sm_", "tasks_", "stake_pool"))]
    floats = ["uptime_ratio", "response_rate", "throughput_tph", "ping_ms", "global_ping_ms"]
    table = pa.table(
        {
            "date": pa.array(pd.to_datetime(frame["date"]).dt.date),
            "node_address": pa.array(frame["node_address"]),
            "operator_address": pa.array(frame["operator_address"]),
            **{c: pa.array(frame[c].astype("float64")) for c in floats},
            **{c: pa.array(frame[c].astype("int64")) for c in ints},
            "stake_cor": pa.array([decimal.Decimal(v) for v in frame["stake_cor"]], pa.decimal128(38, 18)),
        }
    )
    path = tmp_path / "metrics.parquet"
    pq.write_table(table, path)
    case = {"metrics": str(path)}
    folder, _, _ = run_without_prefect(request(case, tmp_path / "out"))
    assert rows(folder / "rejected_rows.csv") == []
    for name in COMPARED:
        assert (folder / name).read_bytes() == base_outputs[name], name
    tiny = table.set_column(3, "uptime_ratio", pa.array([1e-05] * len(frame), pa.float64()))
    pq.write_table(tiny, path)
    folder, _, _ = run_without_prefect(request(case, tmp_path / "out2"))
    assert rows(folder / "rejected_rows.csv") == []  # 0.00001 read as plain notation, not 1e-05
