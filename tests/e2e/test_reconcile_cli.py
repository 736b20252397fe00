"""`payouts reconcile --rpc URL` end to end: the pipeline's own batches executed on a real Safe,
the chain served over JSON-RPC/HTTP on 127.0.0.1, the CLI reading it like a treasury would."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flows.chain_config import ChainOptions
from flows.pipeline import RunRequest, run_without_prefect
from payouts.period import Period
from tests.builders import addr, csv_bytes, metrics_frame, node_rows, operator_row, registry_frame
from tests.cli import run_cli
from tests.support.chain import MULTISEND_CALL_ONLY_141, LocalChain, start_chain

pytestmark = pytest.mark.e2e

PERIOD = Period(2026, 10)


def _serve(chain: LocalChain) -> tuple[ThreadingHTTPServer, str]:
    """A minimal JSON-RPC over HTTP bridge to the in-process chain (loopback only)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests = body if isinstance(body, list) else [body]
            replies = []
            for req in requests:
                params = req.get("params", [])
                if req["method"] == "eth_getLogs":  # the tester provider wants its own key names
                    names = {"fromBlock": "from_block", "toBlock": "to_block"}
                    params = [
                        {
                            names.get(k, k): int(v, 16) if k in names and v.startswith("0x") else v
                            for k, v in params[0].items()
                        }
                    ]
                with lock:
                    reply = dict(chain.w3.provider.make_request(req["method"], params))
                if req["method"] == "eth_getLogs" and "result" in reply:
                    reply["result"] = [_log_json(log) for log in reply["result"]]
                reply.update({"jsonrpc": "2.0", "id": req.get("id")})
                replies.append(reply)
            data = json.dumps(replies if isinstance(body, list) else replies[0], default=str).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _hexify(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_hexify(v) for v in value]
    return value


def _log_json(log: Any) -> dict[str, Any]:
    """eth-tester's log (snake_case, ints, bytes) as a JSON-RPC log object (camelCase, hex)."""
    return {_camel(k): _hexify(v) for k, v in dict(log).items() if k != "type"}


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalChain]:
    yield start_chain()


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_reconcile_cli_paid_then_missing(chain: LocalChain, tmp_path: Path, capsys) -> None:
    safe = chain.create_safe()
    folder = tmp_path / "in"
    folder.mkdir()
    # four operators, one node each: four transfers in two batches of two
    rows = [r for i in range(4) for r in node_rows(addr("n", i), addr("o", i), period=PERIOD)]
    (folder / "metrics.csv").write_bytes(csv_bytes(metrics_frame(rows)))
    reg = [operator_row(addr("o", i), addr("p", i)) for i in range(4)]
    (folder / "operators.csv").write_bytes(csv_bytes(registry_frame(reg)))
    out = tmp_path / "out"
    req = RunRequest(
        period=str(PERIOD),
        metrics=str(folder / "metrics.csv"),
        operators=str(folder / "operators.csv"),
        price="0.02",
        out=out,
        batch_size=2,
        chain=ChainOptions(
            chain_id=chain.chain_id,
            safe=safe,
            token=chain.token,
            safe_nonce=chain.safe_nonce(safe),
            multisend=MULTISEND_CALL_ONLY_141,
        ),
    )
    period_dir, _, _ = run_without_prefect(req)
    transfers = _rows(period_dir / "transfers.csv")
    chain.fund_erc20(safe, sum(int(t["amount_wei"]) for t in transfers))
    server, url = _serve(chain)
    try:
        # only batch 1 executed: its two addresses are paid, batch 2's are missing -> exit 1
        batch1 = json.loads((period_dir / "batches" / "batch-001.json").read_text())
        chain.execute_batch_file(
            batch1, safe=safe, nonce=chain.safe_nonce(safe), multisend=MULTISEND_CALL_ONLY_141
        )
        res = run_cli(capsys, "reconcile", "--period", "2026-10", "--rpc", url, "--out", str(out))
        assert res.code == 1, res.out + res.err
        status = {r["payout_address"]: r["status"] for r in _rows(period_dir / "reconciliation.csv")}
        by_batch = {t["payout_address"]: t["batch"] for t in transfers}
        assert status == {a: ("paid" if by_batch[a] == "1" else "missing") for a in by_batch}
        # batch 2 executed too: everything paid -> exit 0, and the ledger knows
        batch2 = json.loads((period_dir / "batches" / "batch-002.json").read_text())
        chain.execute_batch_file(
            batch2, safe=safe, nonce=chain.safe_nonce(safe), multisend=MULTISEND_CALL_ONLY_141
        )
        res = run_cli(capsys, "reconcile", "--period", "2026-10", "--rpc", url, "--out", str(out))
        assert res.code == 0, res.out + res.err
        assert {r["status"] for r in _rows(period_dir / "reconciliation.csv")} == {"paid"}
        hist = run_cli(capsys, "history", "--out", str(out))
        assert "(full, executed)" in hist.out and "4 transfers (4 executed)" in hist.out
    finally:
        server.shutdown()
