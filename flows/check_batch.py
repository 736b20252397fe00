"""`payouts check-batch`: verify Transaction Builder files before a signer imports them.

Checks each file's builder checksum and structure; when the file sits in a period's `batches/`
folder (or beside `transfers.csv`), also that its transfers equal that batch of transfers.csv,
in order, to the wei, and that every call goes to the token recorded in manifest.json.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from payouts.txbuilder import BatchTransfer, verify_batch_file

_BATCH_NAME = re.compile(r"batch-(\d+)\.json")


@dataclass(frozen=True)
class CheckResult:
    path: Path
    problems: tuple[str, ...]
    summary: str

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        if self.ok:
            return f"OK   {self.path}: {self.summary}"
        return f"FAIL {self.path}: " + "; ".join(self.problems)


def _period_dir(path: Path) -> Path | None:
    for candidate in (path.parent, path.parent.parent):
        if (candidate / "transfers.csv").is_file():
            return candidate
    return None


def _expected(period_dir: Path, batch: int) -> tuple[list[BatchTransfer], str | None, bool]:
    """(transfers of `batch` from transfers.csv, token from the manifest, native?)."""
    text = (period_dir / "transfers.csv").read_text("utf-8")
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r.get("batch") == str(batch)]
    expected = [BatchTransfer(r["payout_address"], int(r["amount_wei"])) for r in rows]
    token, native = None, False
    manifest = period_dir / "manifest.json"
    if manifest.is_file():
        chain = json.loads(manifest.read_text("utf-8")).get("chain") or {}
        token = chain.get("token")
        native = chain.get("currency") == "native"
    return expected, token, native


def _manifest_problems(period_dir: Path, path: Path) -> list[str]:
    """The batch file and transfers.csv must be the exact files the run recorded (SHA-256).

    Without this, editing a batch (and recomputing its checksum) together with transfers.csv
    would pass; the manifest - and the ledger - hold the hashes of what was emitted.
    """
    manifest = period_dir / "manifest.json"
    if not manifest.is_file():
        return ["no manifest.json beside transfers.csv: cannot check the files are the ones emitted"]
    recorded = {o["name"]: o["sha256"] for o in json.loads(manifest.read_text("utf-8")).get("outputs", [])}
    problems = []
    for file in (path, period_dir / "transfers.csv"):
        name = file.resolve().relative_to(period_dir.resolve()).as_posix()
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if recorded.get(name) != digest:
            problems.append(f"{name}: SHA-256 {digest} is not the one recorded in manifest.json")
    return problems


def check_file(path: Path) -> CheckResult:
    raw = path.read_bytes()
    match = _BATCH_NAME.fullmatch(path.name)
    period_dir = _period_dir(path)
    note = "checksum and structure valid"
    if match and period_dir is not None:
        batch = int(match.group(1))
        expected, token, _native = _expected(period_dir, batch)
        if not expected:
            return CheckResult(path, (f"transfers.csv in {period_dir} has no batch {batch}",), "")
        problems = verify_batch_file(raw, expected=expected, token=token)
        problems += _manifest_problems(period_dir, path)
        total = sum(t.amount_wei for t in expected)
        note = (
            f"checksum valid; {len(expected)} transfers ({total} wei) match batch {batch} of "
            f"{period_dir / 'transfers.csv'}; file hashes match manifest.json"
        )
    else:
        problems = verify_batch_file(raw)
        if not problems:
            count = len(json.loads(raw.decode("utf-8")).get("transactions", []))
            note = f"checksum and structure valid; {count} transactions (no transfers.csv beside it)"
    return CheckResult(path, tuple(problems), note)
