"""Prototype of the proposals in docs/performance.md for code outside the engine/render/batches files.

Not part of the package: it monkeypatches flows.sources, schemas.inputs, payouts.addresses and
flows.ledger in a benchmark process, to measure what the proposals would give:

    python -m bench.run --preload bench/results/proposed_patch.py --name proposed --no-batches

Every fast path falls back to the existing code whenever the input is not the clean common case, so
errors and findings stay exactly those of the existing code (outputs were compared byte for byte at
10k and 100k nodes, CSV and Parquet). Written against the code of commit 14cded5.
"""

from __future__ import annotations

import functools
import io
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

import flows.ledger as ledger_mod
import flows.sources as sources
import payouts.addresses as addresses
import schemas.inputs as inputs

# --------------------------------------------------------------------------------- P1 addresses
try:
    from sha3 import keccak_256 as _k

    def _keccak_hex(data: bytes) -> str:
        return _k(data).hexdigest()
except ImportError:  # pragma: no cover
    from eth_utils import keccak as _ek

    def _keccak_hex(data: bytes) -> str:
        return _ek(data).hex()


_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")
_UPPER = np.arange(256, dtype=np.uint8)
_UPPER[ord("a") : ord("f") + 1] -= 32


def checksum_many(hex40: list[str]) -> list[str]:
    """EIP-55 form of each value (each already matches 0x + 40 hex): one keccak per value, the
    case rule applied with numpy to all at once (~10x faster than eth_utils.to_checksum_address)."""
    if not hex40:
        return []
    lower = "".join(v[2:].lower() for v in hex40)
    digests = "".join(_keccak_hex(lower[i : i + 40].encode("ascii"))[:40] for i in range(0, len(lower), 40))
    low = np.frombuffer(lower.encode("ascii"), dtype=np.uint8)
    hi = np.frombuffer(digests.encode("ascii"), dtype=np.uint8) >= ord("8")
    text = np.where(hi, _UPPER[low], low).tobytes().decode("ascii")
    return ["0x" + text[i : i + 40] for i in range(0, len(text), 40)]


def check_address_series(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniq = list(uniques)
    fixed: list[str | None] = [None] * len(uniq)
    problems = [addresses.BAD_FORMAT] * len(uniq)
    ok = [i for i, u in enumerate(uniq) if isinstance(u, str) and _HEX40.fullmatch(u) is not None]
    for i, cs in zip(ok, checksum_many([uniq[i] for i in ok]), strict=True):
        u = uniq[i]
        h = u[2:]
        if h == h.lower() or h == h.upper() or u == cs:
            fixed[i], problems[i] = cs, addresses.OK
        else:
            problems[i] = addresses.BAD_CHECKSUM
    fixed_arr = pd.array([*fixed, None], dtype="string")
    prob_arr = pd.array([*problems, addresses.BAD_FORMAT], dtype="string")
    idx = codes.copy()
    idx[idx < 0] = len(uniq)
    return (
        pd.Series(fixed_arr[idx], index=values.index, dtype="string"),
        pd.Series(prob_arr[idx], index=values.index, dtype="string"),
    )


addresses.check_address_series = check_address_series
inputs.check_address_series = check_address_series
import flows.pipeline as _pipeline  # noqa: E402

_pipeline.check_address_series = check_address_series


@functools.lru_cache(maxsize=1 << 18)
def _checksum_cached(value: str) -> str:
    return checksum_many([value])[0]


def _ledger_address(value: str, what: str) -> str:
    if not isinstance(value, str) or ledger_mod._HEX40.fullmatch(value) is None:
        raise ValueError(f"{what}: {value!r} is not a 0x-prefixed 40-hex-digit address")
    return _checksum_cached(value)


ledger_mod._address = _ledger_address

# --------------------------------------------------------------------------------- P2 sources
_orig_read_csv = sources._read_csv
_orig_read_parquet = sources._read_parquet


def _read_csv_fast(src: sources.Source, max_rows: int) -> pd.DataFrame:
    """A clean file (UTF-8 without BOM, LF, no quotes/CR/NUL, no blank, ragged, over-long or
    repeated-header line, at most max_rows rows) is parsed in one pyarrow call with its line
    checks vectorized over the bytes; anything else takes the existing careful path."""
    data = src.data
    if (
        not data
        or data[:3] == b"\xef\xbb\xbf"
        or data[:2] in (b"\xff\xfe", b"\xfe\xff")
        or b'"' in data
        or b"\r" in data
        or b"\x00" in data
    ):
        return _orig_read_csv(src, max_rows)
    chunk = 1 << 26  # newline scan in 64 MiB slices: no file-sized temporaries
    nl = np.concatenate(
        [
            np.flatnonzero(np.frombuffer(data, np.uint8, min(chunk, len(data) - off), off) == 10) + off
            for off in range(0, len(data), chunk)
        ]
    )
    ends = nl if data.endswith(b"\n") else np.append(nl, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    # blank and ragged lines make pyarrow fail below (-> careful path); over-long ones are checked here
    if len(ends) < 2 or lengths.max() > sources.MAX_LINE_CHARS or len(ends) - 1 > max_rows:
        return _orig_read_csv(src, max_rows)
    header_line = data[: ends[0]]
    same_len = np.flatnonzero(lengths[1:] == lengths[0]) + 1
    if any(data[starts[i] : ends[i]] == header_line for i in same_len.tolist()):
        return _orig_read_csv(src, max_rows)
    try:
        text = header_line.decode("utf-8")
    except UnicodeDecodeError:
        return _orig_read_csv(src, max_rows)
    if text.lstrip().lower().startswith(("<!doctype html", "<html", "<?xml", "<head", "<body")):
        return _orig_read_csv(src, max_rows)
    names = sources._header(src, text)  # the existing header checks (raise InputError)
    tmp = [f"c{i}" for i in range(len(names))]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data[ends[0] + 1 :]),
            read_options=pa_csv.ReadOptions(column_names=tmp, block_size=sources._BLOCK_SIZE),
            parse_options=pa_csv.ParseOptions(
                delimiter=",",
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.large_string() for c in tmp},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return _orig_read_csv(src, max_rows)  # e.g. invalid UTF-8: the careful path names the byte
    if table.num_rows != len(ends) - 1:
        return _orig_read_csv(src, max_rows)
    frame = table.to_pandas()
    frame.columns = names
    frame.index = pd.Index(np.arange(2, table.num_rows + 2, dtype="int64"))
    return frame


def _read_parquet_fast(src: sources.Source, max_rows: int) -> pd.DataFrame:
    """Parquet whose columns are all strings: nulls -> "" in Arrow, no per-cell Python."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(src.data))
        schema = pf.schema_arrow
        if (
            pf.metadata.num_rows > max_rows
            or pf.metadata.num_columns > sources.MAX_COLUMNS
            or not all(pa.types.is_string(f.type) or pa.types.is_large_string(f.type) for f in schema)
            or (
                schema.pandas_metadata is not None
                and any(
                    ix for ix in (schema.pandas_metadata.get("index_columns") or []) if isinstance(ix, str)
                )
            )
        ):
            return _orig_read_parquet(src, max_rows)
        table = pf.read()
    except Exception:
        return _orig_read_parquet(src, max_rows)
    cols = {
        str(name): pc.cast(pc.fill_null(table.column(i), ""), pa.large_string())
        for i, name in enumerate(table.column_names)
    }
    frame = pa.table(cols).to_pandas()
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    sources._check_names(src, [str(c) for c in frame.columns])
    return frame


sources._read_csv = _read_csv_fast
sources._read_parquet = _read_parquet_fast

# --------------------------------------------------------------------------------- P3 inputs
_orig_unique = inputs._unique_date_node


def _unique_date_node(df: pd.DataFrame) -> pd.Series:
    """Same as the string key date|lower(node), on integer codes (exact when neither column holds '|')."""
    date, node = df["date"], df["node_address"]
    if date.hasnans or node.hasnans or date.str.contains("|", regex=False).any():
        return _orig_unique(df)
    dc, _ = pd.factorize(date)
    nc, nu = pd.factorize(node.str.lower())
    key = dc.astype(np.int64) * (len(nu) + 1) + nc
    return pd.Series(~pd.Series(key).duplicated(keep=False).to_numpy(), index=df.index)


inputs._unique_date_node = _unique_date_node
# metrics_schema captured the function object at definition time through pa.Check(_unique_date_node):
# rebuild the schema factory's reference by wrapping metrics_schema.
_orig_metrics_schema = inputs.metrics_schema


def _metrics_schema(*args, **kwargs):
    import pandera.pandas as pda

    schema = _orig_metrics_schema(*args, **kwargs)
    schema.checks = [
        pda.Check(_unique_date_node, name="duplicate_date_node") if c.name == "duplicate_date_node" else c
        for c in schema.checks
    ]
    return schema


inputs.metrics_schema = _metrics_schema


def _float(col: pd.Series) -> np.ndarray:
    arr = pa.array(col, type=pa.large_string())
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.large_string()), arr)
    return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)


def _typed_metrics(good: pd.DataFrame, nodes: pd.Series, ops: pd.Series, dates: pd.Series) -> pd.DataFrame:
    """inputs._typed_metrics with Arrow casts (validated plain decimals: the same correctly rounded
    floats as pd.to_numeric) and one Decimal per distinct stake_cor string."""
    out = pd.DataFrame(index=good.index)
    out["source_row"] = good.index.to_numpy(dtype="int64")
    out["date"] = dates.to_numpy()
    out["node_address"] = nodes.astype(str)
    out["operator_address"] = ops.astype(str)
    out["uptime_nano"] = np.rint(_float(good["uptime_ratio"]) * inputs.UPTIME_SCALE).astype("int64")
    out["response_nano"] = np.rint(_float(good["response_rate"]) * inputs.UPTIME_SCALE).astype("int64")
    out["throughput_micro"] = np.rint(_float(good["throughput_tph"]) * inputs.THROUGHPUT_SCALE).astype(
        "int64"
    )
    for c in ("ping_ms", "global_ping_ms"):
        out[c] = _float(good[c]).astype("float64")
    for c in inputs.INT_COLUMNS:
        out[c] = pc.cast(pa.array(good[c], type=pa.string()), pa.int64()).to_numpy()
    codes, uniques = pd.factorize(good["stake_cor"])
    decimals = np.array([Decimal(u) for u in uniques], dtype=object)
    out["stake_cor"] = pd.Series(decimals[codes], index=good.index, dtype=object)
    return out.reset_index(drop=True)


inputs._typed_metrics = _typed_metrics

# --------------------------------------------------------------------------------- P4 Source.sha256
_sha_cache: dict[int, tuple[bytes, str]] = {}
_orig_sha = sources.Source.sha256


def _sha256(self: sources.Source) -> str:
    hit = _sha_cache.get(id(self.data))
    if hit is not None and hit[0] is self.data:
        return hit[1]
    value = _orig_sha.fget(self)
    _sha_cache[id(self.data)] = (self.data, value)
    return value


sources.Source.sha256 = property(_sha256)

# --------------------------------------------------------------------------------- P3b one parse per column
# Prototype only: memoize inputs._plain / inputs._cast per (column data, pattern) for the duration of a
# parse (a real change would compute each column's match mask and values once, before the checks, and
# hand them to the checks and to _typed_metrics).
_memo: dict[tuple[int, str, str], tuple[object, pd.Series]] = {}
_orig_plain, _orig_cast = inputs._plain, inputs._cast


def _key(s: pd.Series, pattern: str, kind: str) -> tuple[tuple[int, str, str], object] | None:
    arr = getattr(s.array, "_pa_array", None)
    if arr is None:
        return None
    return (id(arr), pattern, kind), arr


def _plain_memo(s: pd.Series, pattern: str) -> pd.Series:
    k = _key(s, pattern, "plain")
    if k is None:
        return _orig_plain(s, pattern)
    hit = _memo.get(k[0])
    if hit is not None and hit[0] is k[1] and hit[1].index.equals(s.index):
        return hit[1]
    arr = k[1]
    ok = pc.match_substring_regex(arr, f"^(?:{pattern})$").to_numpy(zero_copy_only=False)
    res = pd.Series(np.asarray(ok, dtype=bool), index=s.index)
    _memo[k[0]] = (arr, res)
    return res


def _cast_memo(s: pd.Series, pattern: str) -> pd.Series:
    k = _key(s, pattern, "cast")
    if k is None:
        return _orig_cast(s, pattern)
    hit = _memo.get(k[0])
    if hit is not None and hit[0] is k[1] and hit[1].index.equals(s.index):
        return hit[1]
    res = _orig_cast(s, pattern)
    _memo[k[0]] = (k[1], res)
    return res


inputs._plain = _plain_memo
inputs._cast = _cast_memo
_orig_parse_metrics = inputs.parse_metrics


def _parse_metrics(*a, **k):
    try:
        return _orig_parse_metrics(*a, **k)
    finally:
        _memo.clear()


inputs.parse_metrics = _parse_metrics
import flows.pipeline as _pl  # noqa: E402

_pl.parse_metrics = _parse_metrics
