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

import ctypes
import re
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
_DATE_FULL = re.compile(_DATE_RE)


# ---------------------------------------------------------------------------------------------
# Each column is parsed ONCE (`Columns`): which values have the plain notation, and their values.
# The Pandera checks below read those results, and so does the typing of the valid rows, so a
# 3M-row month is regex-matched and cast once per column, not once per check. The checks are
# still complete without a `Columns` (they parse the Series they are given): same results.


def _arrow(s: pd.Series) -> pa_arrow.ChunkedArray | pa_arrow.Array:
    """The column as an Arrow string array (zero-copy for pandas' Arrow-backed strings);
    a value that is not a str (or NA) becomes null, which no pattern matches."""
    arr = s.array
    if isinstance(s.dtype, pd.StringDtype) and hasattr(arr, "__arrow_array__"):
        return arr.__arrow_array__()
    values = s.map(lambda v: v if isinstance(v, str) else None).astype(object)
    return pa_arrow.array(values, type=pa_arrow.large_string(), from_pandas=True)


def _np_bool(arr: pa_arrow.ChunkedArray | pa_arrow.Array) -> np.ndarray:
    return np.asarray(pa_compute.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _match_arrow(arr: pa_arrow.ChunkedArray | pa_arrow.Array, pattern: str) -> np.ndarray:
    """Where the whole value matches `pattern` (RE2; ASCII-only patterns, so as Python's re)."""
    if pattern == _INT_RE:  # [0-9]{1,18} without a regex: non-empty, ASCII digits only, <= 18 long
        ok = pa_compute.and_(
            pa_compute.ascii_is_decimal(arr), pa_compute.less_equal(pa_compute.utf8_length(arr), 18)
        )
        return _np_bool(ok)
    return _np_bool(pa_compute.match_substring_regex(arr, f"^(?:{pattern})$"))


def _values(arr: pa_arrow.ChunkedArray | pa_arrow.Array, ok: np.ndarray, to: pa_arrow.DataType) -> np.ndarray:
    """Arrow's cast of the values where `ok` (correctly rounded for floats); elsewhere NaN for
    floats and 0 for integers (filled in Arrow: an int64 never passes through float64)."""
    if not ok.all():
        arr = pa_compute.if_else(pa_arrow.array(ok), arr, pa_arrow.scalar(None, arr.type))
    out = pa_compute.cast(arr, to)
    if pa_arrow.types.is_integer(to):
        out = pa_compute.fill_null(out, 0)
    return out.to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class Parsed:
    """One column parsed: `ok` where the value has the column's plain notation, and `value`:
    float64 (NaN where not ok) for decimal columns, int64 (0 where not ok) for integer columns.
    `value` is a private, writable copy: typing the valid rows compacts it in place."""

    ok: np.ndarray
    value: np.ndarray


class Columns:
    """Per-column parse results of one frame, computed on first use and kept (see above)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._cache: dict[tuple[str, str], object] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def prefetch(self, jobs: list[Callable[[], object]]) -> None:
        """Run parse jobs on Arrow's CPU count of threads: Arrow and numpy kernels release the
        GIL, so columns are parsed side by side, and a job in Python (the address checks) runs
        while the other thread's kernels do. Results land in the cache; a result two jobs need
        is computed once (`memo` locks per key)."""
        workers = max(1, min(len(jobs), pa_arrow.cpu_count()))
        if workers == 1:
            for job in jobs:
                job()
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()

    def release(self, name: str) -> None:
        """Forget a column's results (its typed copy exists): lowers the peak memory of a run."""
        for key in [k for k in self._cache if k[0] == name]:
            del self._cache[key]

    def owns(self, s: pd.Series) -> bool:
        """True when `s` is a column of this frame as given (same rows, same index)."""
        index = self.frame.index
        return (
            s.name in self.frame.columns
            and len(s) == len(index)
            and (s.index is index or s.index.equals(index))
        )

    def memo(self, key: tuple[str, str], make: Callable[[], object]) -> object:
        """The result `make` gives for `key` (column, what), computed once and kept."""
        if key in self._cache:
            return self._cache[key]
        with self._locks_lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one computation per key, also when prefetch threads ask at once
            if key not in self._cache:
                self._cache[key] = make()
        return self._cache[key]

    def arrow(self, name: str) -> pa_arrow.ChunkedArray | pa_arrow.Array:
        return self.memo((name, "arrow"), lambda: _arrow(self.frame[name]))  # type: ignore[return-value]

    def match(self, name: str, pattern: str) -> np.ndarray:
        return self.memo((name, pattern), lambda: _match_arrow(self.arrow(name), pattern))  # type: ignore[return-value]

    def float(self, name: str) -> Parsed:
        def make() -> Parsed:
            ok = self.match(name, _FLOAT_RE)
            return Parsed(ok, _values(self.arrow(name), ok, pa_arrow.float64()).astype("float64"))

        return self.memo((name, "float"), make)  # type: ignore[return-value]

    def int(self, name: str) -> Parsed:
        def make() -> Parsed:
            ok = self.match(name, _INT_RE)
            return Parsed(ok, _values(self.arrow(name), ok, pa_arrow.int64()).astype(np.int64))

        return self.memo((name, "int"), make)  # type: ignore[return-value]

    def is_empty(self, name: str) -> np.ndarray:
        return self.memo((name, "empty"), lambda: _np_bool(pa_compute.equal(self.arrow(name), "")))  # type: ignore[return-value]

    def factorized(self, name: str) -> tuple[np.ndarray, pd.Index]:
        """pd.factorize of the column (codes, -1 for NA; uniques in order of appearance)."""
        return self.memo((name, "factorize"), lambda: pd.factorize(self.frame[name], use_na_sentinel=True))  # type: ignore[return-value]

    def dates(self, name: str = "date") -> tuple[np.ndarray, np.ndarray]:
        """(shaped: YYYY-MM-DD form, datetime64 per row: NaT unless a real date of that form),
        each distinct value parsed once."""

        def make() -> tuple[np.ndarray, np.ndarray]:
            codes, uniques = self.factorized(name)
            u = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
            shaped_u = np.array([isinstance(v, str) and bool(_DATE_FULL.fullmatch(v)) for v in u], dtype=bool)
            parsed_u = pd.to_datetime(u.where(shaped_u), format="%Y-%m-%d", errors="coerce").to_numpy()
            shaped = np.append(shaped_u, False)[codes]
            parsed = np.append(parsed_u, np.datetime64("NaT", "us").astype(parsed_u.dtype))[codes]
            return shaped, parsed

        return self.memo((name, "dates"), make)  # type: ignore[return-value]


def _cols(cols: Columns | None, s: pd.Series) -> Columns:
    if cols is not None and cols.owns(s):
        return cols
    return Columns(s.to_frame(name=s.name if s.name is not None else "value"))


def _series(values: np.ndarray, s: pd.Series) -> pd.Series:
    return pd.Series(values, index=s.index, dtype=bool)


def _range(cols: Columns | None, lo: float, hi: float | None, lo_open: bool = False) -> pa.Check:
    """lo <= value <= hi (or lo < value) for plain-notation numbers; any other value passes
    (it is reported once, as "number"). "-0" is negative: refused when lo >= 0."""

    def fn(s: pd.Series) -> pd.Series:
        p = _cols(cols, s).float(str(s.name))
        v = p.value
        with np.errstate(invalid="ignore"):
            ok = (v > lo) if lo_open else (v >= lo)
            if hi is not None:
                ok &= v <= hi
        if lo >= 0:  # "-0" and "-0.0" are negative zero: refused like any negative
            ok &= ~np.signbit(v)
        return _series(ok | ~p.ok, s)

    left = "(" if lo_open else "["
    right = "]" if hi is not None else ")"
    name = f"range{left}{lo:g},{'inf' if hi is None else format(hi, 'g')}{right}"
    return pa.Check(fn, name=name)


def _number_check(cols: Columns | None, *, optional: bool = False) -> pa.Check:
    def fn(s: pd.Series) -> pd.Series:
        c = _cols(cols, s)
        ok = c.float(str(s.name)).ok
        return _series(ok | c.is_empty(str(s.name)) if optional else ok, s)

    return pa.Check(fn, name="number_or_empty" if optional else "number")


def _regex_check(cols: Columns | None, pattern: str, name: str) -> pa.Check:
    return pa.Check(lambda s: _series(_cols(cols, s).match(str(s.name), pattern), s), name=name)


def _int_range(cols: Columns | None, lo: int, hi: int | None) -> pa.Check:
    """lo <= value <= hi for integers (non-integers pass: reported once, as "integer")."""

    def fn(s: pd.Series) -> pd.Series:
        p = _cols(cols, s).int(str(s.name))
        ok = p.value >= lo
        if hi is not None:
            ok &= p.value <= hi
        return _series(ok | ~p.ok, s)

    name = f"range[{lo},inf)" if hi is None else f"range[{lo},1e{len(str(hi)) - 1}]"
    return pa.Check(fn, name=name)


def _address_flags(problems: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """(bad format, bad checksum) for each of `check_address_series`' problem codes."""
    codes = np.asarray(problems, dtype=object)
    return codes == BAD_FORMAT, codes == BAD_CHECKSUM


def _address_checks(flags: tuple[np.ndarray, np.ndarray] | None = None) -> list[pa.Check]:
    """Format and EIP-55 checks. `flags`: `_address_flags` per row of the frame being validated,
    computed by the caller once (see `parse_metrics`)."""

    def bad(s: pd.Series, which: int) -> np.ndarray:
        if flags is not None and len(flags[which]) == len(s):
            return flags[which]
        return _address_flags(check_address_series(s)[1])[which]

    return [
        pa.Check(lambda s: _series(~bad(s, 0), s), name=BAD_FORMAT),
        pa.Check(lambda s: _series(~bad(s, 1), s), name=BAD_CHECKSUM),
    ]


def _date_checks(cols: Columns | None) -> list[pa.Check]:
    """YYYY-MM-DD form, and a real calendar date (a value not in that form passes the second:
    it is reported once, as date_format)."""

    def dates(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        return _cols(cols, s).dates(str(s.name))

    def shaped(s: pd.Series) -> pd.Series:
        return _series(dates(s)[0], s)

    def valid(s: pd.Series) -> pd.Series:
        form, parsed = dates(s)
        return _series(~np.isnat(parsed) | ~form, s)

    return [pa.Check(shaped, name="date_format"), pa.Check(valid, name="date_valid")]


def _le_ok(c: Columns, small: str, big: str) -> np.ndarray:
    """small <= big where both are integers (a non-integer passes: reported as "integer")."""
    a, b = c.int(small), c.int(big)
    return (a.value <= b.value) | ~a.ok | ~b.ok


def _unique_ok(c: Columns) -> np.ndarray:
    """No two rows for the same (date, node), the node compared without case: on integer codes."""
    return c.memo(("node_address", "unique_date_node"), lambda: _unique_flags(c))  # type: ignore[return-value]


def _unique_flags(c: Columns) -> np.ndarray:
    dcodes, dates = c.factorized("date")
    ncodes, nodes = c.factorized("node_address")
    # lowercase each distinct node once, then give equal lowercase forms one code
    lower = pd.Series(nodes, dtype=c.frame["node_address"].dtype).str.lower()
    lcodes, lowers = pd.factorize(lower)
    node = np.append(lcodes, len(lowers))[ncodes]  # NA: a code of its own
    date = np.where(dcodes < 0, len(dates), dcodes).astype(np.int64)
    span = (len(dates) + 1) * (len(lowers) + 1)
    key = date * (len(lowers) + 1) + node
    if span <= 4 * len(key) + 1024:  # a month: ~31 x nodes keys, counted directly
        return np.bincount(key, minlength=span)[key] == 1
    return ~pd.Series(key).duplicated(keep=False).to_numpy()


#: Checks across columns: (name, the column a failure is reported in, the check).
def _cross_checks() -> list[tuple[str, str, Callable[[Columns], np.ndarray]]]:
    pairs = [(f"sm_{s}_ok", f"sm_{s}_total") for s in STATES] + [("tasks_accurate", "tasks_completed")]
    out: list[tuple[str, str, Callable[[Columns], np.ndarray]]] = [
        (f"{a}<={b}", a, lambda c, a=a, b=b: _le_ok(c, a, b)) for a, b in pairs
    ]
    out.append(("duplicate_date_node", "node_address", _unique_ok))
    return out


def _wide_check(name: str, fn: Callable[[Columns], np.ndarray]) -> pa.Check:
    """A cross-column check as a DataFrame-wide Pandera check (a schema without `Columns`)."""
    return pa.Check(lambda df: pd.Series(fn(Columns(df)), index=df.index), name=name)


def _anchored_check(name: str, fn: Callable[[Columns], np.ndarray], cols: Columns) -> pa.Check:
    """The same check attached to the column its failures are reported in, reading the other
    columns from `cols`: the same findings, and Pandera then collects a failing row's one value
    instead of the whole row (taking rows of 20 chunked string columns costs ~0.15 s a check)."""

    def fn_col(s: pd.Series) -> pd.Series:
        if not cols.owns(s):
            raise ValueError(f"check {name!r} was built for another frame (pass its Columns)")
        return _series(fn(cols), s)

    return pa.Check(fn_col, name=name)


def _str_col(checks: list[pa.Check]) -> pa.Column:
    return pa.Column(pa.String, checks=checks, nullable=False, coerce=False)


def metrics_schema(
    addresses: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None, columns: Columns | None = None
) -> pa.DataFrameSchema:
    """Pandera model of the metrics snapshot (spec 1.1), over string columns.

    `addresses`: optional column -> (bad format, bad checksum) flags per row of the frame to validate;
    `columns`: optional `Columns` of that frame (each column parsed once for all checks).
    """
    addresses = addresses or {}
    c = columns
    cols: dict[str, pa.Column] = {
        "date": _str_col(_date_checks(c)),
        "node_address": _str_col(_address_checks(addresses.get("node_address"))),
        "operator_address": _str_col(_address_checks(addresses.get("operator_address"))),
        "uptime_ratio": _str_col([_number_check(c), _range(c, 0, 1)]),
        "response_rate": _str_col([_number_check(c), _range(c, 0, 1)]),
        "throughput_tph": _str_col([_number_check(c), _range(c, 0, MAX_THROUGHPUT)]),
        "ping_ms": _str_col([_number_check(c, optional=True), _range(c, 0, None, lo_open=True)]),
        "global_ping_ms": _str_col([_number_check(c, optional=True), _range(c, 0, None, lo_open=True)]),
        "stake_pool": _str_col([_regex_check(c, _INT_RE, "integer"), _int_range(c, 1, None)]),
        "stake_cor": _str_col([_regex_check(c, _DECIMAL_RE, "plain_decimal")]),
    }
    for name in (*SM_COLUMNS, "tasks_completed", "tasks_accurate"):
        cols[name] = _str_col([_regex_check(c, _INT_RE, "integer"), _int_range(c, 0, MAX_COUNT)])
    checks: list[pa.Check] = []
    for name, column, fn in _cross_checks():
        if c is None:
            checks.append(_wide_check(name, fn))
        else:
            cols[column] = _str_col([*cols[column].checks, _anchored_check(name, fn, c)])
    return pa.DataFrameSchema(cols, checks=checks, strict=False, ordered=False, name="metrics")


def registry_schema(
    roles: frozenset[str], addresses: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
) -> pa.DataFrameSchema:
    """Pandera model of the operator registry (spec 1.2), over string columns.

    `addresses`: optional column -> (bad format, bad checksum) flags per row (see metrics_schema).
    """
    addresses = addresses or {}

    def roles_ok(s: pd.Series) -> pd.Series:
        parts = s.str.split(";")
        return parts.map(lambda xs: all(x.strip() in roles for x in xs if x.strip() != "")).astype(bool)

    bool_check = _regex_check(None, r"(?i:true|false)", "boolean")
    return pa.DataFrameSchema(
        {
            "operator_address": _str_col(_address_checks(addresses.get("operator_address"))),
            "payout_address": _str_col(
                [
                    *_address_checks(addresses.get("payout_address")),
                    pa.Check(
                        lambda s: s.str.lower() != ZERO_ADDRESS,
                        name="not_zero_address",
                    ),
                ]
            ),
            "roles": _str_col([pa.Check(roles_ok, name="known_roles")]),
            "preapproved": _str_col([bool_check]),
            "disqualified": _str_col([bool_check]),
            "bug_points": _str_col([_regex_check(None, _INT_RE, "integer")]),
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


def _held_nodes(
    raw: pd.DataFrame, bad: np.ndarray, keys: pd.Series, known: set[str], source: str
) -> pd.Series:
    """The node key each rejected row holds (a frozenset per row), or stop when a row names none.

    A readable address (see `address_key`) names its node. An unreadable one is matched to the
    nodes of the file one edit away; when there is none, nobody can tell which node the row is
    about, and paying that node on its other rows could pay it on incomplete data: file-level.
    """
    held = pd.Series([frozenset()] * int(bad.sum()), index=raw.index[bad], dtype=object)
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


def _distinct(cols: Columns, name: str) -> tuple[np.ndarray, list[object]]:
    """(codes per row with NA as its own last code, the distinct values): factorized once, kept."""

    def make() -> tuple[np.ndarray, list[object]]:
        codes, uniques = cols.factorized(name)
        values = list(np.asarray(uniques, dtype=object))
        return np.where(codes < 0, len(values), codes), values

    return cols.memo((name, "distinct"), make)  # type: ignore[return-value]


def _checked(cols: Columns, name: str) -> tuple[pd.Series, pd.Series]:
    """`check_address_series` of the column's distinct values (in `_distinct` order), kept."""
    return cols.memo(  # type: ignore[return-value]
        (name, "checked"),
        lambda: check_address_series(pd.Series(_distinct(cols, name)[1], dtype=object)),
    )


def _problem_flags(problems: pd.Series, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_address_flags` per row, from the distinct values' problem codes (NA last)."""
    bad_format, bad_checksum = _address_flags([*problems, BAD_FORMAT])
    return bad_format[codes], bad_checksum[codes]


def _take_str(values: list[str | None], codes: np.ndarray) -> pd.Series:
    """A "str" column of `values[code]` for each code (Arrow take: no per-row Python). The take
    runs on 32-bit offsets, about 5x faster than on pandas' 64-bit ones, then is widened."""
    index = pa_arrow.array(codes)
    try:
        taken = pa_compute.take(pa_arrow.array(values, type=pa_arrow.string()), index)
    except pa_arrow.ArrowInvalid:  # over 2 GiB of text: take on 64-bit offsets directly
        taken = pa_compute.take(pa_arrow.array(values, type=pa_arrow.large_string()), index)
    return pa_arrow.chunked_array([pa_compute.cast(taken, pa_arrow.large_string())]).to_pandas()


def _address_column(values: list[str | None], codes: np.ndarray) -> pd.Categorical | pd.Series:
    """The valid rows' addresses (`values[code]` per row) as a Categorical of "str": categories
    are the distinct addresses the rows use, sorted; codes are int32. 3M rows cost 12 MB of codes
    instead of 150 MB of strings, and the engine groups by these codes without factorizing the
    strings again (`payouts.engine.aggregate`). A missing value among the rows (never after
    validation) gives a plain "str" column (`_take_str`)."""
    if len(codes) == 0:
        return _take_str(values, codes)
    used = np.flatnonzero(np.bincount(codes, minlength=len(values)))
    used_values = [values[i] for i in used.tolist()]
    if not all(isinstance(v, str) for v in used_values):
        return _take_str(values, codes)
    categories = pd.Index(sorted(set(used_values)), dtype="str")  # type: ignore[type-var]
    remap = np.full(len(values), -1, dtype=np.int32)
    remap[used] = categories.get_indexer(pd.Index(used_values, dtype="str"))
    return pd.Categorical.from_codes(remap.take(codes), categories=categories)


def parse_metrics(
    raw: pd.DataFrame,
    source: str,
    period: Period,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> ParsedMetrics:
    """Validate the metrics snapshot (strings, index = CSV line) and type its valid rows.

    Per-row work is vectorized: each column is parsed once (`Columns`), addresses are checked
    and identified once per distinct value, and only rejected rows are looked at one by one.
    """
    require_columns(raw, METRICS_COLUMNS, source)
    _check_size(len(raw), max_rows, source)
    raw = raw.loc[:, list(METRICS_COLUMNS)]
    cols = Columns(raw)
    cols.prefetch(  # the Python-heavy jobs first: they overlap the other thread's Arrow work
        [
            lambda: _checked(cols, "node_address"),
            lambda: _checked(cols, "operator_address"),
            lambda: _unique_ok(cols),
            cols.dates,
            lambda: (cols.factorized("stake_cor"), cols.match("stake_cor", _DECIMAL_RE)),
            *[lambda c=c: cols.float(c) for c in FLOAT_COLUMNS],
            *[lambda c=c: cols.int(c) for c in INT_COLUMNS],
        ]
    )
    ncodes, nodes = _distinct(cols, "node_address")
    node_keys = [address_key(v) for v in nodes]
    n_nodes = len({k or v for k, v in zip(node_keys, nodes, strict=True) if isinstance(v, str)})
    if n_nodes > max_nodes:
        raise InputError(
            f"the snapshot names {n_nodes} distinct nodes, above the limit of {max_nodes}",
            file=source,
            column="node_address",
            fix="check it is the right file, or raise the limit with --max-nodes",
        )
    # File-level: a (valid) date outside the period means the wrong file or the wrong --period.
    _, dates = cols.dates()
    with np.errstate(invalid="ignore"):
        outside = ~np.isnat(dates) & (
            (dates < np.datetime64(period.start_ts)) | (dates > np.datetime64(period.end_ts))
        )
    if outside.any():
        line = int(raw.index[outside.nonzero()[0][0]])
        raise InputError(
            f"date {raw.at[line, 'date']} is outside the period {period} "
            f"({int(outside.sum())} row(s) outside)",
            file=source,
            row=line,
            column="date",
            fix="pass the snapshot of this month only, or the right --period",
        )
    # Addresses: checked once per distinct value, then spread over the rows by their codes.
    fixed_nodes, node_problems = _checked(cols, "node_address")
    ocodes, _ = _distinct(cols, "operator_address")
    fixed_ops, op_problems = _checked(cols, "operator_address")
    flags = {
        "node_address": _problem_flags(node_problems, ncodes),
        "operator_address": _problem_flags(op_problems, ocodes),
    }
    err = _validate(metrics_schema(flags, cols), raw)
    bad = raw.index.isin(_failed_lines(err, source))
    key_per_row = np.array([*node_keys, None], dtype=object)[ncodes[bad]]
    held_keys = _held_nodes(
        raw, bad, pd.Series(key_per_row, index=raw.index[bad], dtype=object),
        {k for k in node_keys if k is not None}, source,
    )  # fmt: skip

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

    keep = np.flatnonzero(~bad)  # positions of the valid rows
    rows = _typed_metrics(
        raw,
        cols,
        keep,
        _address_column(
            [*fixed_nodes.astype(object).where(fixed_nodes.notna(), None), None], ncodes.take(keep)
        ),
        _address_column([*fixed_ops.astype(object).where(fixed_ops.notna(), None), None], ocodes.take(keep)),
        dates.take(keep),
    )
    return ParsedMetrics(rows=rows, held=held, findings=tuple(findings), row_count=len(raw))


def _kept_rows(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """`values.take(keep)` for sorted row positions `keep`, without a new array where possible.

    `values` is a column's parse result, released by the caller right after, so it may be
    reused: all rows kept -> `values` itself; a few rows dropped -> the kept runs are moved
    left in place (memmove, which allows overlap) and the first `len(keep)` elements returned.
    A month has few rejected rows; a full copy would touch another 24 MB per column at 3M rows.
    """
    n = len(values)
    if len(keep) == n:
        return values
    runs = np.flatnonzero(np.diff(keep) != 1) + 1  # where `keep` jumps over dropped rows
    if (
        len(keep) == 0
        or len(runs) > 4096
        or values.ndim != 1
        or not values.flags.c_contiguous
        or not values.flags.writeable
        or values.dtype.hasobject
    ):
        return values.take(keep)
    firsts = np.concatenate(([0], runs))  # position in `keep` where each run starts
    sizes = np.diff(np.concatenate((firsts, [len(keep)])))
    width = values.itemsize
    base = values.ctypes.data
    for dst, src, size in zip(firsts.tolist(), keep[firsts].tolist(), sizes.tolist(), strict=True):
        if dst != src:
            ctypes.memmove(base + dst * width, base + src * width, size * width)
    return values[: len(keep)]


def _typed_metrics(
    raw: pd.DataFrame,
    cols: Columns,
    keep: np.ndarray,
    nodes: pd.Categorical | pd.Series,
    ops: pd.Categorical | pd.Series,
    dates: np.ndarray,
) -> pd.DataFrame:
    """The valid rows (`keep`, row positions), typed from the columns' parse results; each
    column's results are released once its typed copy exists."""

    def taken(name: str, kind: str) -> np.ndarray:
        values = _kept_rows((cols.float(name) if kind == "float" else cols.int(name)).value, keep)
        cols.release(name)
        return values

    def scaled(name: str, scale: int) -> np.ndarray:
        return np.rint(taken(name, "float") * scale).astype("int64")

    data: dict[str, object] = {
        "source_row": raw.index.to_numpy(dtype="int64").take(keep),
        "date": dates,
        "node_address": nodes,
        "operator_address": ops,
        "uptime_nano": scaled("uptime_ratio", UPTIME_SCALE),
        "response_nano": scaled("response_rate", UPTIME_SCALE),
        "throughput_micro": scaled("throughput_tph", THROUGHPUT_SCALE),
    }
    for c in ("ping_ms", "global_ping_ms"):  # "" (no measurement) is NaN
        data[c] = taken(c, "float")
    for c in INT_COLUMNS:  # validated [0-9]{1,18}: an exact int64
        data[c] = taken(c, "int")
    # stake_cor: one Decimal per distinct value used by a valid row, never through float
    scodes, stakes = _distinct(cols, "stake_cor")
    cols.release("stake_cor")
    kept = scodes.take(keep)
    used = np.flatnonzero(np.bincount(kept, minlength=len(stakes) + 1))
    decimals = np.empty(len(stakes) + 1, dtype=object)
    decimals[used] = [Decimal(stakes[i]) for i in used.tolist()]
    data["stake_cor"] = decimals.take(kept)
    return pd.DataFrame(data, copy=False)


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
    checked = {c: check_address_series(raw[c]) for c in ("operator_address", "payout_address")}
    flags = {c: _address_flags(p) for c, (_, p) in checked.items()}
    err = _validate(registry_schema(roles, flags), raw)
    bad = raw.index.isin(_failed_lines(err, source))
    shown = _checksummed(op_keys[bad]).astype(object)
    shown = shown.where(shown.notna(), raw.loc[bad, "operator_address"].map(echo))
    findings = _findings(err, raw, source, shown)
    if bad.all():
        raise _all_rejected(findings, source)
    held_ops = frozenset(str(x) for x in _checksummed(op_keys[bad]).dropna())
    good = raw[~bad]
    fixed_ops = checked["operator_address"][0][~bad]
    fixed_pay = checked["payout_address"][0][~bad]
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
