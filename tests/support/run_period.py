"""Run one period through the ledger without Prefect, in its own process (for process-level tests).

usage: python -m tests.support.run_period OUT METRICS OPERATORS PRICE [--supersede]
Exit 0 with the emission status on stdout; 2 with the InputError message on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flows.pipeline import RunRequest, run_without_prefect
from payouts.errors import InputError


def main(argv: list[str]) -> int:
    out, metrics, operators, price = argv[:4]
    req = RunRequest(
        period="2026-10",
        metrics=metrics,
        operators=operators,
        price=price,
        price_source="test",
        out=Path(out),
        supersede="--supersede" in argv,
    )
    try:
        folder, _, _ = run_without_prefect(req)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
