"""Generate the bad-input corpus: a tiny valid month and one malformed variant per case.

    .venv/bin/python tests/data/bad/make_corpus.py      # rewrites tests/data/bad/ (deterministic)

The month (period 2026-10): operators o1 (nodes n1, n2), o2 (n3..n5, oracle) and o3 (n6..n9,
miner), every node healthy all 31 days, so every node of the base month is eligible. Metrics rows
are ordered node by node, day by day: node n<k>, day d is on CSV line 2 + 31*(k-1) + (d-1).

Every case names the input it replaces (metrics, operators, price, policy or period) and its exact
expected outcome, written here by hand from the construction (never read back from a run):
exit 2 with message fragments (file, line, column, the fix) for a file-level fault; exit 0 with
the exact set of nodes held as invalid_data and the exact rejected rows for a row-level fault;
exit 0 with node_rewards.csv byte-identical to the base month's for inputs that only differ in
encoding details (byte-order mark, CRLF, quoting, blank lines, column order).

`tests/integration/test_bad_inputs.py` checks that these files are exactly what this script
writes, then runs every case through the pipeline.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

from eth_utils import to_checksum_address  # noqa: E402

from tests.builders import node_rows, operator_row  # noqa: E402

PERIOD = "2026-10"
PRICE = "0.02"
METRICS_HEADER = (
    "date,node_address,operator_address,uptime_ratio,response_rate,throughput_tph,ping_ms,"
    "global_ping_ms,sm_create_ok,sm_create_total,sm_prepare_ok,sm_prepare_total,sm_precommit_ok,"
    "sm_precommit_total,sm_commit_ok,sm_commit_total,tasks_completed,tasks_accurate,stake_pool,stake_cor"
)
REGISTRY_HEADER = "operator_address,payout_address,roles,preapproved,disqualified,bug_points"
COLS = METRICS_HEADER.split(",")
REG_COLS = REGISTRY_HEADER.split(",")


def _address(label: str) -> str:
    """A deterministic EIP-55 address with plenty of letters (so case flips break the checksum)."""
    return to_checksum_address("0x" + hashlib.sha256(f"cor-bad-corpus:{label}".encode()).hexdigest()[:40])


NODES = {f"n{k}": _address(f"node-{k}") for k in range(1, 10)}
OPERATORS = {f"o{k}": _address(f"operator-{k}") for k in range(1, 4)}
NODE_OPERATOR = {"n1": "o1", "n2": "o1", "n3": "o2", "n4": "o2", "n5": "o2"} | {
    f"n{k}": "o3" for k in range(6, 10)
}
ROLES = {"o1": "", "o2": "oracle", "o3": "miner"}


def line(node: str, day: int) -> int:
    """CSV line of node n<k>'s row for day `day` in the base metrics file."""
    return 2 + 31 * (int(node[1:]) - 1) + (day - 1)


def base_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for k in range(1, 10):
        n = f"n{k}"
        rows += node_rows(
            NODES[n],
            OPERATORS[NODE_OPERATOR[n]],
            uptime=f"0.{990 - k}",
            response=f"0.9{k}",
            throughput=f"{100 + 7 * k}.5",
            ping=f"{30 + k}.25",
            gping=f"{80 + 3 * k}",
            sm_ok=20,
            sm_total=20,
            tasks=10 + k,
            stake_cor=f"{4000 + 250 * k}.5",
        )
    return rows


def base_registry() -> list[dict[str, str]]:
    return [operator_row(OPERATORS[o], roles=ROLES[o]) for o in ("o1", "o2", "o3")]


def render(rows: list[dict[str, str]], columns: list[str] = COLS, *, header: str | None = None) -> str:
    out = [header if header is not None else ",".join(columns)]
    out += [",".join(r[c] for c in columns) for r in rows]
    return "\n".join(out) + "\n"


def render_registry(rows: list[dict[str, str]]) -> str:
    return render(rows, REG_COLS)


def set_value(node: str, day: int, column: str, value: str) -> str:
    rows = base_rows()
    rows[line(node, day) - 2][column] = value
    return render(rows)


def set_registry(op: str, column: str, value: str) -> str:
    rows = base_registry()
    rows[int(op[1:]) - 1][column] = value
    return render_registry(rows)


def replace_line(text: str, number: int, new: str) -> str:
    lines = text.split("\n")
    lines[number - 1] = new
    return "\n".join(lines)


def flip_case(address: str) -> str:
    """The address with the case of its first letter flipped: still mixed case, bad checksum."""
    for i, ch in enumerate(address[2:], start=2):
        if ch.isalpha():
            return address[:i] + ch.swapcase() + address[i + 1 :]
    raise AssertionError("no letter to flip")


def cyrillic(address: str) -> str:
    """The lowercase address with its first 'a' replaced by the Cyrillic 'а' (U+0430)."""
    low = address.lower()
    i = low.index("a", 2)
    return low[:i] + "\u0430" + low[i + 1 :]


def fullwidth(address: str) -> str:
    """The address with its last hex digit written as a fullwidth character (U+FF10..)."""
    last = address[-1]
    wide = chr(0xFF10 + int(last)) if last.isdigit() else chr(0xFF41 + ord(last.lower()) - ord("a"))
    return address[:-1] + wide


BASE_METRICS = render(base_rows())
BASE_REGISTRY = render_registry(base_registry())


@dataclass
class Case:
    id: str
    bullet: str  # the bullet it covers
    exit: int
    metrics: str | bytes | None = None  # replacement metrics content
    operators: str | bytes | None = None  # replacement registry content
    policy: str | None = None  # replacement policy TOML
    price: str | None = None
    period: str | None = None
    message: list[str] = field(default_factory=list)  # exit 2: fragments of the error message
    held: list[str] = field(default_factory=list)  # exit 0: nodes held as invalid_data
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (source_row, column, check)
    rejected_file: str = "metrics"  # which input the rejected rows come from
    reasons: dict[str, str] = field(default_factory=dict)  # exit 0: other non-eligible nodes
    same_as_base: bool = False  # exit 0: node_rewards.csv identical to the base month's


def _policy(change: tuple[str, str]) -> str:
    text = (REPO / "policies" / "phase3.toml").read_text("utf-8")
    old, new = change
    assert text.count(old) == 1, old
    return text.replace(old, new)


def render_quoted(rows: list[dict[str, str]]) -> str:
    """Every header name and value in double quotes (a quote inside doubled), as some exporters write."""

    def q(v: str) -> str:
        return '"' + v.replace('"', '""') + '"'

    out = [",".join(q(c) for c in COLS)] + [",".join(q(r[c]) for c in COLS) for r in rows]
    return "\n".join(out) + "\n"


def cases() -> list[Case]:
    L = line
    c: list[Case] = []

    # ---- file-level faults: exit 2, nothing written -----------------------------------------
    latin1 = set_value("n1", 9, "uptime_ratio", "0.98\xb5").encode("latin-1")
    c.append(
        Case(
            "not_utf8",
            "not UTF-8",
            2,
            metrics=latin1,
            message=["not UTF-8", "line 10", "column 'uptime_ratio'", "save the file as UTF-8"],
        )
    )
    c.append(
        Case(
            "utf16",
            "not UTF-8",
            2,
            metrics=BASE_METRICS.encode("utf-16"),
            message=["UTF-16", "line 1", "save the file as UTF-8"],
        )
    )
    c.append(Case("binary_garbage", "not UTF-8", 2, metrics=bytes(range(256)) * 4, message=["not UTF-8"]))
    c.append(
        Case(
            "damaged_parquet",
            "not UTF-8",
            2,
            metrics=b"PAR1" + bytes(200) + b"PAR1",
            message=["not a readable Parquet file", "re-export"],
        )
    )
    c.append(
        Case(
            "html_sign_in_page",
            "missing header",
            2,
            metrics="<!DOCTYPE html>\n<html><body>Please sign in, then retry.</body></html>\n",
            message=["line 1", "HTML/XML page, not CSV", "points at the CSV export"],
        )
    )
    c.append(
        Case(
            "semicolons",
            "wrong delimiter",
            2,
            metrics=BASE_METRICS.replace(",", ";"),
            message=["separated by semicolons", "line 1", "comma-separated"],
        )
    )
    c.append(
        Case(
            "tabs",
            "wrong delimiter",
            2,
            metrics=BASE_METRICS.replace(",", "\t"),
            message=["separated by tabs", "line 1"],
        )
    )
    body_semicolons = BASE_METRICS.split("\n", 1)[0] + "\n" + BASE_METRICS.split("\n", 1)[1].replace(",", ";")
    c.append(
        Case(
            "semicolon_rows",
            "wrong delimiter",
            2,
            metrics=body_semicolons,
            message=["line 2", "1 field(s) but the header has 20", "semicolons"],
        )
    )
    c.append(
        Case(
            "missing_header",
            "missing header",
            2,
            metrics=BASE_METRICS.split("\n", 1)[1],
            message=["line 1", "the first line is data, not a header", "add the header row"],
        )
    )
    c.append(
        Case(
            "missing_column",
            "missing header",
            2,
            metrics=render(base_rows(), [x for x in COLS if x != "stake_cor"]),
            message=["line 1", "column 'stake_cor'", "missing column(s) ['stake_cor']"],
        )
    )
    c.append(
        Case(
            "header_with_spaces",
            "missing header",
            2,
            metrics=BASE_METRICS.replace(",uptime_ratio,", ", uptime_ratio,", 1),
            message=["line 1", "column 'uptime_ratio'", "' uptime_ratio' should be 'uptime_ratio'"],
        )
    )
    dup_cols = [*COLS, "uptime_ratio"]
    c.append(
        Case(
            "duplicated_header_column",
            "duplicated header",
            2,
            metrics=render([r | {} for r in base_rows()], dup_cols),
            message=["line 1", "duplicated header column(s) ['uptime_ratio']"],
        )
    )
    lines = BASE_METRICS.split("\n")
    c.append(
        Case(
            "repeated_header_line",
            "duplicated header",
            2,
            metrics="\n".join([*lines[:100], lines[0], *lines[100:]]),
            message=["line 101", "repeats the header row", "concatenated"],
        )
    )
    c.append(Case("empty_file", "no rows", 2, metrics=b"", message=["the file is empty"]))
    c.append(Case("header_only", "no rows", 2, metrics=METRICS_HEADER + "\n", message=["header but no rows"]))
    c.append(
        Case(
            "date_outside_period",
            "date outside the period",
            2,
            metrics=set_value("n4", 31, "date", "2026-11-01"),
            message=[f"line {L('n4', 31)}", "column 'date'", "outside the period 2026-10", "--period"],
        )
    )
    c.append(
        Case(
            "date_previous_month",
            "date outside the period",
            2,
            period="2026-11",
            message=["line 2", "column 'date'", "date 2026-10-01 is outside the period 2026-11"],
        )
    )
    too_many = replace_line(BASE_METRICS, L("n2", 3), BASE_METRICS.split("\n")[L("n2", 3) - 1] + ",extra")
    c.append(
        Case(
            "ragged_extra_field",
            "wrong delimiter / ragged row",
            2,
            metrics=too_many,
            message=[f"line {L('n2', 3)}", "21 field(s) but the header has 20", "extra comma"],
        )
    )
    short = BASE_METRICS.split("\n")[L("n6", 7) - 1].rsplit(",", 1)[0]
    c.append(
        Case(
            "ragged_missing_field",
            "wrong delimiter / ragged row",
            2,
            metrics=replace_line(BASE_METRICS, L("n6", 7), short),
            message=[f"line {L('n6', 7)}", "19 field(s) but the header has 20", "missing"],
        )
    )
    nl = BASE_METRICS.split("\n")[L("n3", 2) - 1].split(",")
    nl[3] = '"0.9\n7"'
    c.append(
        Case(
            "quoted_line_break",
            "quoted field with an embedded newline",
            2,
            metrics=replace_line(BASE_METRICS, L("n3", 2), ",".join(nl)),
            message=[f"line {L('n3', 2)}", "not closed on this line", "line break"],
        )
    )
    bq = BASE_METRICS.split("\n")[L("n3", 4) - 1].split(",")
    bq[4] = '"0.9"3'
    c.append(
        Case(
            "malformed_quoting",
            "wrong delimiter / ragged row",
            2,
            metrics=replace_line(BASE_METRICS, L("n3", 4), ",".join(bq)),
            message=[f"line {L('n3', 4)}", "malformed quoting"],
        )
    )
    c.append(
        Case(
            "node_unattributable",
            "wrong length address",
            2,
            metrics=set_value("n5", 12, "node_address", "0x1234"),
            message=[f"line {L('n5', 12)}", "column 'node_address'", "cannot be held", "delete the row"],
        )
    )
    c.append(
        Case(
            "node_empty",
            "empty address",
            2,
            metrics=set_value("n5", 13, "node_address", ""),
            message=[f"line {L('n5', 13)}", "column 'node_address'", "cannot be held"],
        )
    )
    c.append(
        Case(
            "wrong_file_as_metrics",
            "missing header",
            2,
            metrics=BASE_REGISTRY,
            message=["line 1", "missing column(s)", "the header must contain"],
        )
    )
    reg = base_registry()
    c.append(
        Case(
            "registry_duplicate_operator",
            "registry with a duplicated operator",
            2,
            operators=render_registry([*reg, reg[1]]),
            message=["line 3", "column 'operator_address'", "appears more than once", "lines [3, 5]"],
        )
    )
    spaced = reg[0] | {"operator_address": " " + reg[0]["operator_address"].lower(), "roles": "miner"}
    c.append(
        Case(
            "registry_duplicate_operator_written_differently",
            "registry with a duplicated operator",
            2,
            operators=render_registry([*reg, spaced]),
            message=["line 2", "appears more than once", "lines [2, 5]"],
        )
    )
    every = [r | {"uptime_ratio": "1.5"} for r in base_rows()]
    c.append(
        Case(
            "every_metrics_row_rejected",
            "no rows",
            2,
            metrics=render(every),
            message=[
                "line 2",
                "column 'uptime_ratio'",
                "every row of the file was rejected",
                "range[0,1]",
                "the right file",
            ],
        )
    )
    c.append(
        Case(
            "every_registry_row_rejected",
            "no rows",
            2,
            operators=render_registry([r | {"preapproved": "no"} for r in base_registry()]),
            message=["line 2", "column 'preapproved'", "every row of the file was rejected", "boolean"],
        )
    )
    c.append(
        Case(
            "registry_header_only",
            "no rows",
            2,
            operators=REGISTRY_HEADER + "\n",
            message=["header but no rows"],
        )
    )
    for pid, price, frag in (
        ("price_zero", "0", "must be a positive plain decimal"),
        ("price_negative", "-0.02", "must be a positive plain decimal"),
        ("price_not_a_number", "abc", "is not a number"),
        ("price_nan", "NaN", "must be a positive plain decimal"),
        ("price_infinity", "Infinity", "must be a positive plain decimal"),
        ("price_exponent", "2e-2", "must be a positive plain decimal"),
        ("price_comma", "0,02", "is not a number"),
    ):
        c.append(Case(pid, "price <= 0 or not a number", 2, price=price, message=[frag, "--price"]))
    c.append(
        Case(
            "period_not_a_month",
            "date outside the period",
            2,
            period="2026-13",
            message=["'2026-13' is not a month", "YYYY-MM"],
        )
    )
    c.append(
        Case(
            "policy_unknown_key",
            "unknown policy key",
            2,
            policy=_policy(("min_tasks = 1 ", "min_task = 1 ")),
            message=["key 'eligibility.min_task' is not a known policy key"],
        )
    )
    c.append(
        Case(
            "policy_negative_rate",
            "policy value out of range",
            2,
            policy=_policy(('oracle = "0.10"', 'oracle = "-0.10"')),
            message=["key 'amounts.roles.oracle'", ">= 0"],
        )
    )
    c.append(
        Case(
            "policy_tiers_out_of_order",
            "policy value out of range",
            2,
            policy=_policy(("first = 6\nlast = 10", "first = 11\nlast = 15")),
            message=["key 'rank_tiers[1]'", "must start at slot 6"],
        )
    )
    c.append(
        Case(
            "policy_min_uptime_above_1",
            "policy value out of range",
            2,
            policy=_policy(('min_uptime = "0.90"', 'min_uptime = "1.5"')),
            message=["key 'eligibility.min_uptime'", "between 0 and 1"],
        )
    )
    c.append(
        Case(
            "policy_not_toml",
            "policy value out of range",
            2,
            policy="name = phase3\n[[",
            message=["not valid UTF-8 TOML"],
        )
    )

    # ---- not faults: same result as the base month ------------------------------------------
    c.append(
        Case(
            "bom",
            "byte-order mark handled",
            0,
            metrics=b"\xef\xbb\xbf" + BASE_METRICS.encode(),
            same_as_base=True,
        )
    )
    c.append(Case("crlf", "CRLF handled", 0, metrics=BASE_METRICS.replace("\n", "\r\n"), same_as_base=True))
    c.append(
        Case(
            "bom_crlf_both_files",
            "byte-order mark and CRLF handled",
            0,
            metrics=b"\xef\xbb\xbf" + BASE_METRICS.replace("\n", "\r\n").encode(),
            operators=b"\xef\xbb\xbf" + BASE_REGISTRY.replace("\n", "\r\n").encode(),
            same_as_base=True,
        )
    )
    c.append(Case("cr_only", "CRLF handled", 0, metrics=BASE_METRICS.replace("\n", "\r"), same_as_base=True))
    c.append(
        Case("no_final_newline", "CRLF handled", 0, metrics=BASE_METRICS.rstrip("\n"), same_as_base=True)
    )
    c.append(Case("all_quoted", "quoting handled", 0, metrics=render_quoted(base_rows()), same_as_base=True))
    c.append(
        Case(
            "blank_lines",
            "blank lines skipped",
            0,
            metrics=BASE_METRICS.replace("\n", "\n\n", 5) + "\n  \n\n",
            same_as_base=True,
        )
    )
    shuffled = [*reversed(COLS[3:]), *COLS[:3], "comment"]
    c.append(
        Case(
            "columns_reordered_and_extra",
            "extra columns ignored",
            0,
            metrics=render([r | {"comment": "ok"} for r in base_rows()], shuffled),
            same_as_base=True,
        )
    )
    lower_rows = [
        r
        | {
            "node_address": r["node_address"].lower(),
            "operator_address": r["operator_address"].upper().replace("0X", "0x"),
        }
        for r in base_rows()
    ]
    c.append(
        Case(
            "addresses_lower_and_upper_case",
            "EIP-55 checksum",
            0,
            metrics=render(lower_rows),
            same_as_base=True,
        )
    )
    rows = [
        r
        for r in base_rows()
        if not (r["node_address"] == NODES["n1"] and r["date"][-2:] in ("03", "09", "17", "25", "30"))
    ]
    rows = [r for r in rows if not (r["node_address"] == NODES["n7"] and r["date"][-2:] in ("01", "31"))]
    c.append(
        Case(
            "missing_days",
            "a period with no rows for some days is not a fault",
            0,
            metrics=render(rows),
            reasons={"n1": "low_uptime"},
        )
    )

    # ---- row-level faults: exit 0, the row rejected and its node held ------------------------
    def row(
        cid: str,
        bullet: str,
        node: str,
        day: int,
        column: str,
        value: str,
        check: str,
        held: tuple[str, ...] | None = None,
    ) -> None:
        c.append(
            Case(
                cid,
                bullet,
                0,
                metrics=set_value(node, day, column, value),
                held=list(held or (node,)),
                rejected=[(L(node, day), column, check)],
            )
        )

    row("uptime_above_1", "out-of-range value", "n2", 10, "uptime_ratio", "1.7", "range[0,1]")
    row("uptime_negative", "out-of-range value", "n2", 11, "uptime_ratio", "-0.5", "range[0,1]")
    row("uptime_negative_zero", "out-of-range value", "n3", 1, "uptime_ratio", "-0", "range[0,1]")
    row("response_empty", "NaN/inf/empty where a number is required", "n3", 5, "response_rate", "", "number")
    row("uptime_nan", "NaN/inf/empty where a number is required", "n4", 6, "uptime_ratio", "NaN", "number")
    row("uptime_inf", "NaN/inf/empty where a number is required", "n4", 7, "uptime_ratio", "inf", "number")
    row(
        "throughput_infinity",
        "NaN/inf/empty where a number is required",
        "n5",
        8,
        "throughput_tph",
        "Infinity",
        "number",
    )
    row("uptime_leading_space", "whitespace", "n6", 9, "uptime_ratio", " 0.5", "number")
    row("uptime_leading_plus", "out-of-range value", "n6", 10, "uptime_ratio", "+0.5", "number")
    row("uptime_exponent", "scientific notation", "n7", 11, "uptime_ratio", "9.5e-1", "number")
    row("throughput_huge", "out-of-range value", "n7", 12, "throughput_tph", "9" * 15, "range[0,1e+08]")
    row("ping_zero", "out-of-range value", "n8", 13, "ping_ms", "0", "range(0,inf)")
    row(
        "stake_cor_exponent",
        "scientific notation in stake_cor",
        "n8",
        31,
        "stake_cor",
        "1e4",
        "plain_decimal",
    )
    row(
        "stake_cor_19_decimals",
        "more than 18 decimals in stake_cor",
        "n9",
        31,
        "stake_cor",
        "5000." + "1" * 19,
        "plain_decimal",
    )
    row("stake_cor_negative", "out-of-range value", "n9", 30, "stake_cor", "-5000", "plain_decimal")
    row(
        "stake_cor_arabic_digits",
        "homoglyphs",
        "n1",
        31,
        "stake_cor",
        "\u0665\u0660\u0660\u0660",
        "plain_decimal",
    )
    row("stake_pool_zero", "out-of-range value", "n1", 30, "stake_pool", "0", "range[1,inf)")
    row("tasks_fraction", "out-of-range value", "n2", 1, "tasks_completed", "11.5", "integer")
    row("tasks_huge", "out-of-range value", "n2", 2, "tasks_completed", "9" * 13, "range[0,1e12]")
    row("date_invalid", "out-of-range value", "n3", 20, "date", "2026-10-32", "date_valid")
    row("date_slashes", "out-of-range value", "n3", 21, "date", "2026/10/21", "date_format")
    row("uptime_formula", "out-of-range value", "n4", 22, "uptime_ratio", "=1+1", "number")
    row("uptime_nul_byte", "out-of-range value", "n4", 23, "uptime_ratio", "0.9\x00", "number")
    row("sm_ok_above_total", "ok > total", "n5", 24, "sm_create_ok", "21", "sm_create_ok<=sm_create_total")
    row(
        "accurate_above_completed",
        "tasks_accurate > tasks_completed",
        "n5",
        25,
        "tasks_accurate",
        "99",
        "tasks_accurate<=tasks_completed",
    )
    row(
        "node_bad_checksum",
        "bad EIP-55 checksum",
        "n6",
        14,
        "node_address",
        flip_case(NODES["n6"]),
        "address_checksum",
    )
    row(
        "operator_bad_checksum",
        "bad EIP-55 checksum",
        "n6",
        15,
        "operator_address",
        flip_case(OPERATORS["o3"]),
        "address_checksum",
    )
    row("node_trailing_space", "whitespace", "n7", 16, "node_address", NODES["n7"] + " ", "address_format")
    row("node_cyrillic_a", "homoglyphs", "n7", 17, "node_address", cyrillic(NODES["n7"]), "address_format")
    row(
        "node_fullwidth_digit",
        "homoglyphs",
        "n8",
        18,
        "node_address",
        fullwidth(NODES["n8"]),
        "address_format",
    )
    row(
        "node_zero_width_space",
        "homoglyphs",
        "n8",
        19,
        "node_address",
        NODES["n8"][:10] + "\u200b" + NODES["n8"][10:],
        "address_format",
    )
    row("node_one_char_short", "wrong length", "n9", 20, "node_address", NODES["n9"][:-1], "address_format")
    row("node_one_char_long", "wrong length", "n9", 21, "node_address", NODES["n9"] + "0", "address_format")
    row("node_no_0x", "wrong length", "n1", 22, "node_address", NODES["n1"][2:], "address_format")
    row(
        "operator_wrong_length",
        "wrong length",
        "n2",
        23,
        "operator_address",
        OPERATORS["o1"][:-3],
        "address_format",
    )
    row(
        "operator_cyrillic",
        "homoglyphs",
        "n3",
        24,
        "operator_address",
        cyrillic(OPERATORS["o2"]),
        "address_format",
    )

    dup = base_rows()
    dup.insert(L("n4", 9) - 1, dict(dup[L("n4", 9) - 2]))  # a second copy right after the first
    c.append(
        Case(
            "duplicate_date_node",
            "duplicate (date, node_address): all copies rejected",
            0,
            metrics=render(dup),
            held=["n4"],
            rejected=[
                (L("n4", 9), "node_address", "duplicate_date_node"),
                (L("n4", 9) + 1, "node_address", "duplicate_date_node"),
            ],
        )
    )
    two = base_rows()
    two[L("n1", 3) - 2]["uptime_ratio"] = "2"
    two[L("n9", 4) - 2]["tasks_accurate"] = "1000"
    two[L("n9", 4) - 2]["response_rate"] = "1.5"
    c.append(
        Case(
            "faults_on_two_nodes",
            "out-of-range value",
            0,
            metrics=render(two),
            held=["n1", "n9"],
            rejected=[
                (L("n1", 3), "uptime_ratio", "range[0,1]"),
                (L("n9", 4), "response_rate", "range[0,1]"),
                (L("n9", 4), "tasks_accurate", "tasks_accurate<=tasks_completed"),
            ],
        )
    )
    whole = [r | ({"uptime_ratio": "x"} if r["node_address"] == NODES["n5"] else {}) for r in base_rows()]
    c.append(
        Case(
            "every_row_of_a_node_rejected",
            "out-of-range value",
            0,
            metrics=render(whole),
            held=["n5"],
            rejected=[(L("n5", d), "uptime_ratio", "number") for d in range(1, 32)],
        )
    )
    # line numbers survive CRLF, blank lines and quoting
    crlf_bad = set_value("n6", 20, "uptime_ratio", "1.01").replace("\n", "\r\n")
    c.append(
        Case(
            "crlf_with_bad_row",
            "CRLF handled",
            0,
            metrics=crlf_bad,
            held=["n6"],
            rejected=[(L("n6", 20), "uptime_ratio", "range[0,1]")],
        )
    )
    first, second, third, rest = set_value("n6", 21, "uptime_ratio", "1.01").split("\n", 3)
    blank_bad = f"{first}\n\n{second}\n \n{third}\n{rest}"  # two blank lines after lines 1 and 2
    c.append(
        Case(
            "blank_lines_before_bad_row",
            "blank lines skipped",
            0,
            metrics=blank_bad,
            held=["n6"],
            rejected=[(L("n6", 21) + 2, "uptime_ratio", "range[0,1]")],
        )
    )
    comma = base_rows()
    comma[L("n2", 22) - 2]["response_rate"] = "1,5"
    quoted_bad = render_quoted(comma)
    c.append(
        Case(
            "quoted_comma_value",
            "quoting handled",
            0,
            metrics=quoted_bad,
            held=["n2"],
            rejected=[(L("n2", 22), "response_rate", "number")],
        )
    )

    # ---- registry row faults: the operator's nodes are held ---------------------------------
    o1_nodes, o2_nodes = ["n1", "n2"], ["n3", "n4", "n5"]
    for cid, bullet, op, column, value, check, held in (
        (
            "registry_payout_bad_checksum",
            "bad EIP-55 checksum",
            "o2",
            "payout_address",
            flip_case(OPERATORS["o2"]),
            "address_checksum",
            o2_nodes,
        ),
        (
            "registry_payout_zero_address",
            "out-of-range value",
            "o2",
            "payout_address",
            "0x" + "0" * 40,
            "not_zero_address",
            o2_nodes,
        ),
        ("registry_unknown_role", "out-of-range value", "o1", "roles", "validator", "known_roles", o1_nodes),
        ("registry_boolean_yes", "out-of-range value", "o1", "preapproved", "yes", "boolean", o1_nodes),
        ("registry_bug_points_negative", "out-of-range value", "o1", "bug_points", "-1", "integer", o1_nodes),
        (
            "registry_operator_whitespace",
            "whitespace",
            "o2",
            "operator_address",
            OPERATORS["o2"] + " ",
            "address_format",
            o2_nodes,
        ),
    ):
        c.append(
            Case(
                cid,
                bullet,
                0,
                operators=set_registry(op, column, value),
                held=held,
                rejected=[(int(op[1:]) + 1, column, check)],
                rejected_file="operators",
            )
        )
    return c


def write_files() -> dict[str, bytes]:
    """Every corpus file, name -> bytes (the cases table included)."""
    files: dict[str, bytes] = {
        "base/metrics.csv": BASE_METRICS.encode(),
        "base/operators.csv": BASE_REGISTRY.encode(),
    }
    toml = [
        "# Generated by tests/data/bad/make_corpus.py - do not edit by hand.",
        "# Each case replaces one input of the base month (base/) and states the exact outcome.",
        "",
        "[base]",
        f'period = "{PERIOD}"',
        f'price = "{PRICE}"',
        'metrics = "base/metrics.csv"',
        'operators = "base/operators.csv"',
        "",
        "[nodes]",
        *[f'{k} = "{v}"' for k, v in NODES.items()],
        "",
        "[operators]",
        *[f'{k} = "{v}"' for k, v in OPERATORS.items()],
    ]

    def s(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    for case in cases():
        toml += ["", "[[case]]", f"id = {s(case.id)}", f"covers = {s(case.bullet)}", f"exit = {case.exit}"]
        for role, content, ext in (
            ("metrics", case.metrics, "csv"),
            ("operators", case.operators, "csv"),
            ("policy", case.policy, "toml"),
        ):
            if content is not None:
                name = f"{role}/{case.id}.{ext}"
                files[name] = content if isinstance(content, bytes) else content.encode("utf-8")
                toml.append(f"{role} = {s(name)}")
        for key in ("price", "period"):
            if getattr(case, key) is not None:
                toml.append(f"{key} = {s(getattr(case, key))}")
        if case.message:
            toml.append("message = [" + ", ".join(s(x) for x in case.message) + "]")
        if case.exit == 0:
            toml.append("held = [" + ", ".join(s(x) for x in case.held) + "]")
            toml.append(
                "rejected = [" + ", ".join(f"[{r}, {s(col)}, {s(ck)}]" for r, col, ck in case.rejected) + "]"
            )
            if case.rejected:
                toml.append(f"rejected_file = {s(case.rejected_file)}")
            if case.reasons:
                toml.append("reasons = {" + ", ".join(f"{k} = {s(v)}" for k, v in case.reasons.items()) + "}")
            if case.same_as_base:
                toml.append("same_as_base = true")
    files["cases.toml"] = ("\n".join(toml) + "\n").encode("utf-8")
    return files


def main() -> None:
    for old in sorted(HERE.rglob("*")):
        if old.is_file() and old.suffix in (".csv", ".toml"):
            old.unlink()
    for name, data in write_files().items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(write_files())} files under {HERE}")


if __name__ == "__main__":
    main()
