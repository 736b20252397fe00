"""The treasury's emission budget: the miner-incentive allocation and an optional monthly cap.

Pure. Rewards come out of the miner incentive allocation (policy `[emission] allocation_cor`);
a policy may also cap what one period may emit (`monthly_cap_cor`). Every run states what it
pays, what the period has emitted in all, what all periods have emitted, and what remains; a run
that would exceed the cap or the allocation is refused (exit 2) with both figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payouts.errors import InputError
from payouts.money import format_units
from payouts.policy import Policy


@dataclass(frozen=True)
class EmissionReport:
    allocation_wei: int | None
    monthly_cap_wei: int | None
    run_wei: int  # what this run pays
    period_wei: int  # everything the period has emitted, this run included
    other_periods_wei: int  # everything emitted for other periods (ledger)

    @property
    def cumulative_wei(self) -> int:
        return self.other_periods_wei + self.period_wei

    @property
    def remaining_wei(self) -> int | None:
        return None if self.allocation_wei is None else self.allocation_wei - self.cumulative_wei

    def as_manifest(self, decimals: int) -> dict[str, Any]:
        def cor(wei: int | None) -> str | None:
            return None if wei is None else format_units(wei, decimals)

        return {
            "allocation_cor": cor(self.allocation_wei),
            "monthly_cap_cor": cor(self.monthly_cap_wei),
            "this_run_cor": cor(self.run_wei),
            "period_total_cor": cor(self.period_wei),
            "other_periods_wei": str(self.other_periods_wei),
            "cumulative_cor": cor(self.cumulative_wei),
            "remaining_cor": cor(self.remaining_wei),
        }


def check_emission(
    policy: Policy, *, run_wei: int, period_before_wei: int, other_periods_wei: int
) -> EmissionReport:
    """Account this run against the policy's emission limits; raise InputError if it would exceed one."""
    d = policy.token_decimals
    report = EmissionReport(
        allocation_wei=policy.emission_allocation_wei,
        monthly_cap_wei=policy.emission_monthly_cap_wei,
        run_wei=run_wei,
        period_wei=period_before_wei + run_wei,
        other_periods_wei=other_periods_wei,
    )
    if report.monthly_cap_wei is not None and report.period_wei > report.monthly_cap_wei:
        raise InputError(
            f"this run would bring the period's emission to {format_units(report.period_wei, d)} COR, "
            f"above the monthly emission cap of {format_units(report.monthly_cap_wei, d)} COR",
            fix="check the inputs and price; if the payout is right, raise emission.monthly_cap_cor "
            "in a new policy version",
        )
    if report.allocation_wei is not None and report.cumulative_wei > report.allocation_wei:
        remaining = report.allocation_wei - report.other_periods_wei - period_before_wei
        raise InputError(
            f"this run pays {format_units(run_wei, d)} COR but only {format_units(max(remaining, 0), d)} COR "
            f"remain of the miner-incentive allocation of {format_units(report.allocation_wei, d)} COR "
            f"({format_units(report.other_periods_wei + period_before_wei, d)} COR already emitted)",
            fix="the allocation is exhausted: the treasury decides (new allocation, new policy version)",
        )
    return report
