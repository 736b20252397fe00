"""The month's report (payouts.report): exact strings, bins, escaping, determinism, no network."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from flows.report import emission_history, previous_from_folder
from payouts.money import format_units, usd_to_wei
from payouts.report import (
    BatchRow,
    Bin,
    ChainInfo,
    CurvePoint,
    EmissionInfo,
    FilledSlot,
    OperatorRow,
    PeriodEmission,
    PreviousMonth,
    RankTier,
    RejectedRow,
    ReportData,
    ReportTotals,
    RunInfo,
    allocation_share,
    bin_edges,
    build_report,
    curve_geometry,
    emission_curve,
    histogram,
    percent_change,
    report_curve,
    slot_lines,
    tier_summaries,
    top_operators,
    units_to_int,
)

pytestmark = pytest.mark.unit

A = "0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa"
B = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"
C = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccCcCCC"
D = "0xdDdDddDdDdddDDddDDddDDDDdDdDDdDDdDDDDDDd"
E = "0xeEEEeEeeeEeEeEEEEEEeeEeEeEeEEEeEeeEeEeEe"
N1, N2, N3, N4, N5 = (f"0x{str(i) * 40}" for i in range(1, 6))
PRICE = Decimal("0.0215")
EVIL = '</title><script>alert("x")</script><img src=x onerror=alert(1)>'


def _op(addr: str, total: str, nodes: int = 1, payout: str | None = None) -> OperatorRow:
    t = Decimal(total)
    return OperatorRow(addr, payout or addr, nodes, t, Decimal(0), Decimal(0), Decimal(0), Decimal(0), t)


OPERATORS = (
    _op(A, "72.60", 3),
    _op(B, "20.00"),
    _op(C, "0.00", 0),
    _op(D, "132.00", 5, payout=B),
    _op(E, "850.00", 25),
)
# transfers: one per payout address (D is paid at B's address), batch 1 = A and B, batch 2 = E
WEI = {
    A: usd_to_wei(Decimal("72.60"), PRICE, 18),
    B: usd_to_wei(Decimal("152.00"), PRICE, 18),
    E: usd_to_wei(Decimal("850.00"), PRICE, 18),
}
TOTAL_WEI = sum(WEI.values())
TIERS = (RankTier(1, 2, Decimal(50), 1), RankTier(3, 5, Decimal(10), 0))
SLOTS = (
    FilledSlot(1, 1, N1, A, Decimal(50)),
    FilledSlot(2, 3, N2, E, Decimal(50)),
    FilledSlot(3, 2, N3, E, Decimal(10)),
    FilledSlot(5, 4, N4, E, Decimal(10)),
)


def data(**changes: object) -> ReportData:
    base = ReportData(
        period="2026-10",
        policy_name="phase3",
        policy_version="1",
        policy_sha256="ab" * 32,
        price_usd=PRICE,
        price_source="CoinGecko 30-day VWAP",
        token_symbol="COR",
        token_decimals=18,
        totals=ReportTotals(
            nodes=40,
            eligible_nodes=34,
            held_nodes=6,
            operators=5,
            total_usd=Decimal("1074.60"),
            transfers=3,
            total_wei=TOTAL_WEI,
            dust_wei=3,
            rejected_rows=2,
            findings=3,
        ),
        held_by_reason=(("invalid_data", 1), ("unknown_operator", 0), ("low_uptime", 3), ("no_tasks", 2)),
        rejected_shown=(
            RejectedRow("7", N5, "uptime_ratio", "range[0,1]", "1.7", "metrics.csv"),
            RejectedRow("9", N5, "response_rate", "number", "'=HYPERLINK(1)", "metrics.csv"),
        ),
        operators=OPERATORS,
        rank_tiers=TIERS,
        rank_slots=SLOTS,
        batches=(
            BatchRow(1, 2, Decimal("224.60"), WEI[A] + WEI[B], 7, "0x" + "12" * 32),
            BatchRow(2, 1, Decimal("850.00"), WEI[E], 8, "0x" + "34" * 32),
        ),
        chain=ChainInfo("arbitrum-sepolia", 421614, A, B),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def html_md(d: ReportData) -> tuple[str, str]:
    h, m = build_report(d)
    return h.decode("utf-8"), m.decode("utf-8")


def svg(page: str, svg_id: str) -> str:
    m = re.search(rf'<svg[^>]* id="{svg_id}".*?</svg>', page, re.S)
    assert m, f"no <svg id={svg_id}>"
    return m.group(0)


# ----------------------------------------------------------------------------------------- totals


def test_totals_are_the_exact_strings() -> None:
    page, md = html_md(data())
    cor = format_units(TOTAL_WEI, 18)
    assert '<tr><th>Total USD</th><td class="num">1074.60</td></tr>' in page
    assert f'<tr><th>Total COR</th><td class="num">{cor}</td></tr>' in page
    assert f'<tr><th>Total COR in wei</th><td class="num">{TOTAL_WEI}</td></tr>' in page
    assert '<tr><th>Operators paid</th><td class="num">4</td></tr>' in page  # C earned 0
    assert '<tr><th>Rounding dust (wei, not paid)</th><td class="num">3</td></tr>' in page
    assert "| Total USD | 1074.60 |" in md
    assert f"| Total COR | {cor} |" in md
    assert f"| Total COR in wei | {TOTAL_WEI} |" in md
    assert "No previous month given: no change column." in md
    assert "0.0215 USD per COR" in page and "0.0215 USD per COR" in md


def test_change_versus_the_previous_month() -> None:
    prev = PreviousMonth("2026-09", Decimal("1000.00"), TOTAL_WEI + 10**18, 30, 6)
    page, md = html_md(data(previous=prev))
    assert (
        '<tr><th>Total USD</th><td class="num">1074.60</td><td class="num">1000.00</td>'
        '<td class="num up">+74.60</td><td class="num up">+7.5%</td></tr>'
    ) in page
    assert "| Total USD | 1074.60 | 1000.00 | +74.60 | +7.5% |" in md
    assert (
        f"| Total COR | {format_units(TOTAL_WEI, 18)} | {format_units(TOTAL_WEI + 10**18, 18)} | -1 |" in md
    )
    assert "| Eligible nodes | 34 | 30 | +4 | +13.3% |" in md
    assert "| Operators | 5 | 6 | -1 | -16.7% |" in md
    assert "| Nodes seen | 40 | - | - | - |" in md


@pytest.mark.parametrize(
    ("cur", "prev", "text"),
    [
        ("1074.60", "1000", "+7.5%"),
        ("90", "100", "-10.0%"),
        ("100", "100", "0.0%"),
        ("100.05", "100", "0.0%"),  # 0.05 -> half-even -> 0.0
        ("100.15", "100", "+0.2%"),  # 0.15 -> half-even -> 0.2
        ("5", "0", "n/a"),
    ],
)
def test_percent_change_is_rounded_half_even(cur: str, prev: str, text: str) -> None:
    assert percent_change(Decimal(cur), Decimal(prev)) == text


# ------------------------------------------------------------------------------------ held, rejected


def test_held_nodes_by_reason_table_and_chart() -> None:
    page, md = html_md(data())
    assert '<tr><td><span class="mono">low_uptime</span></td><td class="num">3</td></tr>' in page
    assert '<tr><td><span class="mono">unknown_operator</span></td><td class="num">0</td></tr>' in page
    assert '<tr class="total"><td>all reasons</td><td class="num">6</td></tr>' in page
    chart = svg(page, "held-chart")
    # one bar per reason with nodes, in the given order; a reason with 0 nodes has a label, no bar
    assert re.findall(r'<rect class="bar" data-count="(\d+)"', chart) == ["1", "3", "2"]
    assert re.findall(r'<text class="label"[^>]*>([^<]+)</text>', chart) == [
        "invalid_data",
        "unknown_operator",
        "low_uptime",
        "no_tasks",
    ]
    assert '<title id="held-title">Nodes held by reason: 6 nodes</title>' in chart
    assert "| `low_uptime` | 3 | " + "█" * 30 + " |" in md
    assert "| `no_tasks` | 2 | " + "█" * 20 + " |" in md
    assert "| `unknown_operator` | 0 |  |" in md
    assert "| all reasons | 6 |  |" in md


def test_rejected_rows_show_count_and_the_first_rows() -> None:
    page, md = html_md(data())
    assert "2 input rows failed 3 row-level checks" in page
    assert "Showing 2 of the 3 lines of" in page and "Showing 2 of the 3 lines of" in md
    assert '<tr><th>Rejected input rows</th><td class="num">2</td></tr>' in page
    assert "| Failed checks (rejected\\_rows.csv lines) | 3 |" in md
    assert f"| 7 | `{N5}` | `uptime_ratio` | range\\[0,1\\] | 1.7 | metrics.csv |" in md
    page, md = html_md(data(rejected_shown=(), totals=replace(data().totals, rejected_rows=0, findings=0)))
    assert "No input row was rejected." in page and "No input row was rejected." in md


# ------------------------------------------------------------------------------------------ histogram


def test_histogram_bins_widen_geometrically_from_the_smallest_payout() -> None:
    assert [str(e) for e in bin_edges(Decimal(20), Decimal(850))] == [
        "20", "30", "50", "70", "100", "150", "200", "300", "500", "700", "1000",
    ]  # fmt: skip
    assert bin_edges(Decimal("99.99"), Decimal(100)) == (Decimal(70), Decimal(100), Decimal(150))
    assert bin_edges(Decimal("0.5"), Decimal("0.5")) == (Decimal("0.5"), Decimal("0.7"))
    bins = histogram([Decimal("0.00"), Decimal("20.00"), Decimal("29.99"), Decimal("30"), Decimal("850")])
    assert bins[0] == Bin(Decimal(20), Decimal(30), 2)  # zero totals are not payouts
    assert bins[1] == Bin(Decimal(30), Decimal(50), 1)  # a value on an edge belongs to the upper bin
    assert bins[-1] == Bin(Decimal(700), Decimal(1000), 1)
    assert sum(b.count for b in bins) == 4
    assert histogram([Decimal(0)]) == ()


def test_histogram_counts_are_visible_in_the_svg() -> None:
    page, md = html_md(data())
    chart = svg(page, "histogram")
    expected = histogram(o.total_usd for o in OPERATORS)
    counts = [b.count for b in expected]
    assert counts == [1, 0, 0, 1, 1, 0, 0, 0, 0, 1]  # 20 | 72.60 | 132 | 850
    assert [int(c) for c in re.findall(r'<text class="count"[^>]*>(\d+)</text>', chart)] == counts
    assert [int(c) for c in re.findall(r'<rect class="bar" data-count="(\d+)"', chart)] == [1, 1, 1, 1]
    ticks = re.findall(
        r'<text class="tick" x="[\d.]+" y="[\d.]+" text-anchor="middle">([\d.]+)</text>', chart
    )
    assert ticks == ["20", "30", "50", "70", "100", "150", "200", "300", "500", "700", "1000"]
    assert "<title>700 to under 1000 USD: 1 operators</title>" in chart
    assert 'role="img"' in chart and 'aria-labelledby="histogram-title histogram-desc"' in chart
    assert "1 operators with no eligible node (0 USD) are not shown" in chart
    assert "Operator total for the month" in chart and ">Operators</text>" in chart  # axis titles
    assert "| 70.00 | 100.00 | 1 |" in md and "| all paid operators |  | 4 |  |" in md


def test_no_paid_operator_draws_an_empty_chart() -> None:
    page, _ = html_md(data(operators=(_op(C, "0.00", 0),)))
    chart = svg(page, "histogram")
    assert "No operator was paid." in chart and "<rect" not in chart


# ------------------------------------------------------------------------------- operators, slots


def test_top_operators_by_total_then_address() -> None:
    ops = (*OPERATORS, _op("0x" + "0" * 39 + "1", "132.00"))
    top = top_operators(ops, 3)
    assert [o.operator_address for o in top] == [E, "0x" + "0" * 39 + "1", D]
    page, md = html_md(data(top_n=2))
    assert "<h2>Top 2 operators</h2>" in page
    assert f'paid to <span class="mono">{B}</span>' in page  # D is paid at B's address
    assert f"| 2 | `{D}` | `{B}` | 5 |" in md


def test_rank_slots_show_every_slot_and_the_tier_limits() -> None:
    lines = slot_lines(TIERS, SLOTS)
    assert [x.slot for x in lines] == [1, 2, 3, 4, 5]
    assert lines[3].filled is None
    s1, s2 = tier_summaries(TIERS, SLOTS)
    assert (s1.filled, s1.empty, s1.operators, s1.most_by_one_operator, s1.within_limit) == (2, 0, 2, 1, True)
    assert (s2.filled, s2.empty, s2.operators, s2.most_by_one_operator, s2.within_limit) == (2, 1, 1, 2, True)
    page, md = html_md(data())
    assert "Slots 1–2: 50.00 USD each, at most 1 per operator" in page
    assert "Slots 3–5: 10.00 USD each, at most unlimited per operator" in page
    assert '<td class="num">4</td><td class="num">10.00</td><td class="empty" colspan="4">empty' in page
    assert f"| 3 | 10.00 | unlimited | 2 | `{N3}` | `{E}` | 10.00 |" in md
    assert "| 4 | 10.00 | unlimited |  | empty: no node could take it |  |  |" in md
    assert "| 3–5 | 10.00 | unlimited | 2 | 1 | 1 | 2 | within limit |" in md


def test_a_tier_limit_exceeded_is_flagged() -> None:
    bad = (*SLOTS[:1], FilledSlot(2, 2, N2, A, Decimal(50)))  # A twice in a 1-per-operator tier
    page, md = html_md(data(rank_slots=bad))
    assert "OVER LIMIT" in page and "**OVER LIMIT**" in md


def test_per_batch_totals() -> None:
    page, md = html_md(data())
    b1 = data().batches[0]
    assert (
        f"| 1 | 7 | 2 | 224.60 | {format_units(b1.total_wei, 18)} | {b1.total_wei} | `0x{'12' * 32}` |" in md
    )
    assert f"| all |  | 3 | 1074.60 | {format_units(TOTAL_WEI, 18)} | {TOTAL_WEI} |  |" in md
    assert f'<span class="mono">0x{"34" * 32}</span>' in page


def test_consistency_checks() -> None:
    page, md = html_md(data())
    assert "DIFFERS" not in page
    assert "| sum of operator totals (USD) = total USD | 1074.60 | 1074.60 | ok |" in md
    wrong = replace(data().totals, total_usd=Decimal("1074.61"))
    page, md = html_md(data(totals=wrong))
    assert "| sum of operator totals (USD) = total USD | 1074.61 | 1074.60 | **DIFFERS** |" in md
    assert '<td class="bad">DIFFERS</td>' in page


# ------------------------------------------------------------------------------------- emission

COR = 10**18
#: 2026-10 with an allocation of 10000 COR and a cap of 3000 COR: 2500 COR this period (one run),
#: 5000 COR in earlier periods.
EMISSION = EmissionInfo(
    this_run_cor="2500",
    period_total_cor="2500",
    other_periods_wei=5000 * COR,
    cumulative_cor="7500",
    allocation_cor="10000",
    monthly_cap_cor="3000",
    remaining_cor="2500",
)
HISTORY = (
    PeriodEmission("2026-08", "2026-08", 2000 * COR),
    PeriodEmission("2026-09", "2026-09-r2", 3000 * COR),
)
UNLIMITED = EmissionInfo(
    "554088.372093023255813907", "554088.372093023255813907", 0, "554088.372093023255813907"
)


def test_emission_section_shows_the_manifest_amounts() -> None:
    page, md = html_md(data(emission=EMISSION))
    assert '<a href="#emission">Emission</a>' in page and '<section id="emission"><h2>Emission</h2>' in page
    row = '<tr><th>{}</th><td class="num">{}</td><td class="note">{}</td></tr>'
    assert row.format("This run", "2500", "every transfer of this run") in page
    assert row.format("Period total (2026-10)", "2500", "all runs of the period, this one included") in page
    assert row.format("Other periods", "5000", "all runs of other periods in the ledger") in page
    assert (
        row.format(
            "Cumulative", "7500", "all COR emitted so far, this run included (75.00% of the allocation)"
        )
        in page
    )
    assert '<tr><th>Allocation</th><td class="num">10000</td>' in page
    assert row.format("Remaining of the allocation", "2500", "allocation − cumulative") in page
    assert '<tr><th>Monthly cap</th><td class="num">3000</td>' in page
    assert row.format("Left under the monthly cap", "500", "monthly cap − period total (2026-10)") in page
    assert "| This run | 2500 | every transfer of this run |" in md
    assert (
        "| Cumulative | 7500 | all COR emitted so far, this run included (75.00% of the allocation) |" in md
    )
    assert "| Remaining of the allocation | 2500 | allocation − cumulative |" in md
    assert "| Left under the monthly cap | 500 | monthly cap − period total (2026-10) |" in md
    # the section sits between the totals and the held nodes, in both files
    assert page.index('id="totals"') < page.index('id="emission"') < page.index('id="held"')
    assert md.index("## Totals") < md.index("## Emission") < md.index("## Held nodes by reason")


def test_emission_without_limits_says_not_configured() -> None:
    page, md = html_md(data(emission=UNLIMITED))
    for label in ("Allocation", "Remaining of the allocation", "Monthly cap"):
        assert f'<tr><th>{label}</th><td class="num empty">not configured</td>' in page
        assert f"| {label} | not configured |" in md
    assert "| This run | 554088.372093023255813907 | every transfer of this run |" in md
    assert "| Cumulative | 554088.372093023255813907 | all COR emitted so far, this run included |" in md
    assert "Left under the monthly cap" not in page and "of the allocation)" not in md
    assert "No earlier period folder next to this one: the curve starts with 2026-10." in md
    assert 'id="emission-curve"' not in page


def test_a_top_up_run_states_its_own_transfers_and_the_period_total() -> None:
    topup = EmissionInfo("500", "3000", 0, "3000", None, None, None)
    run = RunInfo(2, "topup", paid_before_wei=2500 * COR, owed_wei=3000 * COR, pays_wei=500 * COR)
    _, md = html_md(data(emission=topup, run=run))
    assert "| This run | 500 | the top-up's transfers |" in md
    assert "| Period total (2026-10) | 3000 | all runs of the period, this one included |" in md


def test_a_manifest_without_an_emission_block() -> None:
    page, md = html_md(data())
    text = "This run's manifest has no emission block"
    assert text in page and text in md


def test_the_curve_cumulates_each_periods_latest_run_in_period_order() -> None:
    d = data(emission=EMISSION, emission_history=tuple(reversed(HISTORY)))
    assert report_curve(d) == (
        CurvePoint("2026-08", "2026-08", 2000 * COR, 2000 * COR),
        CurvePoint("2026-09", "2026-09-r2", 3000 * COR, 5000 * COR),
        CurvePoint("2026-10", "2026-10", 2500 * COR, 7500 * COR),
    )
    # a later period's folder never enters an earlier period's curve
    later = (*HISTORY, PeriodEmission("2026-11", "2026-11", COR))
    assert [p.period for p in report_curve(replace(d, emission_history=later))] == [
        "2026-08",
        "2026-09",
        "2026-10",
    ]
    # this period is this run, a top-up folder when the run is one
    run = RunInfo(3, "topup", paid_before_wei=2000 * COR, owed_wei=2500 * COR, pays_wei=500 * COR)
    assert report_curve(replace(d, run=run))[-1] == CurvePoint(
        "2026-10", "2026-10-r3", 2500 * COR, 7500 * COR
    )
    # without an emission block: the run's total (full run) or paid before + pays (top-up)
    assert report_curve(data())[-1] == CurvePoint("2026-10", "2026-10", TOTAL_WEI, TOTAL_WEI)
    assert report_curve(data(run=run))[-1].total_wei == 2500 * COR
    with pytest.raises(ValueError, match="appears twice"):
        emission_curve([HISTORY[0], HISTORY[0]])


def test_the_curve_chart_points_and_allocation_line() -> None:
    page, md = html_md(data(emission=EMISSION, emission_history=HISTORY))
    chart = svg(page, "emission-curve")
    # plot 626 x 236 px from (110, 28); y axis 0..10000 COR (the allocation) in steps of 2000
    ymax, step, _ = curve_geometry(
        report_curve(data(emission=EMISSION, emission_history=HISTORY)), 10000 * COR, 18
    )
    assert (ymax, step) == (10000 * COR, 2000 * COR)
    assert re.findall(r'<polyline class="curve" points="([^"]+)"', chart) == [
        "214.3,216.8 423.0,146.0 631.7,87.0"
    ]
    assert re.findall(r'<circle class="point" data-period="([^"]+)" data-cumulative-wei="(\d+)"', chart) == [
        ("2026-08", str(2000 * COR)),
        ("2026-09", str(5000 * COR)),
        ("2026-10", str(7500 * COR)),
    ]
    assert (
        f'<line class="allocation" data-allocation-wei="{10000 * COR}" x1="110" y1="28.0" x2="736" y2="28.0"'
        in chart
    )
    assert ">allocation 10000 COR</text>" in chart
    ticks = re.findall(r'<text class="tick" x="102" y="[\d.]+" text-anchor="end">(\d+)</text>', chart)
    assert ticks == ["0", "2000", "4000", "6000", "8000", "10000"]
    assert re.findall(r'<text class="tick period"[^>]*>([^<]+)</text>', chart) == [
        "2026-08",
        "2026-09",
        "2026-10",
    ]
    assert '<title id="emission-curve-title">Cumulative emission: 7500 COR after 2026-10</title>' in chart
    assert "2026-09: 5000 COR (period 3000)" in chart and "Allocation: 10000 COR." in chart
    # the exact amounts are in the table next to it, and in the Markdown
    assert (
        '<tr><td>2026-09</td><td><span class="mono">2026-09-r2</span></td><td class="num">3000</td>'
        '<td class="num">5000</td></tr>'
    ) in page
    assert "| 2026-08 | `2026-08` | 2000 | 2000 | " + "█" * 8 + " |" in md
    assert "| 2026-09 | `2026-09-r2` | 3000 | 5000 | " + "█" * 20 + " |" in md
    assert "| 2026-10 | `2026-10` | 2500 | 7500 | " + "█" * 30 + " |" in md


def test_the_curve_without_an_allocation_scales_to_the_cumulative() -> None:
    d = data(emission=replace(EMISSION, allocation_cor=None, remaining_cor=None), emission_history=HISTORY)
    chart = svg(html_md(d)[0], "emission-curve")
    assert 'class="allocation"' not in chart and "No allocation configured." in chart
    ymax, step, _ = curve_geometry(report_curve(d), None, 18)
    assert (ymax, step) == (8000 * COR, 2000 * COR)  # 7500 rounded up to a whole step
    assert re.findall(r'points="([^"]+)"', chart) == ["214.3,205.0 423.0,116.5 631.7,42.8"]


def test_folders_left_out_and_a_ledger_total_that_differs_are_noted() -> None:
    d = data(
        emission=replace(EMISSION, cumulative_cor="7600"),
        emission_history=HISTORY,
        emission_ignored=("2026-07 (its manifest is run 1)",),
    )
    page, md = html_md(d)
    differs = (
        "The period folders add up to 7500 COR up to 2026-10, but this run's manifest states 7600 COR "
        "cumulative"
    )
    assert differs.replace("'", "&#x27;") in page and differs in md
    assert "Not in the curve: 2026-07 (its manifest is run 1)." in page
    assert "The period folders add up" not in html_md(data(emission=EMISSION, emission_history=HISTORY))[0]


def test_allocation_share_and_exact_units() -> None:
    assert allocation_share(7500, 10000) == "75.00%"
    assert allocation_share(1253389186046511627906910, 350000000 * COR) == "0.36%"
    assert allocation_share(1, 10**9) == "<0.01%" and allocation_share(0, 5) == "0.00%"
    assert units_to_int("554088.372093023255813907", 18) == 554088372093023255813907
    assert units_to_int("350000000", 18) == 350000000 * COR
    for bad in ("1.0000000000000000001", "-1", "abc", "NaN"):
        with pytest.raises(ValueError):
            units_to_int(bad, 18)


# --------------------------------------------------------------------- emission from sibling folders


def _manifest(
    folder: Path, period: str, *, seq: int = 1, total_cor: str | None = None, **extra: object
) -> Path:
    folder.mkdir(parents=True)
    m: dict[str, object] = {
        "period": period,
        "token": {"symbol": "COR", "decimals": 18},
        "run": {"seq": seq, "kind": "full" if seq == 1 else "topup"},
        "totals": {"total_usd": "1.00", "total_wei": "7", "eligible_nodes": 1, "operators": 1},
    }
    if total_cor is not None:
        m["emission"] = {"period_total_cor": total_cor}
    m.update(extra)
    (folder / "manifest.json").write_text(json.dumps(m), "utf-8")
    return folder


def test_siblings_give_each_earlier_periods_latest_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _manifest(out / "2026-08", "2026-08", total_cor="2000")
    _manifest(out / "2026-09", "2026-09", total_cor="2500")
    _manifest(out / "2026-09-r2", "2026-09", seq=2, total_cor="2800")
    _manifest(out / "2026-09-r3", "2026-09", seq=3, total_cor="3000")
    _manifest(out / "2026-07", "2026-07")  # written before the emission block: totals.total_wei
    _manifest(
        out / "2026-06-r2",
        "2026-06",
        seq=2,
        run={"seq": 2, "kind": "topup", "paid_before_wei": "5", "pays_wei": "6"},
    )
    _manifest(out / "2026-05", "2026-04", total_cor="1")  # wrong period inside
    _manifest(out / "2026-04-r2", "2026-04", seq=2, total_cor="1", run={"seq": 3, "kind": "topup"})
    (out / "2026-03").mkdir()  # no manifest: not a run folder
    _manifest(out / "notes", "2026-02", total_cor="1")  # not a run folder name
    _manifest(out / "2026-11", "2026-11", total_cor="9")  # later than the reported period
    this = _manifest(out / "2026-10", "2026-10", total_cor="2500")
    history, ignored = emission_history(this)
    assert history == (
        PeriodEmission("2026-06", "2026-06-r2", 11),
        PeriodEmission("2026-07", "2026-07", 7),
        PeriodEmission("2026-08", "2026-08", 2000 * COR),
        PeriodEmission("2026-09", "2026-09-r3", 3000 * COR),
    )
    assert ignored == ("2026-04-r2 (its manifest is run 3)", "2026-05 (its manifest is for period 2026-04)")
    # a top-up of this period reads the same earlier periods (this period comes from the run itself)
    topup = _manifest(out / "2026-10-r2", "2026-10", seq=2, total_cor="2600")
    assert emission_history(topup) == (history, ignored)


def test_previous_month_is_read_from_its_latest_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _manifest(out / "2026-09", "2026-09")
    _manifest(
        out / "2026-09-r2",
        "2026-09",
        seq=2,
        totals={"total_usd": "12.50", "total_wei": "9", "eligible_nodes": 3, "operators": 2},
    )
    this = _manifest(out / "2026-10", "2026-10")
    assert previous_from_folder(this) == PreviousMonth("2026-09", Decimal("12.50"), 9, 3, 2)


# ------------------------------------------------------------------------------ safety, determinism


def test_data_is_escaped_everywhere() -> None:
    evil_row = RejectedRow("3", EVIL, EVIL, "range", EVIL, EVIL)
    d = data(
        price_source=EVIL,
        rejected_shown=(evil_row,),
        held_by_reason=((EVIL, 2),),
        chain=ChainInfo(EVIL, 1, EVIL, None),
        operators=(_op(EVIL, "20.00"),),
        emission=EMISSION,
        emission_history=(PeriodEmission("2026-09", EVIL, 10**18),),
        emission_ignored=(EVIL,),
    )
    page, md = html_md(d)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert not re.search(r"(?<!\\)[<>&]", md)  # every <, > and & of the data is backslash-escaped
    assert "\\<script\\>" in md  # backslash-escaped: shown as text by Markdown renderers


def test_the_page_loads_nothing() -> None:
    page, _ = html_md(data(previous=PreviousMonth("2026-09", Decimal(1), 1, 1, 1)))
    assert not re.search(r"https?:", page)  # no URL at all (inline SVG needs no xmlns)
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page)
    assert not re.search(r"\b(src|href)\s*=\s*\"(?!#)", page)  # only in-page anchors
    assert "url(" not in page and "@import" not in page and "@font-face" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_same_data_same_bytes_in_any_operator_order() -> None:
    d = data(
        previous=PreviousMonth("2026-09", Decimal("1000.00"), 1, 30, 6),
        emission=EMISSION,
        emission_history=HISTORY,
    )
    first = build_report(d)
    assert build_report(d) == first
    assert build_report(replace(d, operators=tuple(reversed(d.operators)))) == first
    assert build_report(replace(d, rank_slots=tuple(reversed(d.rank_slots)))) == first
    assert build_report(replace(d, emission_history=tuple(reversed(HISTORY)))) == first
    page = first[0].decode()
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert not re.search(r"\b20\d\d-\d\d-\d\dT|\d\d:\d\d:\d\d", page)  # no timestamp
