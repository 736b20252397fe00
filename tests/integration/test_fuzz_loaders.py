"""Fuzzing the loaders: whatever bytes arrive, the run either completes or stops with InputError.

Inputs: random bytes, random text, and random mutations of the valid base month of the bad-input
corpus (characters deleted / doubled / swapped / inserted, cells replaced by hostile values, lines
deleted / doubled / swapped, columns deleted / swapped). Properties, for every example:

* `run_without_prefect` returns or raises `InputError` - never another exception (the CLI maps
  InputError to exit 2 and a completed run to exit 0, so no other exit code and no traceback);
* when it returns, no node with a rejected row is paid: by the pipeline's own report (a rejected
  row's node is not eligible) and by an independent reading of the file (every line whose
  node_address names an eligible node, by a plain "strip + lowercase" reading, is not rejected),
  no operator with a rejected registry row has an eligible node, and every rejected line number
  points at a line of the file that names the reported node.
"""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from flows.pipeline import RunRequest, run_without_prefect
from payouts.errors import InputError
from tests.conftest import REPO

pytestmark = pytest.mark.integration

CORPUS = REPO / "tests" / "data" / "bad"
BASE_METRICS = (CORPUS / "base" / "metrics.csv").read_text("utf-8")
BASE_OPERATORS = (CORPUS / "base" / "operators.csv").read_text("utf-8")
_HEX40 = re.compile(r"0x[0-9a-f]{40}")

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

# ---------------------------------------------------------------------------------------------
# Strategies

ALPHABET = [
    *',"\n\r \t;|.-+ex0123456789abcdefABCDEF',
    "\x00",
    "\u0430",  # Cyrillic а
    "\u0665",  # Arabic-Indic digit 5
    "\uff10",  # fullwidth 0
    "\ufeff",  # byte-order mark
    "\u200b",  # zero-width space
    "\u2028",  # line separator
    "\x85",  # next line
    "é",
]
_OTHER_NODE = BASE_METRICS.split("\n")[40].split(",")[1]
HOSTILE = [
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "-0",
    "+1",
    "1e3",
    "1E-3",
    "0x10",
    "9" * 40,
    "1" + "0" * 400,
    "0." + "1" * 19,
    "4000." + "0" * 19,
    " 0.5",
    "0.5 ",
    "1.7",
    "-1",
    "=1+1",
    "٣",
    "true",
    "2026-10-31",
    "2026-10-32",
    "2026-11-01",
    "2026-09-30",
    _OTHER_NODE,
    _OTHER_NODE.lower(),
    _OTHER_NODE[:-1],
    _OTHER_NODE + "0",
    _OTHER_NODE.replace("a", "\u0430", 1),
    "0x" + "0" * 40,
    '"',
    '"a,b"',
    "a\nb",
]


@st.composite
def mutated(draw: st.DrawFn, base: str) -> str:
    """`base` with 1-4 random edits (characters, cells, lines, columns)."""
    text = base
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        kind = draw(
            st.sampled_from(
                [
                    "del",
                    "dup",
                    "swap",
                    "insert",
                    "cell",
                    "cell",
                    "cell",
                    "line_del",
                    "line_dup",
                    "line_swap",
                    "col_del",
                    "col_swap",
                ]
            )
        )
        if kind in ("del", "dup", "swap", "insert") and text:
            i = draw(st.integers(0, len(text) - 1))
            if kind == "del":
                text = text[:i] + text[i + 1 :]
            elif kind == "dup":
                text = text[: i + 1] + text[i:]
            elif kind == "swap" and i + 1 < len(text):
                text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
            else:
                text = text[:i] + draw(st.sampled_from(ALPHABET)) + text[i:]
        elif kind == "cell":
            li = draw(st.integers(0, len(lines) - 1))
            cells = lines[li].split(",")
            ci = draw(st.integers(0, len(cells) - 1))
            cells[ci] = draw(st.sampled_from(HOSTILE) | st.text(max_size=6))
            lines[li] = ",".join(cells)
            text = "\n".join(lines)
        elif kind.startswith("line") and len(lines) > 1:
            li = draw(st.integers(0, len(lines) - 2))
            if kind == "line_del":
                del lines[li]
            elif kind == "line_dup":
                lines.insert(li, lines[li])
            else:
                lines[li], lines[li + 1] = lines[li + 1], lines[li]
            text = "\n".join(lines)
        elif kind.startswith("col"):
            ncols = len(lines[0].split(","))
            ci = draw(st.integers(0, ncols - 1))
            cj = draw(st.integers(0, ncols - 1))
            out = []
            for ln in lines:
                cells = ln.split(",")
                if kind == "col_del" and ci < len(cells):
                    del cells[ci]
                elif kind == "col_swap" and max(ci, cj) < len(cells):
                    cells[ci], cells[cj] = cells[cj], cells[ci]
                out.append(",".join(cells))
            text = "\n".join(out)
    return text


def encoded(text: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            text.encode("utf-8"),
            b"\xef\xbb\xbf" + text.encode("utf-8"),
            text.replace("\n", "\r\n").encode("utf-8"),
        ]
    )


# ---------------------------------------------------------------------------------------------
# Running one example and checking the properties


def event(outcome: str) -> None:
    if currently_in_test_context():  # --hypothesis-show-statistics: how examples ended
        _event(outcome)


def _records(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _lines(data: bytes) -> list[str]:
    """The file's lines as the loader numbers them (independent reading): line n = lines[n - 1]."""
    text = data.decode("utf-8", "replace").removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _key(cell: str) -> str | None:
    k = cell.strip().lower()
    return k if _HEX40.fullmatch(k) else None


def _cells(line: str) -> list[str]:
    return next(csv.reader([line]), []) if '"' in line else line.split(",")


def run_and_check(metrics: bytes, operators: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "metrics.csv").write_bytes(metrics)
        (root / "operators.csv").write_bytes(operators)
        req = RunRequest(
            period="2026-10",
            metrics=str(root / "metrics.csv"),
            operators=str(root / "operators.csv"),
            price="0.02",
            out=root / "out",
        )
        try:
            folder, _, _ = run_without_prefect(req)
        except InputError as exc:
            assert str(exc)  # a message an operator can act on
            assert not (root / "out" / "2026-10").exists()
            event("stopped: InputError")
            return "stopped"
        nodes = _records(folder / "node_rewards.csv")
        rejected = _records(folder / "rejected_rows.csv")
    event("completed with rejected rows" if rejected else "completed clean")
    eligible = {n["node_address"].lower() for n in nodes if n["eligible"] == "true"}
    eligible_ops = {n["operator_address"].lower() for n in nodes if n["eligible"] == "true"}
    bad_metrics = [r for r in rejected if r["source_file"].endswith("metrics.csv")]
    bad_registry = [r for r in rejected if r["source_file"].endswith("operators.csv")]

    # 1. by the pipeline's own report
    for r in bad_metrics:
        assert r["node_address"].lower() not in eligible, ("paid despite a rejected row", r)
    for r in bad_registry:
        assert r["node_address"].lower() not in eligible_ops, ("operator paid despite its row", r)

    # 2. by an independent reading of the metrics file
    lines = _lines(metrics)
    header = _cells(lines[0].removeprefix("\ufeff"))
    col = header.index("node_address")
    rejected_lines = {int(r["source_row"]) for r in bad_metrics}
    for number in rejected_lines:
        assert 2 <= number <= len(lines), number
    for r in bad_metrics:
        cells = _cells(lines[int(r["source_row"]) - 1])
        named = _key(cells[col]) if col < len(cells) else None
        if named is not None and r["check"] != "duplicate_date_node":
            assert named == r["node_address"].lower(), ("source_row points at another node", r)
    for number, line in enumerate(lines[1:], start=2):
        cells = _cells(line)
        named = _key(cells[col]) if col < len(cells) else None
        if named in eligible:
            assert number not in rejected_lines, ("a paid node has a rejected row", number, line)
    return "completed"


@settings(FUZZ, max_examples=150)
@given(data=st.one_of(st.binary(max_size=3000), st.binary(max_size=300).map(lambda b: b"PAR1" + b)))
def test_random_bytes_as_metrics(data: bytes) -> None:
    run_and_check(data, BASE_OPERATORS.encode())


@settings(FUZZ, max_examples=40)
@given(data=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_random_bytes_as_operators(data: bytes) -> None:
    run_and_check(BASE_METRICS.encode(), data)


@settings(FUZZ, max_examples=140)
@given(data=st.data())
def test_mutated_metrics(data: st.DataObject) -> None:
    metrics = data.draw(mutated(BASE_METRICS).flatmap(encoded))
    run_and_check(metrics, BASE_OPERATORS.encode())


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_mutated_operators(data: st.DataObject) -> None:
    operators = data.draw(mutated(BASE_OPERATORS).flatmap(encoded))
    run_and_check(BASE_METRICS.encode(), operators)


def test_the_checker_sees_paid_nodes_and_rejections() -> None:
    """The properties are not vacuous: the base month completes and pays, a bad row is caught."""
    assert run_and_check(BASE_METRICS.encode(), BASE_OPERATORS.encode()) == "completed"
    lines = BASE_METRICS.split("\n")
    cells = lines[9].split(",")
    cells[3] = "1.5"
    lines[9] = ",".join(cells)
    assert run_and_check("\n".join(lines).encode(), BASE_OPERATORS.encode()) == "completed"
