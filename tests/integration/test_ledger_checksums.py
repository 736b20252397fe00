"""The ledger hashes each address once per process (in bulk, through the EIP-55 memo of
payouts.addresses), with the same results and errors as eth_utils.to_checksum_address."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

import flows.ledger as ledger_mod
import payouts.addresses as addresses
from flows.ledger import Ledger, TransferRecord
from tests.builders import run_meta

pytestmark = pytest.mark.integration


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _addresses(kind: str, n: int, seed: int) -> list[str]:
    """n distinct EIP-55 addresses (seeded)."""
    rng = random.Random(f"{kind}:{seed}")
    return [to_checksum_address(f"0x{rng.getrandbits(160):040x}") for _ in range(n)]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address hashed (as "0x" + its 40 lowercase hex digits), from an empty memo."""
    seen: list[str] = []
    real = addresses._keccak

    def counting(data: bytes) -> bytes:
        seen.append("0x" + data.decode("ascii"))
        return real(data)

    monkeypatch.setattr(addresses, "_EIP55_MEMO", {})
    monkeypatch.setattr(addresses, "_keccak", counting)
    return seen


def _emit(ledger: Ledger, period: str, owed: dict[str, int], nodes: list[str], ops: dict[str, str]) -> None:
    plan = ledger.plan_emission(period, _sha(period), owed)
    outputs = {"batch-1.json": _sha("batch"), "manifest.json": _sha("manifest")}
    transfers = [
        TransferRecord(a, w, 1, "batch-1.json", outputs["batch-1.json"]) for a, w in plan.pay.items()
    ]
    meta = run_meta(
        outputs,
        eligible_nodes=frozenset(nodes),
        operator_payouts=ops,
        safe_address=_addresses("safe", 1, 0)[0].lower(),
    )
    ledger.emit(plan, meta, transfers)


def test_each_address_is_checksummed_once_per_process(tmp_path: Path, counted: list[str]) -> None:
    nodes = _addresses("node", 300, 1)
    payees = _addresses("pay", 40, 1)
    ops = dict(zip(_addresses("op", 60, 1), payees * 2, strict=False))
    # spelled lowercase / uppercase on the way in: the ledger stores the EIP-55 form
    owed = {(p.lower() if i % 2 else "0x" + p[2:].upper()): 10**18 + i for i, p in enumerate(payees)}
    with Ledger.open(tmp_path / "ledger.sqlite", clock=lambda: "2026-11-02T00:00:00Z") as ledger:
        _emit(ledger, "2026-10", owed, [n.lower() for n in nodes], {o.lower(): p for o, p in ops.items()})
        spellings = {*owed, *(n.lower() for n in nodes), *(o.lower() for o in ops), *ops.values()}
        assert len(counted) == len(set(counted))  # never the same address twice
        assert set(counted) <= {a.lower() for a in spellings} | {_addresses("safe", 1, 0)[0].lower()}
        assert {n.lower() for n in nodes} | {p.lower() for p in payees} <= set(counted)  # all hashed
        dump = ledger.dump()
        first = len(counted)
        # the next month, same addresses: nothing is checksummed again
        _emit(ledger, "2026-11", owed, [n.lower() for n in nodes], {o.lower(): p for o, p in ops.items()})
        assert len(counted) == first
    assert sorted(r[0] for r in dump["node_first_eligible"]) == sorted(nodes)
    assert sorted(r[1] for r in dump["run_owed"]) == sorted(payees)
    assert sorted(r[3] for r in dump["transfers"]) == sorted(payees)
    assert {(r[0], r[3]) for r in dump["operator_payout_address"]} == set(ops.items())


@pytest.mark.parametrize(
    "bad",
    [
        "0x" + "ab" * 19 + "a",  # short
        "0x" + "ab" * 20 + "0",  # long
        " 0x" + "ab" * 20,  # whitespace
        "0x" + "ab" * 19 + "a\u0430",  # Cyrillic a
        "0X" + "ab" * 20,
        "",
        None,
        7,
    ],
)
def test_bad_addresses_fail_with_the_same_error(tmp_path: Path, bad: object, counted: list[str]) -> None:
    good = _addresses("pay", 3, 2)
    message = f"{bad!r} is not a 0x-prefixed 40-hex-digit address"
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(ValueError) as err:
            ledger.plan_emission("2026-10", _sha("k"), {good[0]: 1, bad: 2, good[1]: 3})  # type: ignore[dict-item]
        assert str(err.value) == f"owed: {message}"
        with pytest.raises(ValueError) as err:
            ledger.import_history("2026-09", [good[2], bad])  # type: ignore[list-item]
        assert str(err.value) == f"node: {message}"
        assert ledger.dump()["node_first_eligible"] == []


def test_address_equals_eth_utils_and_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "_EIP55_MEMO", {})
    monkeypatch.setattr(addresses, "_EIP55_MEMO_MAX", 16)
    rng = random.Random(7)
    values = []
    for a in _addresses("any", 200, 3):
        values += [
            a,
            a.lower(),
            "0x" + a[2:].upper(),
            "0x" + "".join(rng.choice([c.lower(), c.upper()]) for c in a[2:]),
        ]
    addresses.checksum_many(values[:100])
    assert len(addresses._EIP55_MEMO) <= 16
    assert [ledger_mod._address(v, "x") for v in values] == [to_checksum_address(v) for v in values]
    assert len(addresses._EIP55_MEMO) <= 16
