"""The month's report (payouts.report): exact strings, bins, escaping, determinism, no network."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest

from payouts.money import format_units, usd_to_wei
from payouts.report import (
    BatchRow,
    Bin,
    ChainInfo,
    FilledSlot,
    OperatorRow,
    PreviousMonth,
    RankTier,
    RejectedRow,
    ReportData,
    ReportTotals,
    bin_edges,
    build_report,
    histogram,
    percent_change,
    slot_lines,
    tier_summaries,
    top_operators,
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


# ------------------------------------------------------------------------------ safety, determinism


def test_data_is_escaped_everywhere() -> None:
    evil_row = RejectedRow("3", EVIL, EVIL, "range", EVIL, EVIL)
    d = data(
        price_source=EVIL,
        rejected_shown=(evil_row,),
        held_by_reason=((EVIL, 2),),
        chain=ChainInfo(EVIL, 1, EVIL, None),
        operators=(_op(EVIL, "20.00"),),
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
    d = data(previous=PreviousMonth("2026-09", Decimal("1000.00"), 1, 30, 6))
    first = build_report(d)
    assert build_report(d) == first
    assert build_report(replace(d, operators=tuple(reversed(d.operators)))) == first
    assert build_report(replace(d, rank_slots=tuple(reversed(d.rank_slots)))) == first
    page = first[0].decode()
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert not re.search(r"\b20\d\d-\d\d-\d\dT|\d\d:\d\d:\d\d", page)  # no timestamp
