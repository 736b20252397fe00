"""Pandera models of the two inputs, and their parsing into typed frames.

Inputs arrive as tables of *strings* (the loader never lets pandas guess a type, so money never
passes through float and "1e3" or " 0.5" cannot sneak in). Validation has two levels:

* file-level faults (missing column, no rows, a date outside the period, a duplicated operator,
  more rows or nodes than the limits) raise `InputError` - the run stops;
* row-level faults are found by the Pandera schema (lazy, vectorized checks) and returned as
  `Finding` rows; the affected node is held (`invalid_data`), other nodes are paid.

Numbers are plain ASCII decimal notation only: no sign but a leading '-' (reported as out of
range), no exponent, no whitespace, no inf/nan, no non-ASCII digits ('٣' is a digit to Python's
`\\d` and to `Decimal`, never to this module).

A rejected row holds the node it is *about*, even when its address is what is wrong: the node is
identified by a forgiving key (case, whitespace, zero-width characters, Cyrillic/Greek/fullwidth
look-alikes, a missing 0x) and, failing that, by a unique node of the file one edit away (a
dropped, doubled or mistyped character). A rejected row that names no node of the file at all
stops the run: holding no node would let the row's node be paid on its remaining rows.

The frame index is the row's CSV line number (header = line 1), so every finding points at a line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pa_compute

from payouts.addresses import (
    BAD_CHECKSUM,
    BAD_FORMAT,
    ZERO_ADDRESS,
    check_address_series,
)
from payouts.errors import Finding, InputError
from payouts.period import Period

STATES = ("create", "prepare", "precommit", "commit")
SM_COLUMNS = tuple(c for s in STATES for c in (f"sm_{s}_ok", f"sm_{s}_total"))
METRICS_COLUMNS: tuple[str, ...] = (
    "date",
    "node_address",
    "operator_address",
    "uptime_ratio",
    "response_rate",
    "throughput_tph",
    "ping_ms",
    "global_ping_ms",
    *SM_COLUMNS,
    "tasks_completed",
    "tasks_accurate",
    "stake_pool",
    "stake_cor",
)
REGISTRY_COLUMNS: tuple[str, ...] = (
    "operator_address",
    "payout_address",
    "roles",
    "preapproved",
    "disqualified",
    "bug_points",
)
FLOAT_COLUMNS = ("uptime_ratio", "response_rate", "throughput_tph", "ping_ms", "global_ping_ms")
INT_COLUMNS = (*SM_COLUMNS, "tasks_completed", "tasks_accurate", "stake_pool")

#: uptime_ratio and response_rate are summed exactly as integer nano-units (1e-9): a month of
#: 31 x 0.9 is exactly 0.90. throughput_tph is kept in micro-units (1e-6 tasks/hour).
UPTIME_SCALE = 10**9
THROUGHPUT_SCALE = 10**6
#: Upper bound on throughput_tph (tasks/hour): far above any real node, it keeps exact sums in range.
MAX_THROUGHPUT = 1e8

#: Size limits (raise them with `--max-rows` / `--max-nodes`): far beyond a real month (100k nodes
#: x 31 days = 3.1M rows), they stop a wrong or hostile file before it can exhaust memory.
DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_MAX_NODES = 100_000

#: Counts (tasks, state-machine steps) are at most 10^12 per day: sums over a month stay exact in int64.
MAX_COUNT = 10**12
#: Rejected rows whose node needs the one-edit search (bounds its cost); more stop the run.
MAX_UNREADABLE_NODES = 10_000
#: Longest input value echoed into rejected_rows.csv (longer ones are cut, with their length).
MAX_ECHO_CHARS = 120

# ASCII only: [0-9], never \d (which matches any Unicode digit).
_INT_RE = r"[0-9]{1,18}"
_DECIMAL_RE = r"[0-9]{1,30}(\.[0-9]{1,18})?"
_DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
#: A float column's plain notation; the '-' is accepted here so a negative is reported as "range".
_FLOAT_RE = r"-?[0-9]{1,15}(\.[0-9]{1,30})?"


# ---------------------------------------------------------------------------------------------
# Vectorized checks on string columns. Each returns True where the value passes. A value that
# is not a number passes the range checks, so it is reported once (as "number"), not twice.


def _plain(s: pd.Series, pattern: str) -> pd.Series:
    return s.str.fullmatch(pattern).fillna(False).astype(bool)


def _cast(s: pd.Series, pattern: str) -> pd.Series:
    """float64 value of the values matching `pattern` (plain notation), NaN for every other value.

    pyarrow's cast (correctly rounded, ~8x faster than pd.to_numeric on strings) sees only values
    the ASCII pattern accepted, so it never decides what a number is.
    """
    masked = pa_arrow.array(s.where(_plain(s, pattern)), type=pa_arrow.string(), from_pandas=True)
    values = pa_compute.cast(masked, pa_arrow.float64()).to_numpy(zero_copy_only=False)
    return pd.Series(values, index=s.index, dtype="float64")


def _as_float(s: pd.Series) -> pd.Series:
    """The value of plain-notation numbers; NaN for anything else (" 0.5", "1e3", "inf", "+1")."""
    return _cast(s, _FLOAT_RE)


def _is_number(s: pd.Series) -> pd.Series:
    v = _as_float(s)
    return pd.Series(np.isfinite(v.to_numpy()), index=s.index)


def _range(lo: float, hi: float | None, lo_open: bool = False) -> pa.Check:
    def fn(s: pd.Series) -> pd.Series:
        v = _as_float(s).to_numpy()
        ok = np.ones(len(v), dtype=bool)
        with np.errstate(invalid="ignore"):
            ok &= (v > lo) if lo_open else (v >= lo)
            if hi is not None:
                ok &= v <= hi
        if lo >= 0:  # "-0" and "-0.0" are negative zero: refused like any negative
            ok &= ~s.str.startswith("-").fillna(False).to_numpy(dtype=bool)
        return pd.Series(ok | ~np.isfinite(v), index=s.index)

    left = "(" if lo_open else "["
    right = "]" if hi is not None else ")"
    name = f"range{left}{lo:g},{'inf' if hi is None else format(hi, 'g')}{right}"
    return pa.Check(fn, name=name)


def _number_check(*, optional: bool = False) -> pa.Check:
    def fn(s: pd.Series) -> pd.Series:
        ok = _is_number(s)
        return ok | (s == "") if optional else ok

    return pa.Check(fn, name="number_or_empty" if optional else "number")


def _regex_check(pattern: str, name: str) -> pa.Check:
    return pa.Check(lambda s: _plain(s, pattern), name=name)


def _int_range(lo: int, hi: int) -> pa.Check:
    """lo <= value <= hi for integers (non-integers pass: reported once, as "integer")."""

    def fn(s: pd.Series) -> pd.Series:
        v = _cast(s, _INT_RE)
        return ((v >= lo) & (v <= hi)) | v.isna()

    return pa.Check(fn, name=f"range[{lo},1e{len(str(hi)) - 1}]")


def _address_checks(problems: pd.Series | None = None) -> list[pa.Check]:
    """Format and EIP-55 checks; `problems` (check_address_series' codes, computed once by the
    caller for the same frame) saves hashing every distinct address twice more."""

    def codes(s: pd.Series) -> pd.Series:
        return check_address_series(s)[1] if problems is None else problems.reindex(s.index)

    return [
        pa.Check(lambda s: codes(s) != BAD_FORMAT, name=BAD_FORMAT),
        pa.Check(lambda s: codes(s) != BAD_CHECKSUM, name=BAD_CHECKSUM),
    ]


def _valid_date(s: pd.Series) -> pd.Series:
    """A real calendar date (a value not in YYYY-MM-DD form passes: reported as date_format)."""
    shaped = _plain(s, _DATE_RE)
    return pd.to_datetime(s.where(shaped), format="%Y-%m-%d", errors="coerce").notna() | ~shaped


def _le(small: str, big: str) -> pa.Check:
    def fn(df: pd.DataFrame) -> pd.Series:
        a = _cast(df[small], _INT_RE)
        b = _cast(df[big], _INT_RE)
        return (a <= b) | a.isna() | b.isna()

    return pa.Check(fn, name=f"{small}<={big}")


def _unique_date_node(df: pd.DataFrame) -> pd.Series:
    key = df["date"] + "|" + df["node_address"].str.lower()
    return ~key.duplicated(keep=False)


def _str_col(checks: list[pa.Check]) -> pa.Column:
    return pa.Column(pa.String, checks=checks, nullable=False, coerce=False)


def metrics_schema(addresses: Mapping[str, pd.Series] | None = None) -> pa.DataFrameSchema:
    """Pandera model of the metrics snapshot (spec 1.1), over string columns.

    `addresses`: optional column -> `check_address_series` problem codes of the frame to validate.
    """
    addresses = addresses or {}
    cols: dict[str, pa.Column] = {
        "date": _str_col(
            [
                _regex_check(_DATE_RE, "date_format"),
                pa.Check(_valid_date, name="date_valid"),
            ]
        ),
        "node_address": _str_col(_address_checks(addresses.get("node_address"))),
        "operator_address": _str_col(_address_checks(addresses.get("operator_address"))),
        "uptime_ratio": _str_col([_number_check(), _range(0, 1)]),
        "response_rate": _str_col([_number_check(), _range(0, 1)]),
        "throughput_tph": _str_col([_number_check(), _range(0, MAX_THROUGHPUT)]),
        "ping_ms": _str_col([_number_check(optional=True), _range(0, None, lo_open=True)]),
        "global_ping_ms": _str_col([_number_check(optional=True), _range(0, None, lo_open=True)]),
        "stake_pool": _str_col(
            [
                _regex_check(_INT_RE, "integer"),
                pa.Check(
                    lambda s: _cast(s, _INT_RE).fillna(1) >= 1,
                    name="range[1,inf)",
                ),
            ]
        ),
        "stake_cor": _str_col([_regex_check(_DECIMAL_RE, "plain_decimal")]),
    }
    for c in (*SM_COLUMNS, "tasks_completed", "tasks_accurate"):
        cols[c] = _str_col([_regex_check(_INT_RE, "integer"), _int_range(0, MAX_COUNT)])
    checks = [_le(f"sm_{s}_ok", f"sm_{s}_total") for s in STATES]
    checks.append(_le("tasks_accurate", "tasks_completed"))
    checks.append(pa.Check(_unique_date_node, name="duplicate_date_node"))
    return pa.DataFrameSchema(cols, checks=checks, strict=False, ordered=False, name="metrics")


def registry_schema(roles: frozenset[str]) -> pa.DataFrameSchema:
    """Pandera model of the operator registry (spec 1.2), over string columns."""

    def roles_ok(s: pd.Series) -> pd.Series:
        parts = s.str.split(";")
        return parts.map(lambda xs: all(x.strip() in roles for x in xs if x.strip() != "")).astype(bool)

    bool_check = _regex_check(r"(?i:true|false)", "boolean")
    return pa.DataFrameSchema(
        {
            "operator_address": _str_col(_address_checks()),
            "payout_address": _str_col(
                [
                    *_address_checks(),
                    pa.Check(
                        lambda s: s.str.lower() != ZERO_ADDRESS,
                        name="not_zero_address",
                    ),
                ]
            ),
            "roles": _str_col([pa.Check(roles_ok, name="known_roles")]),
            "preapproved": _str_col([bool_check]),
            "disqualified": _str_col([bool_check]),
            "bug_points": _str_col([_regex_check(_INT_RE, "integer")]),
        },
        strict=False,
        name="operators",
    )


# ---------------------------------------------------------------------------------------------
# Which account does a (possibly malformed) address name? Used to HOLD a node, never to accept one.

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\u2066\u2069\ufeff\u00ad\u180e"))
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "А": "a", "в": "b", "В": "b", "ь": "b", "Ь": "b", "с": "c", "С": "c", "ԁ": "d",
        "е": "e", "Е": "e", "х": "x", "Х": "x", "о": "0", "О": "0", "і": "1", "І": "1", "ӏ": "1",
        "Ӏ": "1", "з": "3", "З": "3", "б": "6",
        # Greek
        "α": "a", "Α": "a", "β": "b", "Β": "b", "ϲ": "c", "Ϲ": "c", "ε": "e", "Ε": "e", "χ": "x",
        "Χ": "x", "ο": "0", "Ο": "0", "ι": "1", "Ι": "1",
        # Latin letters that look like digits, and the multiplication sign
        "o": "0", "O": "0", "l": "1", "I": "1", "×": "x",
    }
)  # fmt: skip
_KEY_RE = re.compile(r"(?:0x)?([0-9a-f]{40})")
_LOWER_HEX40 = re.compile(r"0x[0-9a-f]{40}")
_EDIT_ALPHABET = "0123456789abcdefx"


def _forgiving(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).translate(_INVISIBLE).translate(_LOOKALIKES)
    return "".join(text.split()).strip("'\"`").lower()


def address_key(value: object) -> str | None:
    """The lowercase `0x` + 40 hex account `value` most plausibly names, or None.

    Forgives case, whitespace, invisible characters, Cyrillic/Greek/fullwidth look-alikes, quotes
    and a missing `0x`: "0xAB..", " 0xab.. ", "0xаb.." (Cyrillic а) all name the same account.
    """
    if not isinstance(value, str):
        return None
    low = value.lower()
    if _LOWER_HEX40.fullmatch(low):
        return low
    m = _KEY_RE.fullmatch(_forgiving(value))
    return "0x" + m.group(1) if m else None


def _one_edit(s: str) -> set[str]:
    """Every string one insertion, deletion, substitution or adjacent swap away from `s`."""
    out: set[str] = set()
    for i in range(len(s) + 1):
        for c in _EDIT_ALPHABET:
            out.add(s[:i] + c + s[i:])
    for i in range(len(s)):
        out.add(s[:i] + s[i + 1 :])
        for c in _EDIT_ALPHABET:
            out.add(s[:i] + c + s[i + 1 :])
        if i + 1 < len(s):
            out.add(s[:i] + s[i + 1] + s[i] + s[i + 2 :])
    return out


def near_keys(value: str, known: set[str]) -> frozenset[str]:
    """The known account keys one edit away from an unreadable address (a dropped, doubled,
    mistyped or swapped character); empty when none is."""
    s = _forgiving(value)
    if not 41 <= len(s) <= 43:
        return frozenset()
    return frozenset(_one_edit(s) & known)


def _keys(values: pd.Series) -> pd.Series:
    """`address_key` of every value (computed once per distinct value); None where unreadable."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    keys = np.array([address_key(u) for u in uniques] + [None], dtype=object)
    return pd.Series(keys[codes], index=values.index, dtype=object)


def _checksummed(keys: pd.Series) -> pd.Series:
    """EIP-55 form of lowercase keys (None stays <NA>)."""
    fixed, _ = check_address_series(keys.astype("string"))
    return fixed


def echo(value: object) -> str:
    """An input value as written to rejected_rows.csv: printable ASCII as is, everything else
    escaped (a Cyrillic 'а' shows as \\u0430, a NUL as \\x00, a line break as \\n), cut at
    MAX_ECHO_CHARS characters - so the file stays one line per row and a look-alike is visible."""
    text = str(value)
    out = []
    for ch in text[:MAX_ECHO_CHARS]:
        if ch == "\\":
            out.append("\\\\")
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    cut = f"...({len(text)} characters)" if len(text) > MAX_ECHO_CHARS else ""
    return "".join(out) + cut


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedMetrics:
    """Typed valid rows, the nodes held for invalid data, and the findings."""

    rows: pd.DataFrame  # valid rows only, typed (see _typed_metrics)
    held: pd.DataFrame  # node_address, operator_address of nodes with >= 1 rejected row
    findings: tuple[Finding, ...]
    row_count: int


@dataclass(frozen=True)
class ParsedRegistry:
    operators: pd.DataFrame  # valid rows, typed
    held_operators: frozenset[str]  # EIP-55 operators whose registry row was rejected
    findings: tuple[Finding, ...]
    row_count: int


def _norm_name(name: str) -> str:
    """A header name compared loosely: ' Uptime-Ratio' and 'uptime_ratio' are the same column."""
    text = unicodedata.normalize("NFKC", name).translate(_INVISIBLE).strip().strip('"').lower()
    return re.sub(r"[\s\-]+", "_", text)


def require_columns(df: pd.DataFrame, required: tuple[str, ...], source: str) -> None:
    """File-level: every required column present exactly once, and at least one row."""
    cols = [str(c) for c in df.columns]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise InputError(
            f"duplicated header column(s) {dupes}", file=source, row=1, fix="keep one column of each name"
        )
    missing = [c for c in required if c not in cols]
    if missing:
        near = {_norm_name(c): c for c in cols}
        hints = [f"{near[_norm_name(m)]!r} should be {m!r}" for m in missing if _norm_name(m) in near]
        first = cols[0] if cols else ""
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|0[xX][0-9a-fA-F]{40}", first.strip()):
            fix = f"the first line is data, not a header: add the header row {','.join(required)}"
        elif hints:
            fix = f"rename the column(s): {'; '.join(hints)} (no spaces, exact lowercase names)"
        else:
            fix = f"the header must contain {list(required)}"
        shown = cols if len(cols) <= 30 else [*cols[:30], "..."]
        raise InputError(
            f"missing column(s) {missing}; found {shown}", file=source, row=1, column=missing[0], fix=fix
        )
    if len(df) == 0:
        raise InputError("the file has a header but no rows", file=source, fix="export the data rows too")


def _check_size(rows: int, max_rows: int, source: str) -> None:
    if rows > max_rows:
        raise InputError(
            f"{rows} rows, above the limit of {max_rows}",
            file=source,
            fix="check it is the right file (one period's snapshot), or raise the limit with --max-rows",
        )


def _failed_lines(err: pa.errors.SchemaErrors | None, source: str) -> list[int]:
    """CSV lines with at least one failed check; a failure not tied to a row is file-level."""
    if err is None:
        return []
    fc = err.failure_cases
    loose = fc[fc["index"].isna()]
    if len(loose):  # e.g. a column of the wrong type: the loader only produces strings
        first = loose.iloc[0]
        raise InputError(
            f"column {first['column']!r} failed the check {first['check']!r} as a whole",
            file=source,
            row=1,
            column=str(first["column"]),
            fix="export every column as text",
        )
    return sorted({int(i) for i in fc["index"]})


def _all_rejected(findings: list[Finding], source: str) -> InputError:
    first = findings[0]
    return InputError(
        f"every row of the file was rejected (the first: {first.column} failed {first.check}, "
        f"value {first.value!r}); see the other lines with the same problem",
        file=source,
        row=first.source_row,
        column=first.column,
        fix="check it is the right file and its columns are in the expected format",
    )


def _findings(
    err: pa.errors.SchemaErrors | None, raw: pd.DataFrame, source: str, shown: pd.Series
) -> list[Finding]:
    """One Finding per (line, column, check); `shown` is the node (or operator) to name per line."""
    if err is None:
        return []
    fc = err.failure_cases
    fc = fc[fc["index"].notna()]
    out: set[Finding] = set()
    # A dataframe-wide check is reported once per column of a failing row: keep one finding,
    # naming the column the check is about.
    wide = fc["schema_context"].astype(str) == "DataFrameSchema"
    fc = fc.assign(column=fc["column"].where(~wide, None))
    for rec in fc[["index", "column", "check"]].drop_duplicates().itertuples(index=False):
        row = int(rec.index)
        check = str(rec.check)
        column = rec.column if isinstance(rec.column, str) and rec.column in raw.columns else None
        if column is None:
            column = {"duplicate_date_node": "node_address"}.get(check, check.split("<=")[0])
        value = str(raw.at[row, column]) if column in raw.columns else ""
        if check == "duplicate_date_node":
            value = f"{raw.at[row, 'date']} {raw.at[row, 'node_address']}"
        out.add(Finding(source, row, str(shown.at[row]), column, check, echo(value)))
    return sorted(out)


def _validate(schema: pa.DataFrameSchema, raw: pd.DataFrame) -> pa.errors.SchemaErrors | None:
    try:
        schema.validate(raw, lazy=True)
    except pa.errors.SchemaErrors as err:
        return err
    return None


def _held_nodes(raw: pd.DataFrame, bad: np.ndarray, node_keys: pd.Series, source: str) -> pd.Series:
    """The node key each rejected row holds (a frozenset per row), or stop when a row names none.

    A readable address (see `address_key`) names its node. An unreadable one is matched to the
    nodes of the file one edit away; when there is none, nobody can tell which node the row is
    about, and paying that node on its other rows could pay it on incomplete data: file-level.
    """
    known = set(node_keys.dropna())
    held = pd.Series([frozenset()] * int(bad.sum()), index=raw.index[bad], dtype=object)
    keys = node_keys[bad]
    readable = keys.notna().to_numpy()
    held[readable] = [frozenset([k]) for k in keys[readable]]
    unreadable = raw.loc[bad, "node_address"][~readable]
    if len(unreadable) == 0:
        return held
    distinct = unreadable.unique()
    if len(distinct) > MAX_UNREADABLE_NODES:
        raise InputError(
            f"{len(unreadable)} rows have an unreadable node_address ({len(distinct)} distinct values)",
            file=source,
            row=int(unreadable.index[0]),
            column="node_address",
            fix="check the file's node_address column (0x + 40 hex digits)",
        )
    near = {v: near_keys(str(v), known) for v in distinct}
    orphans = [int(line) for line, v in unreadable.items() if not near[v]]
    if orphans:
        line = orphans[0]
        more = f" ({len(orphans)} such rows: lines {orphans[:10]})" if len(orphans) > 1 else ""
        raise InputError(
            f"node_address {echo(raw.at[line, 'node_address'])!r} is not an address and is not one "
            f"character away from any node of the file, so the rejected row cannot be held against "
            f"its node{more}",
            file=source,
            row=line,
            column="node_address",
            fix="correct the node_address on that line (0x + 40 hex digits) or delete the row",
        )
    held[~readable] = [near[v] for v in unreadable]
    return held


def parse_metrics(
    raw: pd.DataFrame,
    source: str,
    period: Period,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> ParsedMetrics:
    """Validate the metrics snapshot (strings, index = CSV line) and type its valid rows."""
    require_columns(raw, METRICS_COLUMNS, source)
    _check_size(len(raw), max_rows, source)
    raw = raw.loc[:, list(METRICS_COLUMNS)]
    node_keys = _keys(raw["node_address"])
    n_nodes = node_keys.fillna(raw["node_address"]).nunique()
    if n_nodes > max_nodes:
        raise InputError(
            f"the snapshot names {n_nodes} distinct nodes, above the limit of {max_nodes}",
            file=source,
            column="node_address",
            fix="check it is the right file, or raise the limit with --max-nodes",
        )
    # File-level: a (valid) date outside the period means the wrong file or the wrong --period.
    dates = pd.to_datetime(
        raw["date"].where(_plain(raw["date"], _DATE_RE)), format="%Y-%m-%d", errors="coerce"
    )
    outside = dates.notna() & ((dates < period.start_ts) | (dates > period.end_ts))
    if outside.any():
        line = int(raw.index[outside.to_numpy().nonzero()[0][0]])
        raise InputError(
            f"date {raw.at[line, 'date']} is outside the period {period} "
            f"({int(outside.sum())} row(s) outside)",
            file=source,
            row=line,
            column="date",
            fix="pass the snapshot of this month only, or the right --period",
        )
    fixed_nodes, node_problems = check_address_series(raw["node_address"])
    fixed_ops, op_problems = check_address_series(raw["operator_address"])
    schema = metrics_schema({"node_address": node_problems, "operator_address": op_problems})
    err = _validate(schema, raw)
    bad = raw.index.isin(_failed_lines(err, source))
    held_keys = _held_nodes(raw, bad, node_keys, source)

    # The node each finding names: the held node's EIP-55 address when there is exactly one.
    single = held_keys.map(lambda ks: next(iter(ks)) if len(ks) == 1 else None)
    shown = _checksummed(single).astype(object)
    shown = shown.where(shown.notna(), raw.loc[bad, "node_address"].map(echo))
    findings = _findings(err, raw, source, shown)
    if bad.all():
        raise _all_rejected(findings, source)

    op_keys = _keys(raw.loc[bad, "operator_address"])
    pairs = [(k, op) for ks, op in zip(held_keys, op_keys, strict=True) for k in sorted(ks)]
    held = pd.DataFrame(
        {
            "node_address": _checksummed(pd.Series([k for k, _ in pairs], dtype=object)).astype(object),
            "operator_address": _checksummed(pd.Series([o for _, o in pairs], dtype=object)).astype(object),
        }
    )
    held = held.drop_duplicates("node_address").reset_index(drop=True)

    good = raw[~bad]
    rows = _typed_metrics(good, fixed_nodes[~bad], fixed_ops[~bad], dates[~bad])
    return ParsedMetrics(rows=rows, held=held, findings=tuple(findings), row_count=len(raw))


def _typed_metrics(good: pd.DataFrame, nodes: pd.Series, ops: pd.Series, dates: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame(index=good.index)
    out["source_row"] = good.index.to_numpy(dtype="int64")
    out["date"] = dates.to_numpy()
    out["node_address"] = nodes.astype(str)
    out["operator_address"] = ops.astype(str)
    up = pd.to_numeric(good["uptime_ratio"]).to_numpy(dtype="float64")
    out["uptime_nano"] = np.rint(up * UPTIME_SCALE).astype("int64")
    resp = pd.to_numeric(good["response_rate"]).to_numpy(dtype="float64")
    out["response_nano"] = np.rint(resp * UPTIME_SCALE).astype("int64")
    tph = pd.to_numeric(good["throughput_tph"]).to_numpy(dtype="float64")
    out["throughput_micro"] = np.rint(tph * THROUGHPUT_SCALE).astype("int64")
    for c in ("ping_ms", "global_ping_ms"):
        out[c] = pd.to_numeric(good[c].where(good[c] != ""), errors="coerce").astype("float64")
    for c in INT_COLUMNS:  # validated [0-9]{1,18}: an exact int64 cast
        out[c] = pa_compute.cast(pa_arrow.array(good[c], type=pa_arrow.string()), pa_arrow.int64()).to_numpy()
    out["stake_cor"] = pd.Series([Decimal(v) for v in good["stake_cor"]], index=good.index, dtype=object)
    return out.reset_index(drop=True)


def parse_registry(
    raw: pd.DataFrame, source: str, roles: frozenset[str], *, max_rows: int = DEFAULT_MAX_ROWS
) -> ParsedRegistry:
    """Validate the operator registry (strings, index = CSV line) and type its valid rows."""
    require_columns(raw, REGISTRY_COLUMNS, source)
    _check_size(len(raw), max_rows, source)
    raw = raw.loc[:, list(REGISTRY_COLUMNS)]
    op_keys = _keys(raw["operator_address"])
    # Duplicates by account, however written: " 0xab..", "0xAB.." and "0xab.." are one operator.
    key = op_keys.fillna(raw["operator_address"].str.lower())
    dup = key.duplicated(keep=False)
    if dup.any():
        lines = [int(i) for i in raw.index[dup.to_numpy()]]
        raise InputError(
            f"operator {echo(raw.at[lines[0], 'operator_address'])} appears more than once "
            f"(lines {lines[:10]})",
            file=source,
            row=lines[0],
            column="operator_address",
            fix="keep exactly one registry row per operator",
        )
    err = _validate(registry_schema(roles), raw)
    bad = raw.index.isin(_failed_lines(err, source))
    shown = _checksummed(op_keys[bad]).astype(object)
    shown = shown.where(shown.notna(), raw.loc[bad, "operator_address"].map(echo))
    findings = _findings(err, raw, source, shown)
    if bad.all():
        raise _all_rejected(findings, source)
    held_ops = frozenset(str(x) for x in _checksummed(op_keys[bad]).dropna())
    good = raw[~bad]
    fixed_ops, _ = check_address_series(good["operator_address"])
    fixed_pay, _ = check_address_series(good["payout_address"])
    ops = pd.DataFrame(
        {
            "operator_address": fixed_ops.astype(str).to_numpy(),
            "payout_address": fixed_pay.astype(str).to_numpy(),
            "roles": [frozenset(x.strip() for x in r.split(";") if x.strip() != "") for r in good["roles"]],
            "preapproved": good["preapproved"].str.lower().eq("true").to_numpy(dtype=bool),
            "disqualified": good["disqualified"].str.lower().eq("true").to_numpy(dtype=bool),
            "bug_points": pd.to_numeric(good["bug_points"]).astype("int64").to_numpy(),
        }
    )
    return ParsedRegistry(ops, held_ops, tuple(findings), len(raw))
