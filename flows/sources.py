"""Input sources: a local path or an http(s) URL, CSV or Parquet, read as a table of strings.

This is the imperative shell's reading side. A source is fetched once into memory as bytes (its
SHA-256 is what the manifest records, so the bytes hashed are the bytes parsed), then parsed
without letting pandas guess any type: every cell stays a string until `schemas.inputs` checks it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from payouts.errors import InputError

PARQUET_MAGIC = b"PAR1"
#: Largest input accepted by default (bytes); bigger files need an explicit higher limit.
DEFAULT_MAX_BYTES = 2 * 1024**3


class TransientFetchError(Exception):
    """A fetch that may succeed when retried (timeout, connection reset, HTTP 5xx/429)."""


@dataclass(frozen=True)
class Source:
    role: str  # "metrics", "operators", "history"
    name: str  # as given: a path or a URL
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

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


def read_table(src: Source) -> pd.DataFrame:
    """Parse a source as a table of strings, indexed by CSV line number (header = line 1)."""
    if src.data[:4] == PARQUET_MAGIC or src.name.lower().endswith((".parquet", ".pq")):
        frame = _read_parquet(src)
    else:
        frame = _read_csv(src)
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def _read_parquet(src: Source) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(src.data))
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(
            f"not a readable Parquet file ({exc})", file=src.name, fix="re-export the file"
        ) from None
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            text = s.dt.strftime("%Y-%m-%d")
        else:
            text = s.map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v))
        out[str(col)] = text.fillna("").astype(str)
    return out.reset_index(drop=True)


def _read_csv(src: Source) -> pd.DataFrame:
    data = src.data
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is tolerated, not an error
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte {exc.start})", file=src.name, row=line, fix="save the file as UTF-8 CSV"
        ) from None
    if text.strip() == "":
        raise InputError("the file is empty", file=src.name, fix="export the data with a header row")
    header = text.split("\n", 1)[0].rstrip("\r")
    if "," not in header:
        for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in header:
                raise InputError(
                    f"the header is separated by {label}, not commas",
                    file=src.name,
                    row=1,
                    fix="export as comma-separated CSV",
                )
    names = next(csv.reader([header]))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(
            f"duplicated header column(s) {dupes}", file=src.name, row=1, fix="keep one column of each name"
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
            quoting=csv.QUOTE_MINIMAL,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        raise InputError(
            f"malformed CSV: {exc}", file=src.name, fix="each row must have the header's columns"
        ) from None
    except pd.errors.EmptyDataError:
        raise InputError(
            "the file is empty", file=src.name, fix="export the data with a header row"
        ) from None
    frame.columns = [str(c) for c in frame.columns]
    for col in frame.columns:
        if col.startswith("Unnamed:") or col.strip() == "":
            raise InputError(
                f"header has an empty column name ({col!r})",
                file=src.name,
                row=1,
                fix="name every column, or remove the trailing comma",
            )
    return frame
