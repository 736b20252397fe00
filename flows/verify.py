"""`payouts verify <out>/<period>`: recompute a period from its manifest and compare byte for byte.

An auditor's check that the files on disk are exactly what the recorded inputs, policy and price
produce. It re-reads every input named in manifest.json (its SHA-256 must match), finds the policy
file by its recorded SHA-256, recomputes with the plain pipeline (no Prefect server), and compares
every output file. Differences are reported as (file, row, column, expected, found).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows import pipeline
from flows.chain_config import ChainOptions, load_networks
from flows.sources import fetch
from payouts.errors import InputError
from payouts.manifest import sha256_hex

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Difference:
    file: str
    row: str  # CSV line number, JSON key path, or "-" for the whole file
    column: str
    expected: str
    found: str

    def line(self) -> str:
        where = f"{self.file}: row {self.row}, column {self.column}"
        return f"{where}: expected {self.expected!r}, found {self.found!r}"


class InputsChanged(InputError):
    """An input named in the manifest is missing or no longer has the recorded SHA-256 (exit 2)."""


def _base_dir(names: list[str], base_dirs: list[Path]) -> Path | None:
    """The first folder against which every relative input name resolves (names stay as recorded)."""
    relative = [n for n in names if not n.startswith(("http://", "https://")) and not Path(n).is_absolute()]
    for base in base_dirs:
        if all((base / n).is_file() for n in relative):
            return base
    return None


def _find_policy(recorded: dict[str, Any]) -> str:
    """The policy file with the recorded SHA-256: the recorded source, else any file under policies/.

    Old months keep their rules: when phase3.toml has moved on to a new version, the old version
    kept beside it (e.g. phase3-v1.toml) is found by its hash.
    """
    candidates: list[Path] = []
    try:
        candidates.append(pipeline.resolve_policy(recorded["source"])[0])
    except InputError:
        pass
    candidates += sorted(pipeline.POLICY_DIR.glob("*.toml"))
    for path in candidates:
        if sha256_hex(path.read_bytes()) == recorded["sha256"]:
            return str(path)
    raise InputsChanged(
        f"no policy file has the recorded SHA-256 {recorded['sha256']} "
        f"({recorded['name']} v{recorded['version']}, recorded as {recorded['source']!r})",
        fix="restore the policy file the period was computed with (keep old versions side by side)",
    )


def request_from_manifest(
    manifest: dict[str, Any], base_dirs: list[Path], limits: pipeline.Limits | None = None
) -> pipeline.RunRequest:
    lim = limits or pipeline.Limits()
    names = [i["name"] for i in manifest["inputs"]]
    base = _base_dir(names, base_dirs)
    for item in manifest["inputs"]:
        try:
            digest = fetch(item["role"], item["name"], base_dir=base, max_bytes=lim.max_bytes).sha256
        except InputError as exc:
            raise InputsChanged(
                f"input {item['name']} is missing: {exc.message}",
                file=item["name"],
                fix="run verify where the inputs are, or pass --inputs-dir",
            ) from None
        if digest != item["sha256"]:
            raise InputsChanged(
                f"input {item['name']} changed: SHA-256 {digest}, manifest says {item['sha256']}",
                file=item["name"],
                fix="verify against the exact files the period was computed from",
            )
    by_role = {i["role"]: i["name"] for i in manifest["inputs"] if i["role"] != "history"}
    chain = manifest.get("chain") or None
    chain_opts = ChainOptions()
    if chain is not None:
        known = chain["network"] in load_networks()
        chain_opts = ChainOptions(
            network=chain["network"] if known else None,
            chain_id=chain["chain_id"],
            safe=chain["safe"],
            token=chain["token"],
            currency=chain["currency"],
            safe_nonce=chain["first_safe_nonce"],
            safe_version=chain["safe_version"],
            multisend=chain["multisend_call_only"],
        )
    return pipeline.RunRequest(
        period=manifest["period"],
        metrics=by_role["metrics"],
        operators=by_role["operators"],
        price=manifest["price"]["cor_usd"],
        price_source=manifest["price"]["source"],
        policy=_find_policy(manifest["policy"]),
        policy_label=manifest["policy"]["source"],
        history=tuple(i["name"] for i in manifest["inputs"] if i["role"] == "history"),
        base_dir=base,
        chain=chain_opts,
        batch_size=manifest.get("batch_size"),
        limits=lim,
    )


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))


def _diff_csv(name: str, expected: bytes, found: bytes) -> list[Difference]:
    exp, got = _csv_rows(expected), _csv_rows(found)
    header = exp[0] if exp else []
    out: list[Difference] = []
    if (got[0] if got else []) != header:
        return [Difference(name, "1", "(header)", ",".join(header), ",".join(got[0] if got else []))]
    # align rows by their first identifying column where possible (removed/added rows)
    for i in range(1, max(len(exp), len(got))):
        line = str(i + 1)
        if i >= len(got):
            out.append(Difference(name, line, "(row)", ",".join(exp[i]), "(missing)"))
            continue
        if i >= len(exp):
            out.append(Difference(name, line, "(row)", "(none)", ",".join(got[i])))
            continue
        for col, e, f in zip(header, exp[i], got[i], strict=False):
            if e != f:
                out.append(Difference(name, line, col, e, f))
        if len(exp[i]) != len(got[i]):
            out.append(Difference(name, line, "(fields)", str(len(exp[i])), str(len(got[i]))))
    return out


def _flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(obj, dict):
        items: dict[str, str] = {}
        for k, v in obj.items():
            items.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return items
    if isinstance(obj, list):
        items = {}
        for i, v in enumerate(obj):
            items.update(_flatten(v, f"{prefix}[{i}]"))
        return items
    return {prefix: json.dumps(obj)}


def _diff_json(name: str, expected: bytes, found: bytes) -> list[Difference]:
    try:
        exp, got = _flatten(json.loads(expected)), _flatten(json.loads(found))
    except ValueError:
        return [Difference(name, "-", "(json)", "valid JSON", "unparseable")]
    keys = sorted(set(exp) | set(got))
    return [
        Difference(name, k, "(value)", exp.get(k, "(none)"), got.get(k, "(none)"))
        for k in keys
        if exp.get(k) != got.get(k)
    ]


def _diff_text(name: str, expected: bytes, found: bytes) -> list[Difference]:
    e, f = expected.decode("utf-8", "replace").split("\n"), found.decode("utf-8", "replace").split("\n")
    return [
        Difference(name, str(i + 1), "(line)", a, b)
        for i, (a, b) in enumerate(zip(e, f, strict=False))
        if a != b
    ] or [Difference(name, "-", "(length)", str(len(e)), str(len(f)))]


def diff_file(name: str, expected: bytes, found: bytes | None) -> list[Difference]:
    if found is None:
        return [Difference(name, "-", "(file)", "present", "missing")]
    if expected == found:
        return []
    if name.endswith(".csv"):
        diffs = _diff_csv(name, expected, found)
    elif name.endswith(".json"):
        diffs = _diff_json(name, expected, found)
    else:
        diffs = _diff_text(name, expected, found)
    return diffs or [Difference(name, "-", "(bytes)", sha256_hex(expected), sha256_hex(found))]


def _recorded_pairs(path: Path, key: str, value: str) -> dict[str, str]:
    """A two-column ledger input the run recorded beside its outputs ({} when absent).

    prior_eligibility.csv (the new-node rule) and previous_payout_addresses.csv (the
    changed-address flag) stand in for the ledger when verify recomputes without it.
    """
    if not path.is_file():
        return {}
    rows = csv.DictReader(io.StringIO(path.read_text("utf-8")))
    return {r[key]: r[value] for r in rows}


def verify_period(
    folder: Path, inputs_dir: Path | None = None, limits: pipeline.Limits | None = None
) -> list[Difference]:
    """Recompute `folder` (an `<out>/<period>` directory) and list every difference."""
    manifest_path = folder / pipeline.MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"no {pipeline.MANIFEST} in {folder}", fix="pass an <out>/<period> folder of a run")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    base_dirs = [d for d in (inputs_dir, Path.cwd(), REPO_ROOT) if d is not None]
    req = request_from_manifest(manifest, base_dirs, limits)
    run = manifest.get("run") or {"kind": "full", "seq": 1}
    if run.get("kind") != "full":
        raise InputError(
            f"{folder} is a top-up run (run {run.get('seq')}): verify recomputes full runs only",
            fix="verify the period's first run folder; top-up amounts are checked by the ledger",
        )
    prior = _recorded_pairs(folder / pipeline.PRIOR_ELIGIBILITY, "node_address", "first_eligible_period")
    other = int((manifest.get("emission") or {}).get("other_periods_wei") or 0)
    previous = _recorded_pairs(folder / pipeline.PREVIOUS_PAYOUTS, "operator_address", "payout_address")
    expected = pipeline.recompute(req, prior, other, previous).files
    found = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
    diffs: list[Difference] = []
    for name in sorted(expected):
        diffs += diff_file(name, expected[name], found.get(name))
    for name in sorted(set(found) - set(expected)):
        if name.startswith(("report.", "reconciliation", "overpaid")):
            continue  # written by other commands, not part of the recomputation
        diffs.append(Difference(name, "-", "(file)", "absent", "present"))
    return diffs
