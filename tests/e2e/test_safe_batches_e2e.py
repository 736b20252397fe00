"""End to end: the pipeline's batch files, executed from a real 2-of-3 Safe on an in-process chain.

The pipeline runs on the bundled example month (or a synthetic one) with the local chain's
id, Safe and token; every Transaction Builder file it writes is then parsed and executed by the
chain harness (``tests.support.chain``), which rebuilds the calls FROM THE FILE ALONE as the
builder and Safe{Wallet} do. What is checked is what a signer relies on:

* the safeTxHash printed in ``signing.md`` and ``manifest.json`` is the hash of the Safe
  transaction the wallet builds from the file (and equals ``Safe.getTransactionHash``);
* after executing every batch, each recipient holds exactly its ``transfers.csv`` amount and
  the Safe exactly what was left over (balances, not calldata);
* the CSV Airdrop files say the same as the JSON files, in exact decimals.

A batch of exactly one transfer is sent by Safe{Wallet} as a direct CALL (no MultiSend), so it
is executed with ``direct_single_call=True``; batches of two or more are one DELEGATECALL to
MultiSendCallOnly.
"""

from __future__ import annotations

import copy
import csv
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from pathlib import Path
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from bench.generate import generate_month, write_month
from flows.chain_config import ChainOptions
from flows.pipeline import RunRequest, run_without_prefect
from tests.support.chain import (
    MULTISEND_CALL_ONLY_130,
    MULTISEND_CALL_ONLY_141,
    ExecutionResult,
    LocalChain,
    start_chain,
)

pytestmark = pytest.mark.e2e

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "2026-10"
DECIMALS = 18
REMAINDER_WEI = 12_345
TRANSFERS_HEADER = ["period", "batch", "payout_address", "total_usd", "amount_cor", "amount_wei"]
AIRDROP_HEADER = ["token_type", "token_address", "receiver", "amount", "id"]
_HASH = r"0x[0-9a-fA-F]{64}"
_ADDR = r"0x[0-9a-fA-F]{40}"


def units_to_wei(text: str) -> int:
    """Exact ``Decimal(text) * 10**18`` (no rounding at any size: Inexact traps); must be integral."""
    with localcontext() as ctx:
        ctx.prec = 200
        ctx.traps[Inexact] = True
        scaled = Decimal(text) * 10**DECIMALS
        assert scaled == scaled.to_integral_value(), f"{text!r} has more than {DECIMALS} decimals"
        return int(scaled)


def _ser(obj: Any) -> str:
    """The Transaction Builder's checksum serialization (spec section 2), written independently."""
    if isinstance(obj, list):
        return "[" + ",".join(_ser(e) for e in obj) + "]"
    if isinstance(obj, dict):
        keys = sorted(obj, key=lambda k: k.encode("utf-16-be"))  # JS default sort: UTF-16 code units
        head = json.dumps(keys, separators=(",", ":"), ensure_ascii=False)
        return "{" + head + "".join(_ser(obj[k]) + "," for k in keys) + "}"
    return json.dumps(obj, ensure_ascii=False)


def builder_checksum(batch: dict[str, Any]) -> str:
    """``meta.checksum`` as the builder recomputes it on import (name nulled, checksum removed)."""
    payload = copy.deepcopy(batch)
    payload["meta"].pop("checksum", None)
    payload["meta"]["name"] = None
    return "0x" + keccak(_ser(payload).encode("utf-8")).hex()


# --------------------------------------------------------------------------------------------
# Running the pipeline and reading what it wrote
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    out_dir: Path  # <out>/<period>
    safe: ChecksumAddress
    safe_version: str
    multisend: str
    first_nonce: int
    native: bool

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.out_dir / "manifest.json").read_text("utf-8"))

    def batch_json(self, name: str) -> dict[str, Any]:
        return json.loads((self.out_dir / name).read_text("utf-8"))


def run_example(
    chain: LocalChain,
    out: Path,
    *,
    safe: ChecksumAddress,
    safe_version: str = "1.4.1",
    multisend: str | None = None,
    native: bool = False,
    batch_size: int | None = None,
) -> Run:
    """`payouts run` on the bundled example month, paid from `safe` on the local chain."""
    conf = tomllib.loads((EXAMPLE_DIR / "run.toml").read_text("utf-8"))
    return run_month(
        chain,
        out,
        period=conf["period"],
        metrics=conf["metrics"],
        operators=conf["operators"],
        price=conf["price"],
        base_dir=EXAMPLE_DIR,
        safe=safe,
        safe_version=safe_version,
        multisend=multisend,
        native=native,
        batch_size=batch_size,
    )


def run_month(
    chain: LocalChain,
    out: Path,
    *,
    period: str,
    metrics: str,
    operators: str,
    price: str,
    base_dir: Path | None,
    safe: ChecksumAddress,
    safe_version: str,
    multisend: str | None,
    native: bool,
    batch_size: int | None,
) -> Run:
    nonce = chain.safe_nonce(safe)
    options = ChainOptions(
        chain_id=chain.chain_id,
        safe=safe,
        token=None if native else chain.token,
        currency="native" if native else None,
        safe_nonce=nonce,
        safe_version=safe_version,
        multisend=multisend,
    )
    req = RunRequest(
        period=period,
        metrics=metrics,
        operators=operators,
        price=price,
        price_source="e2e test",
        out=out,
        base_dir=base_dir,
        chain=options,
        batch_size=batch_size,
    )
    out_dir, _, _ = run_without_prefect(req)
    manifest = json.loads((out_dir / "manifest.json").read_text("utf-8"))
    # The multisend the pipeline used (its default when none was passed), as the manifest states it.
    used_multisend = manifest["chain"]["multisend_call_only"]
    if multisend is not None:
        assert used_multisend == multisend
    return Run(out_dir, safe, safe_version, used_multisend, nonce, native)


def read_transfers(run: Run) -> list[dict[str, str]]:
    with open(run.out_dir / "transfers.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == TRANSFERS_HEADER
        return list(reader)


def expected_amounts(run: Run) -> dict[str, int]:
    """payout address -> amount_wei from transfers.csv (one row per address)."""
    rows = read_transfers(run)
    amounts = {row["payout_address"]: int(row["amount_wei"]) for row in rows}
    assert len(amounts) == len(rows), "transfers.csv pays some address twice"
    assert all(a == to_checksum_address(a) for a in amounts), "transfers.csv has a non-EIP-55 address"
    assert all(w > 0 for w in amounts.values())
    return amounts


def json_transfers(batch: dict[str, Any], run: Run, chain: LocalChain) -> list[tuple[str, int]]:
    """(recipient, wei) of every transaction in a batch file, checking its shape for the mode."""
    out: list[tuple[str, int]] = []
    for tx in batch["transactions"]:
        if run.native:
            assert tx["data"] is None and tx["contractMethod"] is None, tx
            assert isinstance(tx["value"], str)
            out.append((tx["to"], int(tx["value"])))
        else:
            assert tx["to"] == chain.token and tx["value"] == "0", tx
            values = tx["contractInputsValues"]
            assert isinstance(values["value"], str)
            out.append((values["to"], int(values["value"])))
    return out


@dataclass(frozen=True)
class SigningEntry:
    number: int
    nonce: int
    transfers: int
    operation: int
    to: str
    value: str  # the Safe transaction's value as signing.md states it
    data_keccak: str
    safe_tx_hash: str


def parse_signing(md: str) -> dict[str, SigningEntry]:
    """Per batch file: what signing.md states, from the summary table AND the batch's section
    (which must agree with each other)."""
    row_re = (
        r"^\| (\d+) \| (\d*) \| (\d+) \| [^|]+ \| [^|]+ \| \w+ \((\d)\) "
        rf"\| `({_ADDR})` \| `({_HASH})` \|$"
    )
    table = {int(m[0]): m for m in re.findall(row_re, md, flags=re.M)}
    entries: dict[str, SigningEntry] = {}
    for section in re.split(r"^## ", md, flags=re.M)[1:]:
        head = re.match(r"Batch (\d+) of (\d+): `([^`]+)`", section)
        assert head, section[:200]
        number, name = int(head.group(1)), head.group(3)
        tx_hash = re.search(rf"^- safeTxHash: `({_HASH})`", section, flags=re.M)
        nonce = re.search(r"^- Safe nonce: (\d+)$", section, flags=re.M)
        target = re.search(
            rf"^- Safe transaction: \w+ \((\d)\) to `({_ADDR})`, value (\d+), keccak\(data\) `({_HASH})`$",
            section,
            flags=re.M,
        )
        assert tx_hash and nonce and target, f"signing.md section of {name} lacks hash/nonce/target"
        row = table.get(number)
        assert row is not None, f"signing.md summary table has no row for batch {number}"
        _, t_nonce, t_count, t_op, t_to, t_hash = row
        assert (t_nonce, t_op, t_to, t_hash) == (
            nonce.group(1),
            target.group(1),
            target.group(2),
            tx_hash.group(1),
        ), f"signing.md table and section disagree for batch {number}"
        entries[name] = SigningEntry(
            number=number,
            nonce=int(nonce.group(1)),
            transfers=int(t_count),
            operation=int(target.group(1)),
            to=target.group(2),
            value=target.group(3),
            data_keccak=target.group(4),
            safe_tx_hash=tx_hash.group(1),
        )
    return entries


# --------------------------------------------------------------------------------------------
# Executing every batch of a run and checking the balances
# --------------------------------------------------------------------------------------------


def balance(chain: LocalChain, run: Run, addr: str) -> int:
    return chain.native_balance(addr) if run.native else chain.erc20_balance(addr)


def fund(chain: LocalChain, run: Run, amount: int) -> None:
    (chain.fund_native if run.native else chain.fund_erc20)(run.safe, amount)


def execute_all_batches(chain: LocalChain, run: Run, funded: int) -> list[ExecutionResult]:
    """Check each batch file's hashes against signing.md and the manifest, then execute it.

    After each batch the Safe holds exactly ``funded - running_total_wei`` (the Safe pays no gas:
    the relayer does).
    """
    manifest = run.manifest
    entries = manifest["batches"]
    signing = parse_signing((run.out_dir / "batches" / "signing.md").read_text("utf-8"))
    on_disk = sorted(p.relative_to(run.out_dir).as_posix() for p in run.out_dir.glob("batches/batch-*.json"))
    assert [e["file"] for e in entries] == on_disk, "manifest batches[] and batch files on disk differ"
    assert sorted(signing) == on_disk, "signing.md does not cover exactly the batch files"
    assert [e["batch"] for e in entries] == list(range(1, len(entries) + 1))

    results = []
    for index, entry in enumerate(entries):
        name = entry["file"]
        batch = run.batch_json(name)
        assert batch["chainId"] == str(chain.chain_id)
        assert batch["meta"]["createdFromSafeAddress"] == run.safe
        count = len(batch["transactions"])
        assert count == entry["transfers"] == signing[name].transfers
        direct = count == 1  # Safe{Wallet}: one transaction -> a direct CALL, no MultiSend
        nonce = run.first_nonce + index
        assert entry["safe_nonce"] == signing[name].nonce == nonce, f"{name}: nonce"
        assert chain.safe_nonce(run.safe) == nonce

        # The hash a hardware wallet shows for this file (harness: from the file alone, and it
        # asserts equality with Safe.getTransactionHash on chain).
        expected_hash = chain.batch_safe_tx_hash(
            batch,
            safe=run.safe,
            nonce=nonce,
            multisend=run.multisend,
            safe_version=run.safe_version,
            direct_single_call=direct,
        )
        assert signing[name].safe_tx_hash.lower() == expected_hash, f"{name}: signing.md safeTxHash"
        assert str(entry["safe_tx_hash"]).lower() == expected_hash, f"{name}: manifest safe_tx_hash"

        result = chain.execute_batch_file(
            batch,
            safe=run.safe,
            nonce=nonce,
            multisend=run.multisend,
            signers=[chain.owners[0], chain.owners[2]],  # 2 of the 3 owners
            safe_version=run.safe_version,
            direct_single_call=direct,
        )
        assert result.status == 1
        assert result.safe_tx_hash == expected_hash
        assert result.num_calls == count
        expected_op = 0 if direct else 1
        assert result.operation == entry["safe_tx"]["operation"] == signing[name].operation == expected_op
        assert result.to == entry["safe_tx"]["to"] == signing[name].to
        assert entry["safe_tx"]["to"] == (run.multisend if not direct else result.calls[0].to)
        assert "0x" + keccak(result.data).hex() == entry["safe_tx"]["data_keccak"], f"{name}: data_keccak"
        assert balance(chain, run, run.safe) == funded - int(entry["running_total_wei"]), (
            f"{name}: Safe balance after the batch is not funded - running total"
        )
        results.append(result)
    return results


def check_run_pays_exactly(chain: LocalChain, run: Run) -> list[ExecutionResult]:
    """Fund the Safe with Σ transfers.csv + REMAINDER_WEI, execute all batches, compare balances."""
    amounts = expected_amounts(run)
    total = sum(amounts.values())
    assert int(run.manifest["batches"][-1]["running_total_wei"]) == total
    assert all(balance(chain, run, a) == 0 for a in amounts), "a recipient already holds funds"
    start_balance = balance(chain, run, run.safe)
    fund(chain, run, total + REMAINDER_WEI)
    funded = start_balance + total + REMAINDER_WEI

    results = execute_all_batches(chain, run, funded)

    got = {a: balance(chain, run, a) for a in amounts}
    wrong = {a: (got[a], w) for a, w in amounts.items() if got[a] != w}
    assert not wrong, (
        f"{len(wrong)} recipients not paid exactly (got, expected): {dict(list(wrong.items())[:5])}"
    )
    assert balance(chain, run, run.safe) == start_balance + REMAINDER_WEI
    assert chain.safe_nonce(run.safe) == run.first_nonce + len(results)
    return results


# --------------------------------------------------------------------------------------------
# Fixtures: one chain per module, Safes created once, a snapshot per test
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> LocalChain:
    return start_chain()


@pytest.fixture(scope="module")
def safes(chain: LocalChain) -> dict[str, ChecksumAddress]:
    """2-of-3 Safes. The 1.4.1 one already executed a transaction (nonce 1, empty again), so
    the pipeline's --safe-nonce and the consecutive nonces are exercised from a non-zero start."""
    safes = {v: chain.create_safe(threshold=2, version=v) for v in ("1.4.1", "1.3.0")}
    chain.fund_erc20(safes["1.4.1"], 7)
    chain.transfer_erc20_from_safe(safes["1.4.1"], to_checksum_address(keccak(text="e2e-prior")[-20:]), 7)
    assert chain.safe_nonce(safes["1.4.1"]) == 1 and chain.erc20_balance(safes["1.4.1"]) == 0
    for safe in safes.values():
        assert chain.safe_threshold(safe) == 2 and len(chain.safe_owners(safe)) == 3
    return safes


@pytest.fixture(autouse=True)
def isolated(chain: LocalChain, safes: dict[str, ChecksumAddress]) -> Iterator[None]:
    snap = chain.snapshot()
    yield
    chain.revert(snap)


@pytest.fixture(scope="module")
def erc20_run(
    chain: LocalChain, safes: dict[str, ChecksumAddress], tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """Example month, ERC-20 COR, Safe 1.4.1, batches of 51 (51 + 51 + 1)."""
    return run_example(
        chain,
        tmp_path_factory.mktemp("erc20-141"),
        safe=safes["1.4.1"],
        multisend=MULTISEND_CALL_ONLY_141,
        batch_size=51,
    )


@pytest.fixture(scope="module")
def native_run(
    chain: LocalChain, safes: dict[str, ChecksumAddress], tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """Example month, COR as the native currency, Safe 1.4.1, default multisend, batches of 51
    (51 + 51 + 1: the last one is a direct CALL carrying the value)."""
    return run_example(
        chain, tmp_path_factory.mktemp("native-141"), safe=safes["1.4.1"], native=True, batch_size=51
    )


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_erc20_safe_141_every_batch_pays_exactly(chain: LocalChain, erc20_run: Run) -> None:
    amounts = expected_amounts(erc20_run)
    sizes = [e["transfers"] for e in erc20_run.manifest["batches"]]
    assert sizes == [51, 51, 1], f"example month: {len(amounts)} transfers cut into {sizes}"
    assert erc20_run.first_nonce == 1

    results = check_run_pays_exactly(chain, erc20_run)

    assert [r.operation for r in results] == [1, 1, 0]  # the 1-transfer batch is a direct CALL
    assert results[-1].to == chain.token
    assert [r.safe_nonce for r in results] == [1, 2, 3]


def test_erc20_safe_130_every_batch_pays_exactly(
    chain: LocalChain, safes: dict[str, ChecksumAddress], tmp_path: Path
) -> None:
    run = run_example(
        chain, tmp_path, safe=safes["1.3.0"], safe_version="1.3.0", multisend=MULTISEND_CALL_ONLY_130
    )
    assert run.manifest["chain"]["safe_version"] == "1.3.0"
    assert [e["transfers"] for e in run.manifest["batches"]] == [100, 3]  # default batch size 100

    results = check_run_pays_exactly(chain, run)

    assert [(r.operation, r.to) for r in results] == [(1, MULTISEND_CALL_ONLY_130)] * 2
    assert [r.safe_nonce for r in results] == [0, 1]


def test_native_currency_every_batch_pays_exactly(chain: LocalChain, native_run: Run) -> None:
    assert native_run.manifest["chain"]["currency"] == "native"
    assert native_run.manifest["chain"]["token"] is None
    assert native_run.multisend == MULTISEND_CALL_ONLY_141  # the pipeline's default for 1.4.1
    assert chain.native_balance(native_run.safe) == 0
    relayer_before = chain.native_balance(chain.deployer.address)

    results = check_run_pays_exactly(chain, native_run)

    assert [r.operation for r in results] == [1, 1, 0]
    last = native_run.batch_json(native_run.manifest["batches"][-1]["file"])["transactions"][0]
    assert results[-1].to == last["to"]  # direct CALL to the recipient, carrying the value
    assert results[-1].calls[0].value == int(last["value"])
    assert all(c.data == b"" for r in results for c in r.calls)  # plain value transfers
    # The relayer paid the gas (and the funding); the Safe paid none: it keeps exactly the remainder.
    assert chain.native_balance(native_run.safe) == REMAINDER_WEI
    assert chain.native_balance(chain.deployer.address) < relayer_before


def test_250_transfer_batch_fits_in_a_block(
    chain: LocalChain, safes: dict[str, ChecksumAddress], tmp_path: Path
) -> None:
    # (operators=300, nodes=400, seed=7) pays only 236 addresses; 350/460 pays 272 -> 250 + 22.
    metrics, registry = generate_month(period="2026-10", operators=350, nodes=460, seed=7)
    metrics_path, operators_path = write_month(metrics, registry, tmp_path / "inputs")
    run = run_month(
        chain,
        tmp_path / "out",
        period="2026-10",
        metrics=str(metrics_path),
        operators=str(operators_path),
        price="0.0215",
        base_dir=None,
        safe=safes["1.4.1"],
        safe_version="1.4.1",
        multisend=MULTISEND_CALL_ONLY_141,
        native=False,
        batch_size=250,
    )
    first = run.manifest["batches"][0]
    assert first["transfers"] == 250, f"synthetic month pays only {len(expected_amounts(run))} addresses"
    batch = run.batch_json(first["file"])
    paid = json_transfers(batch, run, chain)
    chain.fund_erc20(run.safe, int(first["total_wei"]) + REMAINDER_WEI)
    expected_hash = chain.batch_safe_tx_hash(
        batch, safe=run.safe, nonce=run.first_nonce, multisend=run.multisend, safe_version="1.4.1"
    )
    assert first["safe_tx_hash"] == expected_hash

    result = chain.execute_batch_file(batch, safe=run.safe, nonce=run.first_nonce, multisend=run.multisend)

    block_gas_limit = int(chain.w3.eth.get_block(result.receipt["blockNumber"])["gasLimit"])
    assert result.status == 1 and result.num_calls == 250
    assert result.gas_used < block_gas_limit, (
        f"250 transfers used {result.gas_used} gas, block gas limit {block_gas_limit}"
    )
    assert result.gas_used < 30_000_000, f"250 transfers used {result.gas_used} gas (> 30M)"
    print(
        f"\n250 ERC-20 transfers from a Safe 1.4.1: {result.gas_used:,} gas "
        f"(block gas limit {block_gas_limit:,})"
    )
    assert all(chain.erc20_balance(to) == wei for to, wei in paid)
    assert chain.erc20_balance(run.safe) == REMAINDER_WEI


@pytest.mark.parametrize("which", ["erc20_run", "native_run"])
def test_airdrop_csv_matches_batch_json(
    chain: LocalChain, which: str, request: pytest.FixtureRequest
) -> None:
    run: Run = request.getfixturevalue(which)
    transfers = read_transfers(run)
    for row in transfers:  # transfers.csv's own two amount columns agree exactly
        assert units_to_wei(row["amount_cor"]) == int(row["amount_wei"]), row
    by_batch: dict[int, list[tuple[str, int]]] = {}
    for row in transfers:
        by_batch.setdefault(int(row["batch"]), []).append((row["payout_address"], int(row["amount_wei"])))

    entries = run.manifest["batches"]
    assert sorted(by_batch) == [e["batch"] for e in entries]
    for entry in entries:
        paid = json_transfers(run.batch_json(entry["file"]), run, chain)
        assert paid == by_batch[entry["batch"]], (
            f"{entry['file']} differs from transfers.csv batch {entry['batch']}"
        )
        assert sum(w for _, w in paid) == int(entry["total_wei"])

        text = (run.out_dir / entry["airdrop_csv"]).read_text("utf-8")
        assert "\r" not in text
        rows = list(csv.reader(text.splitlines()))
        assert rows[0] == AIRDROP_HEADER
        body = rows[1:]
        assert len(body) == len(paid), entry["airdrop_csv"]
        for (recipient, wei), row in zip(paid, body, strict=True):
            token_type, token_address, receiver, amount, id_ = row
            assert (token_type, token_address) == (("native", "") if run.native else ("erc20", chain.token))
            assert receiver == recipient and id_ == ""
            assert re.fullmatch(r"[0-9]+(\.[0-9]{1,18})?", amount), f"not a plain decimal: {amount!r}"
            assert units_to_wei(amount) == wei, (receiver, amount, wei)


@pytest.mark.parametrize("which", ["erc20_run", "native_run"])
def test_stated_safe_tx_matches_what_the_wallet_signs(
    chain: LocalChain, which: str, request: pytest.FixtureRequest
) -> None:
    """manifest ``safe_tx`` and signing.md describe the Safe tx the wallet builds: to, operation,
    VALUE, keccak(data). For a native 1-transfer batch (direct CALL) the value is the amount."""
    run: Run = request.getfixturevalue(which)
    signing = parse_signing((run.out_dir / "batches" / "signing.md").read_text("utf-8"))
    built, in_manifest, in_signing = [], [], []
    for entry in run.manifest["batches"]:
        batch = run.batch_json(entry["file"])
        to, value, data, operation, _ = chain.batch_safe_tx_params(
            batch, multisend=run.multisend, direct_single_call=len(batch["transactions"]) == 1
        )
        built.append((entry["file"], operation, to, str(value), "0x" + keccak(data).hex()))
        tx = entry["safe_tx"]
        in_manifest.append((entry["file"], tx["operation"], tx["to"], tx["value"], tx["data_keccak"]))
        sig = signing[entry["file"]]
        in_signing.append((entry["file"], sig.operation, sig.to, sig.value, sig.data_keccak))
    assert (in_manifest, in_signing) == (built, built), (
        "Safe tx (file, operation, to, value, keccak(data)) the wallet signs vs what is stated:\n"
        f"  wallet:     {built}\n  manifest:   {in_manifest}\n  signing.md: {in_signing}"
    )


@pytest.mark.parametrize("which", ["erc20_run", "native_run"])
def test_batch_files_import_without_checksum_warning(which: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(which)
    for entry in run.manifest["batches"]:
        name = entry["file"]
        batch = run.batch_json(name)
        assert batch["meta"]["checksum"] == builder_checksum(batch) == entry["builder_checksum"], name
