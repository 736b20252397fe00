"""Input sources: a local path or an http(s) URL, CSV or Parquet, read as a table of strings.

This is the imperative shell's reading side. A source is fetched once into memory as bytes (its
SHA-256 is what the manifest records, so the bytes hashed are the bytes parsed), then parsed
without letting pandas guess any type: every cell stays a string until `schemas.inputs` checks it.

CSV structure is checked here, before any value is looked at, because a structural fault makes
every later line number or column meaningless (all file-level: the run stops, exit 2):

* UTF-8 only (a byte-order mark is dropped; UTF-16 is named as such); CRLF and CR line ends are
  read as LF, so the same rows give the same results whatever the line ends;
* the header: one line, comma-separated, no empty or duplicated name, at most `MAX_COLUMNS`;
* every row has exactly the header's number of fields (a missing or extra comma shifts every
  later value into the wrong column - never guessed); a line repeating the header is refused;
* a quoted value may not span lines, so a row's number is always its physical line number;
* blank lines are skipped (their numbers are not reused);
* at most `max_rows` rows and `max_bytes` bytes (`--max-rows`, `--max-input-bytes`).

The frame's index is each row's line number in the file (header = line 1).

Speed at network scale (3M rows, 500 MB): a clean CSV file (UTF-8, LF, no quotes, blank, ragged
or repeated-header line) is checked on its bytes with numpy and parsed by one pyarrow call
(`_read_clean_csv`); every other file goes through the line-by-line reader (`_read_csv_careful`),
which alone raises, so errors are the same whichever path a file could take. A Parquet file whose
columns are all text is converted in Arrow. A source's SHA-256 is computed once, when it is
fetched; after parsing, a run keeps only `Source.without_data()` so the bytes can be freed.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from payouts.errors import InputError
from schemas.inputs import DEFAULT_MAX_ROWS

PARQUET_MAGIC = b"PAR1"
#: Largest input accepted by default (bytes); bigger files need an explicit higher limit.
DEFAULT_MAX_BYTES = 2 * 1024**3
#: Most columns a header may have (the inputs need 20; extra columns are ignored but bounded).
MAX_COLUMNS = 1000
#: Longest line accepted (characters): a real row is ~200; this bounds every cell's size.
MAX_LINE_CHARS = 1 << 20
_BLOCK_SIZE = 8 << 20  # pyarrow block: must hold the longest line (<= 4 bytes per character)


class TransientFetchError(Exception):
    """A fetch that may succeed when retried (timeout, connection reset, HTTP 5xx/429)."""


@dataclass(frozen=True)
class Source:
    """An input's bytes as fetched, with their SHA-256 (computed once, when the source is made).

    Once its table is read, a run keeps only `without_data()`: role, name and hash (what the
    manifest, the run key and the ledger record), so a 500 MB snapshot's bytes can be freed.
    """

    role: str  # "metrics", "operators", "history"
    name: str  # as given: a path or a URL
    data: bytes = field(repr=False)
    #: hex SHA-256 of `data`. Computed from the bytes (never trusted from the caller), except for
    #: a released source, which keeps the hash of the bytes it was made from.
    sha256: str = ""
    #: True once the bytes were dropped (`without_data`): `data` is then b"" and cannot be read.
    released: bool = False

    def __post_init__(self) -> None:
        if self.released:
            if self.data or len(self.sha256) != 64:
                raise ValueError("a released source keeps its SHA-256 and no bytes")
            return
        digest = hashlib.sha256(self.data).hexdigest()  # a 500 MB snapshot is hashed in ~0.3 s
        if self.sha256 and self.sha256 != digest:
            raise ValueError(f"{self.name}: the given SHA-256 is not the hash of the bytes")
        object.__setattr__(self, "sha256", digest)

    def release(self) -> None:
        """Drop the bytes in place, for every holder of this object (role, name, SHA-256 kept).

        For a caller that cannot let go of its references - the Prefect flow passes its fetched
        sources as task parameters, which Prefect holds for the task's run - so that a 500 MB
        snapshot's bytes are still freed as soon as its table is read. Frozen otherwise.
        """
        object.__setattr__(self, "data", b"")
        object.__setattr__(self, "released", True)

    def without_data(self) -> Source:
        """The same source without its bytes (role, name and SHA-256 kept)."""
        if self.released:
            return self
        return Source(self.role, self.name, b"", self.sha256, released=True)

    @property
    def is_url(self) -> bool:
        return is_url(self.name)


def is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def fetch(
    role: str,
    name: str,
    *,
    base_dir: Path | None = None,
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Source:
    """Read a source's bytes. Raises InputError for a user mistake, TransientFetchError to retry."""
    if is_url(name):
        return Source(role, name, _fetch_url(name, timeout, max_bytes))
    path = Path(name)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise InputError(f"{role} file not found: {path}", file=name, fix="check the path")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"{role} file is {size} bytes, above the limit of {max_bytes}",
            file=name,
            fix="check it is the right file, or raise the limit with --max-input-bytes",
        )
    try:
        return Source(role, name, path.read_bytes())
    except OSError as exc:
        raise InputError(
            f"cannot read {role} file: {exc.strerror}", file=name, fix="check permissions"
        ) from None


def _fetch_url(url: str, timeout: float, max_bytes: int) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "cor-payouts"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            declared = resp.headers.get("Content-Length")
            data = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientFetchError(f"{url}: HTTP {exc.code}") from None
        raise InputError(
            f"HTTP {exc.code} {exc.reason}", file=url, fix="check the URL and that the server allows access"
        ) from None
    except (TimeoutError, ConnectionError, urllib.error.URLError) as exc:
        raise TransientFetchError(f"{url}: {exc}") from None
    if len(data) > max_bytes:
        raise InputError(
            f"response is larger than the limit of {max_bytes} bytes",
            file=url,
            fix="check the URL, or raise the limit with --max-input-bytes",
        )
    if declared is not None and declared.isdigit() and int(declared) != len(data):
        raise TransientFetchError(f"{url}: truncated body ({len(data)} of {declared} bytes)")
    return data


def read_table(
    src: Source,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> pd.DataFrame:
    """Parse a source as a table of strings, indexed by the row's line number (header = line 1).

    Raises InputError (file-level fault: file, line, column where known, and the fix).
    """
    if src.released:  # a programming error, not the user's: the bytes were dropped after parsing
        raise ValueError(f"{src.role} source {src.name}: its bytes were released, fetch it again")
    if len(src.data) > max_bytes:
        raise InputError(
            f"{src.role} input is {len(src.data)} bytes, above the limit of {max_bytes}",
            file=src.name,
            fix="check it is the right file, or raise the limit with --max-input-bytes",
        )
    if src.data[:4] == PARQUET_MAGIC or src.name.lower().endswith((".parquet", ".pq")):
        return _read_parquet(src, max_rows)
    return _read_csv(src, max_rows)


def _too_many_rows(src: Source, rows: int | str, max_rows: int) -> InputError:
    return InputError(
        f"{src.role} input has {rows} rows, above the limit of {max_rows}",
        file=src.name,
        fix="check it is the right file (one period's snapshot), or raise the limit with --max-rows",
    )


def _read_parquet(src: Source, max_rows: int) -> pd.DataFrame:
    fast = _read_string_parquet(src, max_rows)
    if fast is not None:
        return fast
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(io.BytesIO(src.data)).metadata
        if meta.num_rows > max_rows:
            raise _too_many_rows(src, meta.num_rows, max_rows)
        if meta.num_columns > MAX_COLUMNS:
            raise InputError(
                f"{meta.num_columns} columns, above the limit of {MAX_COLUMNS}",
                file=src.name,
                fix="export only the snapshot's columns",
            )
        frame = pd.read_parquet(io.BytesIO(src.data))
    except InputError:
        raise
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(
            f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})",
            file=src.name,
            fix="re-export the file",
        ) from None
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            text = s.dt.strftime("%Y-%m-%d")
        else:
            text = _parquet_text(s)
        out[str(col)] = text.fillna("").astype(str)
    out = out.reset_index(drop=True)
    out.index = pd.RangeIndex(2, len(out) + 2)
    names = [str(c) for c in out.columns]
    _check_names(src, names)
    return out


def _is_plain_str(dtype: object) -> bool:
    """pandas' default text dtype ("str": Arrow storage, NaN for a missing value)."""
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow" and dtype.na_value is np.nan


_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _parquet_text(s: pd.Series) -> pd.Series:
    """`s.map(_parquet_cell)`, without a Python call per cell where the result is provably the same.

    * "str" column: `_parquet_cell` returns each string as it is and "" for a missing value (NaN),
      which `fillna("")` in the caller does;
    * numpy bool, integer or float column: one call per distinct value, on the same dtype (so the
      same scalar as `map` passes). Floats are keyed by their bits: -0.0 == 0.0 but they render
      differently ("-0", "0"), and every NaN renders "".
    * anything else (Decimal, dates, nullable dtypes, objects): one call per cell, as before.
      Equal objects can render differently there (Decimal("1.0") and Decimal("1.00")).
    """
    dtype = s.dtype
    if _is_plain_str(dtype):
        return s
    if isinstance(dtype, np.dtype) and (dtype.kind in "biu" or dtype in _FLOATS) and len(s) > 0:
        values = s.to_numpy()
        keys = values.view(f"i{dtype.itemsize}") if dtype.kind == "f" else values
        codes, uniques = pd.factorize(keys)
        distinct = pd.Series(np.asarray(uniques).view(dtype) if dtype.kind == "f" else uniques, dtype=dtype)
        texts = distinct.map(_parquet_cell).to_numpy(dtype=object)
        return pd.Series(texts[codes], index=s.index, dtype=object)
    return s.map(_parquet_cell)


def _read_string_parquet(src: Source, max_rows: int) -> pd.DataFrame | None:
    """A Parquet file whose columns all read as "str" (an "export as text"), converted in Arrow.

    The frame equals the general path's: that path reads the file with `pd.read_parquet` (which is
    `read_table(use_pandas_metadata=True).to_pandas()`) and maps `_parquet_cell` over each cell, which
    for a "str" column keeps every string and turns a missing value into "". What pandas would make of
    each column (its pandas metadata may ask for another dtype, or restore an index from a column) is
    read from the same conversion of the schema without rows. Returns None - the general path then
    decides, errors included - for any other file.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(pa.BufferReader(src.data))
        meta = pf.metadata
        if meta.num_rows > max_rows or not 0 < meta.num_columns <= MAX_COLUMNS:
            return None
        schema = pf.schema_arrow
        if not all(pa.types.is_string(f.type) or pa.types.is_large_string(f.type) for f in schema):
            return None
        empty = schema.empty_table().to_pandas()  # the dtypes, columns and index pandas would give
        names = [str(c) for c in empty.columns]
        if (
            names != schema.names
            or len(set(names)) != len(names)
            or not all(_is_plain_str(t) for t in empty.dtypes)
        ):
            return None
        table = pf.read(use_pandas_metadata=True)
    except Exception:  # a damaged file: the general path names the fault
        return None
    if table.column_names != names or table.num_rows != meta.num_rows:
        return None
    columns = [pc.cast(pc.fill_null(table.column(i), ""), pa.large_string()) for i in range(len(names))]
    del table
    frame = pa.Table.from_arrays(columns, names=names).to_pandas()
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    _check_names(src, names)
    return frame


def _parquet_cell(value: object) -> str:
    """A Parquet value as the text a CSV export would hold: plain notation, never an exponent.

    str() would write a float64 uptime of 0.00001 as "1e-05" and a decimal128 zero as "0E-18",
    which the plain-notation checks rightly refuse - a Parquet file must not hold a node for that.
    """
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        if value != value:  # null in a float column
            return ""
        if not np.isfinite(value):
            return str(value)
        return np.format_float_positional(value, trim="-")
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# CSV


def _decode(src: Source) -> str:
    data = src.data
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(
            "the file is UTF-16 text, not UTF-8", file=src.name, row=1, fix="save the file as UTF-8 CSV"
        )
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is tolerated, not an error
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        field = data[line_start : exc.start].count(b",")
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r").split(",")
        column = header[field] if field < len(header) else f"field {field + 1}"
        raise InputError(
            f"not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})",
            file=src.name,
            row=line,
            column=column,
            fix="save the file as UTF-8 CSV (in a spreadsheet: 'CSV UTF-8')",
        ) from None


def _check_names(src: Source, names: list[str]) -> None:
    if len(names) > MAX_COLUMNS:
        raise InputError(
            f"the header has {len(names)} columns, above the limit of {MAX_COLUMNS}",
            file=src.name,
            row=1,
            fix="export only the snapshot's columns",
        )
    for i, col in enumerate(names):
        if col.strip() == "" or col.startswith("Unnamed:"):
            raise InputError(
                f"header column {i + 1} has an empty name ({col!r})",
                file=src.name,
                row=1,
                fix="name every column, or remove the trailing comma",
            )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(
            f"duplicated header column(s) {dupes}", file=src.name, row=1, fix="keep one column of each name"
        )


def _header(src: Source, line: str) -> list[str]:
    if line.strip() == "":
        raise InputError(
            "the first line is empty", file=src.name, row=1, fix="the file must start with its header row"
        )
    if "," not in line:
        for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in line:
                raise InputError(
                    f"the header is separated by {label}, not commas",
                    file=src.name,
                    row=1,
                    fix="export as comma-separated CSV",
                )
    if "\x00" in line:
        raise InputError(
            "the header contains NUL characters (UTF-16 text without a byte-order mark?)",
            file=src.name,
            row=1,
            fix="save the file as UTF-8 CSV",
        )
    names = _split_quoted(src, line, 1) if '"' in line else line.split(",")
    if _DATA_LIKE.fullmatch(names[0].strip().strip('"')):
        raise InputError(
            f"the first line is data, not a header (it starts with {names[0][:42]!r})",
            file=src.name,
            row=1,
            fix="add the header row (the column names) as line 1",
        )
    _check_names(src, names)
    return names


def _split_quoted(src: Source, line: str, number: int) -> list[str]:
    """One line's fields by the csv module (strict); a quoted value must close on its line."""
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(
                "a quoted value is not closed on this line (values may not contain line breaks)",
                file=src.name,
                row=number,
                fix='close the quote, or remove the line break from the value: "a value"',
            ) from None
        raise InputError(
            f"malformed quoting ({exc})",
            file=src.name,
            row=number,
            fix='quote a whole value ("a,b"); write a quote inside a quoted value as ""',
        ) from None


def _ragged(src: Source, bad: list[tuple[int, int, str]], ncols: int) -> InputError:
    line, n, text = bad[0]
    more = f" (also line(s) {[b[0] for b in bad[1:]]})" if len(bad) > 1 else ""
    hint = ""
    if n == 1 and any(sep in text for sep in (";", "\t", "|")):
        hint = " - separated by semicolons, tabs or pipes?"
    return InputError(
        f"the row has {n} field(s) but the header has {ncols}{hint}{more}",
        file=src.name,
        row=line,
        fix=f"every row needs exactly {ncols} comma-separated fields: look for a missing or extra "
        "comma, or a value with a comma that is not quoted",
    )


_DATA_LIKE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|0[xX][0-9a-fA-F]{40}")
_REPEATED_HEADER_FIX = "remove the repeated header (were two exports concatenated?)"
_SPACE_ONLY = re.compile(r"\s*")


def _read_csv(src: Source, max_rows: int) -> pd.DataFrame:
    """A clean file in one pyarrow call (`_read_clean_csv`); any other file line by line
    (`_read_csv_careful`). Both give the same frame for a clean file; only the careful path raises."""
    frame = _read_clean_csv(src, max_rows)
    return frame if frame is not None else _read_csv_careful(src, max_rows)


#: bytes per step of the vectorized scans (bounds their temporaries: a 500 MB file is never copied)
_SCAN_CHUNK = 1 << 22
#: the careful path's parse options: split on commas and LF only, quoting off, every cell kept
_PLAIN_CSV = pa_csv.ParseOptions(
    delimiter=",",
    quote_char=False,
    double_quote=False,
    escape_char=False,
    newlines_in_values=False,
    ignore_empty_lines=False,
)


def _newlines(data: bytes) -> np.ndarray:
    """Offsets of every LF byte (int64), scanned in chunks of `_SCAN_CHUNK` bytes."""
    view = np.frombuffer(data, dtype=np.uint8)
    parts = [
        np.flatnonzero(view[start : start + _SCAN_CHUNK] == 10) + start
        for start in range(0, len(view), _SCAN_CHUNK)
    ]
    return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.empty(0, np.int64)


def _is_utf8(data: bytes) -> bool:
    """Python's strict UTF-8 decoding accepts the bytes (decoded in chunks, nothing kept)."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    try:
        for start in range(0, len(view), _SCAN_CHUNK // 4):
            decoder.decode(view[start : start + _SCAN_CHUNK // 4])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _read_clean_csv(src: Source, max_rows: int) -> pd.DataFrame | None:
    """The frame `_read_csv_careful` gives for a clean file, or None for any other file.

    Clean: UTF-8 without byte-order mark, starting with a printable ASCII character other than "<"
    (so no UTF-16, blank first line, leading space or HTML/XML page); LF line ends only; no '"', CR
    or NUL byte; no empty, over-long or header-repeating line; a header the careful path accepts,
    with at least two columns; every line with the header's number of fields; 1 to max_rows rows.
    For such a file the careful path raises nothing and parses every line after the header with
    the same pyarrow options; here the line checks run on the bytes (numpy, memchr) and pyarrow
    parses a zero-copy slice of them. Anything else returns None, and the careful path - which
    reports every fault in its own order - reads the file. This function never raises InputError.
    """
    data = src.data
    if not data or not 0x21 <= data[0] <= 0x7E or data[0] == 0x3C:  # 0x3C: "<"
        return None
    if b'"' in data or b"\r" in data or b"\x00" in data or not _is_utf8(data):
        return None
    newlines = _newlines(data)
    ends = newlines if data.endswith(b"\n") else np.append(newlines, len(data))
    rows = len(ends) - 1
    if rows < 1 or rows > max_rows:
        return None
    lengths = np.diff(ends, prepend=-1) - 1  # bytes per line, LF excluded
    # an empty line is skipped by the careful path (pyarrow would make a row of it); a byte count
    # <= MAX_LINE_CHARS bounds the character count the careful path checks
    if lengths.min() == 0 or lengths.max() > MAX_LINE_CHARS:
        return None
    header_end = int(ends[0])
    header_line = data[:header_end]
    if b"\n" + header_line + b"\n" in data or data.endswith(b"\n" + header_line):
        return None  # a line repeats the header
    try:
        names = _header(src, header_line.decode("utf-8"))
    except InputError:
        return None
    if len(names) < 2:  # one column: a line of spaces is a blank line there, a value here
        return None
    tmp = [f"c{i}" for i in range(len(names))]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[header_end + 1 :]),  # zero-copy: no 500 MB slice
            # threads (pyarrow's default) parse blocks on both cores: ~1.0 s instead of ~1.5 s
            # for 500 MB on an idle 2-core machine, and no slower when the other core is busy
            read_options=pa_csv.ReadOptions(column_names=tmp, block_size=_BLOCK_SIZE, use_threads=True),
            parse_options=_PLAIN_CSV,
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.large_string() for c in tmp},  # pandas' "str" storage: no copy
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, ValueError):  # a line with another number of fields
        return None
    if table.num_rows != rows:
        return None
    frame = table.to_pandas()
    frame.columns = names
    frame.index = pd.Index(np.arange(2, rows + 2, dtype=np.int64))
    return frame


def _read_csv_careful(src: Source, max_rows: int) -> pd.DataFrame:
    """Every line checked in Python: any CSV, every fault reported (file, line, column, fix)."""
    text = _decode(src)
    if text.strip() == "":
        raise InputError("the file is empty", file=src.name, fix="export the data with a header row")
    head = text[:512].lstrip().lower()
    if head.startswith(("<!doctype html", "<html", "<?xml", "<head", "<body")):
        raise InputError(
            "the file is an HTML/XML page, not CSV (a sign-in or error page?)",
            file=src.name,
            row=1,
            fix="check the URL or path points at the CSV export itself",
        )
    if "\r" in text:  # CRLF (Windows) or CR (old Mac) line ends: read as LF
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if max(map(len, lines)) > MAX_LINE_CHARS:
        longest = next(i for i, line in enumerate(lines) if len(line) > MAX_LINE_CHARS)
        raise InputError(
            f"the line is {len(lines[longest])} characters long, above the limit of {MAX_LINE_CHARS}",
            file=src.name,
            row=longest + 1,
            fix="check it is the right file: a row of the snapshot is a few hundred characters",
        )
    header_line = lines[0]
    names = _header(src, header_line)
    ncols = len(names)

    plain: list[int] = []  # line numbers of unquoted rows (parsed by pyarrow, quoting off)
    quoted: dict[int, list[str]] = {}  # line number -> fields of a row with quotes (csv module)
    blank = 0
    bad: list[tuple[int, int, str]] = []
    rows = 0
    for number, line in enumerate(lines[1:], start=2):
        if '"' in line:
            fields = _split_quoted(src, line, number)
            n = len(fields)
        else:
            fields = None
            n = line.count(",") + 1
        if n != ncols or (ncols == 1 and _SPACE_ONLY.fullmatch(line)):
            if _SPACE_ONLY.fullmatch(line):
                blank += 1
                continue
            bad.append((number, n, line))
            if len(bad) == 5:
                break
            continue
        if line == header_line:
            raise InputError(
                "this line repeats the header row", file=src.name, row=number, fix=_REPEATED_HEADER_FIX
            )
        rows += 1
        if rows > max_rows:
            raise _too_many_rows(src, f"more than {max_rows}", max_rows)
        if fields is None:
            plain.append(number)
        else:
            quoted[number] = fields
    if bad:
        raise _ragged(src, bad, ncols)

    frame = _parse_plain(src, lines, plain, names, untouched=blank == 0 and not quoted)
    if quoted:
        extra = pd.DataFrame(
            list(quoted.values()), columns=names, index=pd.Index(list(quoted), dtype="int64"), dtype=str
        )
        frame = pd.concat([frame, extra]).sort_index(kind="mergesort") if len(frame) else extra
    return frame


def _parse_plain(
    src: Source, lines: list[str], numbers: list[int], names: list[str], *, untouched: bool
) -> pd.DataFrame:
    """Rows without quotes: a plain split on commas (pyarrow, quoting off, every cell a string)."""
    index = pd.Index(np.asarray(numbers, dtype="int64"))
    if not numbers:
        return pd.DataFrame({n: pd.Series([], dtype=str) for n in names}, index=index)
    body = "\n".join(lines[1:] if untouched else (lines[i - 1] for i in numbers))
    tmp = [f"c{i}" for i in range(len(names))]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=tmp, block_size=_BLOCK_SIZE),
            parse_options=_PLAIN_CSV,
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.string() for c in tmp},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError) as exc:  # the scan above should make this unreachable
        raise InputError(
            f"malformed CSV ({str(exc)[:200]})", file=src.name, fix="re-export the file as plain CSV"
        ) from None
    if table.num_rows != len(numbers):
        raise InputError(
            f"malformed CSV: {table.num_rows} rows parsed, {len(numbers)} lines expected",
            file=src.name,
            fix="re-export the file as plain CSV",
        )
    frame = table.to_pandas()
    frame.columns = names
    frame.index = index
    for col in names:
        if frame[col].dtype != "str":
            frame[col] = frame[col].astype(str)
    return frame
