"""The month's report for treasury, auditors and signers: one HTML page and the same tables in Markdown.

Pure: a `ReportData` in, the exact bytes of `report.html` and `report.md` out. No I/O, no clock, no
randomness, so the same data always gives byte-identical files. Money is exact: USD via
`format_usd`, tokens via `format_units` (the strings of the CSVs and the manifest). The only
non-exact numbers are display-only: percentages (rounded half-even to 0.1) and chart geometry.

The HTML is self-contained: inline CSS, charts drawn here as inline SVG (with <title>/<desc> and
ARIA labels), no script, no font, no link or image to fetch, and a Content-Security-Policy that
forbids the browser from loading anything. Every value that comes from data is HTML-escaped.
"""

from __future__ import annotations

import bisect
import decimal
import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from payouts.money import exact, format_decimal, format_units, format_usd

#: Lines of rejected_rows.csv shown in the report (all of them are in the file).
DEFAULT_REJECTED_SHOWN = 20
DEFAULT_TOP_N = 10


# --------------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class ReportTotals:
    """The month's totals as the manifest states them."""

    nodes: int
    eligible_nodes: int
    held_nodes: int
    operators: int
    total_usd: Decimal
    transfers: int
    total_wei: int
    dust_wei: int
    rejected_rows: int  # distinct input rows rejected (a row failing several checks counts once)
    findings: int  # failed checks: the lines of rejected_rows.csv


@dataclass(frozen=True)
class RejectedRow:
    """One line of rejected_rows.csv: one failed check of one input row."""

    source_row: str
    node_address: str
    column: str
    check: str
    value: str
    source_file: str


@dataclass(frozen=True)
class OperatorRow:
    """One row of operator_payouts.csv, money as Decimal."""

    operator_address: str
    payout_address: str
    eligible_nodes: int
    base_usd: Decimal
    multi_node_bonus_usd: Decimal
    role_bonus_usd: Decimal
    bonus_cap_reduction_usd: Decimal
    rank_reward_usd: Decimal
    total_usd: Decimal


@dataclass(frozen=True)
class RankTier:
    """A tier of rank slots from the policy: slots first..last pay `usd`; 0 = unlimited spots."""

    first: int
    last: int
    usd: Decimal
    max_per_operator: int


@dataclass(frozen=True)
class FilledSlot:
    """A rank slot a node took (node_rewards.csv rows with a rank_slot)."""

    slot: int
    rank: int
    node_address: str
    operator_address: str
    reward_usd: Decimal


@dataclass(frozen=True)
class BatchRow:
    number: int
    transfers: int
    total_usd: Decimal
    total_wei: int
    safe_nonce: int | None = None
    safe_tx_hash: str | None = None


@dataclass(frozen=True)
class ChainInfo:
    network: str
    chain_id: int
    safe: str
    token: str | None  # None: COR is the chain's native currency


@dataclass(frozen=True)
class RunInfo:
    """Which run of the period (manifest `run`): the first (full) run or a later top-up."""

    seq: int
    kind: str  # "full" | "topup"
    paid_before_wei: int | None = None
    owed_wei: int | None = None
    pays_wei: int | None = None


@dataclass(frozen=True)
class EmissionInfo:
    """The manifest's `emission` block: COR amounts exactly as the manifest states them.

    None for `allocation_cor` / `monthly_cap_cor` / `remaining_cor`: the policy has no such limit.
    """

    this_run_cor: str
    period_total_cor: str
    other_periods_wei: int
    cumulative_cor: str
    allocation_cor: str | None = None
    monthly_cap_cor: str | None = None
    remaining_cor: str | None = None


@dataclass(frozen=True)
class PeriodEmission:
    """What one period has emitted, per its latest run folder (`YYYY-MM` or `YYYY-MM-rN`)."""

    period: str
    folder: str
    total_wei: int


@dataclass(frozen=True)
class PreviousMonth:
    """The previous month's totals, for the change column (from the ledger or its manifest)."""

    period: str
    total_usd: Decimal
    total_wei: int
    eligible_nodes: int
    operators: int


@dataclass(frozen=True)
class ReportData:
    period: str
    policy_name: str
    policy_version: str
    policy_sha256: str
    price_usd: Decimal
    price_source: str
    token_symbol: str
    token_decimals: int
    totals: ReportTotals
    held_by_reason: tuple[tuple[str, int], ...]  # in the order to show, zeros allowed
    rejected_shown: tuple[RejectedRow, ...]  # the first lines; totals.findings counts all
    operators: tuple[OperatorRow, ...]  # every operator of operator_payouts.csv
    rank_tiers: tuple[RankTier, ...]
    rank_slots: tuple[FilledSlot, ...]
    batches: tuple[BatchRow, ...]
    chain: ChainInfo | None = None
    run: RunInfo | None = None
    previous: PreviousMonth | None = None
    tool_version: str = ""
    top_n: int = DEFAULT_TOP_N
    emission: EmissionInfo | None = None  # None: the manifest predates the emission block
    #: Earlier periods' latest runs, found next to this folder (the curve adds this period).
    emission_history: tuple[PeriodEmission, ...] = ()
    #: Sibling folders left out of the curve, each with the reason (shown under it).
    emission_ignored: tuple[str, ...] = ()


# ------------------------------------------------------------------------------ derived tables


@dataclass(frozen=True)
class Bin:
    """A histogram bin [low, high): includes its lower bound, excludes its upper bound."""

    low: Decimal
    high: Decimal
    count: int


#: Bin edges of the payout histogram: 1, 1.5, 2, 3, 5, 7 x 10^k (about 1.5x apart). Payouts are
#: skewed (many operators near the base reward, a long tail of large ones), so ranges that widen
#: geometrically show both the bulk and the tail; equal-width bins put most operators in one bar.
EDGE_SERIES: tuple[Decimal, ...] = tuple(Decimal(m) for m in ("1", "1.5", "2", "3", "5", "7"))


def bin_edges(low: Decimal, high: Decimal) -> tuple[Decimal, ...]:
    """Series edges from the largest one <= `low` to the first one > `high` (0 < low <= high)."""
    e = low.adjusted()  # 10^e <= low, so the series from decade e starts at or below it
    series: list[Decimal] = []
    while not series or series[-1] <= high:
        series += [Decimal(format_decimal(m.scaleb(e))) for m in EDGE_SERIES]
        e += 1
    first = bisect.bisect_right(series, low) - 1
    last = bisect.bisect_right(series, high)
    return tuple(series[first : last + 1])


def histogram(values: Iterable[Decimal]) -> tuple[Bin, ...]:
    """Operators per range [edge, next edge) over the positive values (a zero total is no payout)."""
    with decimal.localcontext(exact()):
        positive = sorted(v for v in values if v > 0)
        if not positive:
            return ()
        edges = bin_edges(positive[0], positive[-1])
        counts = [0] * (len(edges) - 1)
        for v in positive:
            counts[bisect.bisect_right(edges, v) - 1] += 1
        return tuple(Bin(edges[i], edges[i + 1], c) for i, c in enumerate(counts))


def top_operators(operators: Sequence[OperatorRow], n: int) -> tuple[OperatorRow, ...]:
    """The `n` largest totals (ties: lowercase address ascending), paid operators only."""
    paid = [o for o in operators if o.total_usd > 0]
    return tuple(sorted(paid, key=lambda o: (-o.total_usd, o.operator_address.lower()))[:n])


@dataclass(frozen=True)
class SlotLine:
    slot: int
    tier: RankTier
    filled: FilledSlot | None


@dataclass(frozen=True)
class TierSummary:
    tier: RankTier
    filled: int
    operators: int
    most_by_one_operator: int

    @property
    def empty(self) -> int:
        return self.tier.last - self.tier.first + 1 - self.filled

    @property
    def within_limit(self) -> bool:
        return self.tier.max_per_operator == 0 or self.most_by_one_operator <= self.tier.max_per_operator


def slot_lines(tiers: Sequence[RankTier], filled: Sequence[FilledSlot]) -> tuple[SlotLine, ...]:
    """Every slot of every tier, in slot order, with the node that took it (None: stayed empty)."""
    by_slot = {f.slot: f for f in filled}
    return tuple(
        SlotLine(s, t, by_slot.get(s))
        for t in sorted(tiers, key=lambda t: t.first)
        for s in range(t.first, t.last + 1)
    )


def tier_summaries(tiers: Sequence[RankTier], filled: Sequence[FilledSlot]) -> tuple[TierSummary, ...]:
    out = []
    for t in sorted(tiers, key=lambda t: t.first):
        per_op: dict[str, int] = {}
        for f in filled:
            if t.first <= f.slot <= t.last:
                per_op[f.operator_address.lower()] = per_op.get(f.operator_address.lower(), 0) + 1
        out.append(TierSummary(t, sum(per_op.values()), len(per_op), max(per_op.values(), default=0)))
    return tuple(out)


@dataclass(frozen=True)
class Check:
    what: str
    expected: str
    found: str

    @property
    def ok(self) -> bool:
        return self.expected == self.found


def consistency_checks(d: ReportData) -> tuple[Check, ...]:
    """Cross-checks between the manifest's totals and the tables read from the CSVs."""
    t = d.totals
    with decimal.localcontext(exact()):
        op_sum = sum((o.total_usd for o in d.operators), Decimal(0))
        batch_wei = sum(b.total_wei for b in d.batches)
        batch_transfers = sum(b.transfers for b in d.batches)
    held_sum = sum(c for _, c in d.held_by_reason)
    paid_wei = t.total_wei
    paid_label = "total paid"
    if d.run is not None and d.run.kind == "topup" and d.run.pays_wei is not None:
        paid_wei, paid_label = d.run.pays_wei, "this top-up pays"
    checks = [
        Check("sum of operator totals (USD) = total USD", format_usd(t.total_usd), format_usd(op_sum)),
        Check(f"sum of batch totals (wei) = {paid_label} (wei)", str(paid_wei), str(batch_wei)),
    ]
    if paid_label == "total paid":  # a top-up's transfers are deltas, not the month's transfers
        checks.append(Check("transfers in batches = transfers", str(t.transfers), str(batch_transfers)))
    checks += [
        Check("held nodes by reason = held nodes", str(t.held_nodes), str(held_sum)),
        Check("eligible + held = nodes", str(t.nodes), str(t.eligible_nodes + t.held_nodes)),
    ]
    return tuple(checks)


def units_to_int(text: str, decimals: int) -> int:
    """An exact token amount ('554088.372…') as base units; ValueError if negative or too precise."""
    with decimal.localcontext(exact()):
        try:
            value = Decimal(text)
            scaled = value.scaleb(decimals)
        except (decimal.InvalidOperation, decimal.Inexact):
            raise ValueError(f"not an exact token amount: {text!r}") from None
        if not scaled.is_finite() or scaled < 0 or scaled != scaled.to_integral_value():
            raise ValueError(f"not an exact token amount with {decimals} decimals: {text!r}")
        return int(scaled)


@dataclass(frozen=True)
class CurvePoint:
    """A point of the cumulative emission curve: the period's total and everything up to it."""

    period: str
    folder: str
    total_wei: int
    cumulative_wei: int


def this_period_emission(d: ReportData) -> PeriodEmission:
    """This run's period total: the manifest's `emission.period_total_cor`; for a manifest without
    the block, the top-up's paid-before + pays, or the full run's total."""
    folder = d.period if d.run is None or d.run.seq == 1 else f"{d.period}-r{d.run.seq}"
    if d.emission is not None:
        total = units_to_int(d.emission.period_total_cor, d.token_decimals)
    elif d.run is not None and d.run.kind == "topup" and d.run.pays_wei is not None:
        total = (d.run.paid_before_wei or 0) + d.run.pays_wei
    else:
        total = d.totals.total_wei
    return PeriodEmission(d.period, folder, total)


def emission_curve(periods: Iterable[PeriodEmission]) -> tuple[CurvePoint, ...]:
    """Cumulative emission by period (in period order): each period's total and the running sum."""
    ordered = sorted(periods, key=lambda p: p.period)
    seen = [p.period for p in ordered]
    if len(set(seen)) != len(seen):
        raise ValueError(f"a period appears twice: {seen}")
    out: list[CurvePoint] = []
    running = 0
    for p in ordered:
        running += p.total_wei
        out.append(CurvePoint(p.period, p.folder, p.total_wei, running))
    return tuple(out)


def report_curve(d: ReportData) -> tuple[CurvePoint, ...]:
    """The report's curve: the earlier periods found next to this folder, then this period."""
    earlier = [p for p in d.emission_history if p.period < d.period]
    return emission_curve([*earlier, this_period_emission(d)])


# ------------------------------------------------------------------------------------- helpers


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_CODE_SAFE = re.compile(r"[0-9A-Za-z_.:\-]+")


def _md(value: object) -> str:
    """Text for Markdown (also a table cell): every markup character backslash-escaped, so no HTML tag,
    entity, emphasis, link, code span or cell break can come from data; whitespace runs become one space."""
    s = " ".join(str(value).split())
    return re.sub(r"([\\`*_\[\]|#<>&!~])", r"\\\1", s)


def _md_code(value: str) -> str:
    """An address, hash or code name as inline code (nothing to escape in it); anything else as text."""
    return f"`{value}`" if _CODE_SAFE.fullmatch(value) else _md(value)


def _signed_usd(delta: Decimal) -> str:
    if delta == 0:
        return "0.00"
    return ("+" if delta > 0 else "-") + format_usd(abs(delta))


def _signed_int(delta: int) -> str:
    return f"+{delta}" if delta > 0 else str(delta)


def _signed_units(delta: int, decimals: int) -> str:
    if delta == 0:
        return "0"
    return ("+" if delta > 0 else "-") + format_units(abs(delta), decimals)


def percent_change(current: Decimal, previous: Decimal) -> str:
    """(current - previous) / previous as a percentage, rounded half-even to 0.1 (display only)."""
    if previous == 0:
        return "n/a"
    ctx = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
    pct = ctx.divide(ctx.multiply(ctx.subtract(current, previous), Decimal(100)), previous)
    q = pct.quantize(Decimal("0.1"), context=ctx)
    if q == 0:
        return "0.0%"
    return f"{'+' if q > 0 else ''}{q}%"


def allocation_share(part_wei: int, whole_wei: int) -> str:
    """part / whole as a percentage rounded half-even to 0.01 (display only); '<0.01%' above zero."""
    if whole_wei <= 0:
        return "n/a"
    ctx = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN)
    pct = ctx.divide(ctx.multiply(Decimal(part_wei), Decimal(100)), Decimal(whole_wei))
    q = pct.quantize(Decimal("0.01"), context=ctx)
    if q == 0 and part_wei > 0:
        return "<0.01%"
    return f"{q}%"


def _f(x: float) -> str:
    """An SVG coordinate: one decimal, no '-0.0'."""
    s = f"{x:.1f}"
    return "0.0" if s == "-0.0" else s


def _nice_count_step(top: int, max_ticks: int = 5) -> int:
    k = 0
    while True:
        for m in (1, 2, 5):
            step = m * 10**k
            if math.ceil(max(top, 1) / step) <= max_ticks:
                return step
        k += 1


def _paid_operators(d: ReportData) -> int:
    return sum(1 for o in d.operators if o.total_usd > 0)


# -------------------------------------------------------------------------------------- charts

HIST_COLOR = "#2f6db5"
HELD_COLOR = "#c2562f"
_AXIS = "#5a6476"
_GRID = "#e3e7ee"


def histogram_svg(bins: Sequence[Bin], *, unpaid: int) -> str:
    """Vertical bars: operators per bin of the month's total USD, count above each bar."""
    w, h = 760, 330
    ml, mr, mt, mb = 60, 20, 30, 64
    pw, ph = w - ml - mr, h - mt - mb
    total = sum(b.count for b in bins)
    desc = (
        "; ".join(f"{format_decimal(b.low)} to under {format_decimal(b.high)} USD: {b.count}" for b in bins)
        or "no operator was paid"
    )
    parts = [
        f'<svg class="chart" id="histogram" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'aria-labelledby="histogram-title histogram-desc">',
        f'<title id="histogram-title">Distribution of operator totals: {total} paid operators</title>',
        f'<desc id="histogram-desc">Operators per range of their total for the month in USD. {_e(desc)}.'
        f"{f' {unpaid} operators with no eligible node (0 USD) are not shown.' if unpaid else ''}</desc>",
    ]
    if not bins:
        parts.append(
            f'<text x="{w // 2}" y="{h // 2}" text-anchor="middle">No operator was paid.</text></svg>'
        )
        return "".join(parts)
    top = max(b.count for b in bins)
    step = _nice_count_step(top)
    ymax = math.ceil(max(top, 1) / step) * step
    x0, y0 = ml, mt + ph
    for v in range(0, ymax + 1, step):
        y = y0 - ph * v / ymax
        parts.append(
            f'<line class="grid" x1="{x0}" y1="{_f(y)}" x2="{x0 + pw}" y2="{_f(y)}" stroke="{_GRID}"/>'
            f'<text class="tick" x="{x0 - 8}" y="{_f(y + 4)}" text-anchor="end">{v}</text>'
        )
    bw = pw / len(bins)
    for i, b in enumerate(bins):
        x = x0 + bw * i
        bh = ph * b.count / ymax
        label = f"{format_decimal(b.low)} to under {format_decimal(b.high)} USD: {b.count} operators"
        if b.count:
            parts.append(
                f'<rect class="bar" data-count="{b.count}" x="{_f(x + 2)}" y="{_f(y0 - bh)}" '
                f'width="{_f(bw - 4)}" height="{_f(bh)}" fill="{HIST_COLOR}">'
                f"<title>{_e(label)}</title></rect>"
            )
        parts.append(
            f'<text class="count" x="{_f(x + bw / 2)}" y="{_f(y0 - bh - 6)}" text-anchor="middle">'
            f"{b.count}</text>"
        )
    for i in range(len(bins) + 1):
        x = x0 + bw * i
        edge = bins[i].low if i < len(bins) else bins[-1].high
        parts.append(
            f'<line x1="{_f(x)}" y1="{y0}" x2="{_f(x)}" y2="{y0 + 5}" stroke="{_AXIS}"/>'
            f'<text class="tick" x="{_f(x)}" y="{y0 + 19}" text-anchor="middle">{format_decimal(edge)}</text>'
        )
    parts += [
        f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0 + pw}" y2="{y0}" stroke="{_AXIS}"/>',
        f'<line class="axis" x1="{x0}" y1="{mt}" x2="{x0}" y2="{y0}" stroke="{_AXIS}"/>',
        f'<text class="axis-title" x="{x0 + pw / 2:.1f}" y="{h - 14}" text-anchor="middle">'
        "Operator total for the month (USD, ranges widen to the right)</text>",
        f'<text class="axis-title" transform="translate(16 {_f(mt + ph / 2)}) rotate(-90)" '
        'text-anchor="middle">Operators</text>',
        "</svg>",
    ]
    return "".join(parts)


def held_svg(held: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars: nodes held per reason, in eligibility-check order, count after each bar."""
    row = 28
    w = 760
    ml, mr, mt, mb = 190, 60, 12, 48
    pw = w - ml - mr
    h = mt + row * max(len(held), 1) + mb
    ph = row * max(len(held), 1)
    total = sum(c for _, c in held)
    desc = "; ".join(f"{r}: {c}" for r, c in held) or "no node was held"
    parts = [
        f'<svg class="chart" id="held-chart" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'aria-labelledby="held-title held-desc">',
        f'<title id="held-title">Nodes held by reason: {total} nodes</title>',
        f'<desc id="held-desc">Nodes that earn nothing this month, per reason. {_e(desc)}.</desc>',
    ]
    top = max((c for _, c in held), default=0)
    step = _nice_count_step(top, 6)
    xmax = math.ceil(max(top, 1) / step) * step
    x0, y0 = ml, mt + ph
    for v in range(0, xmax + 1, step):
        x = x0 + pw * v / xmax
        parts.append(
            f'<line class="grid" x1="{_f(x)}" y1="{mt}" x2="{_f(x)}" y2="{y0}" stroke="{_GRID}"/>'
            f'<text class="tick" x="{_f(x)}" y="{y0 + 18}" text-anchor="middle">{v}</text>'
        )
    for i, (reason, count) in enumerate(held):
        y = mt + row * i
        bw = pw * count / xmax
        parts.append(
            f'<text class="label" x="{x0 - 10}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
            f"{_e(reason)}</text>"
        )
        if count:
            parts.append(
                f'<rect class="bar" data-count="{count}" x="{x0}" y="{y + 5}" width="{_f(bw)}" '
                f'height="{row - 10}" fill="{HELD_COLOR}"><title>{_e(reason)}: {count} nodes</title></rect>'
            )
        parts.append(f'<text class="count" x="{_f(x0 + bw + 6)}" y="{y + row / 2 + 4:.1f}">{count}</text>')
    parts += [
        f'<line class="axis" x1="{x0}" y1="{mt}" x2="{x0}" y2="{y0}" stroke="{_AXIS}"/>',
        f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0 + pw}" y2="{y0}" stroke="{_AXIS}"/>',
        f'<text class="axis-title" x="{x0 + pw / 2:.1f}" y="{h - 8}" text-anchor="middle">Nodes held</text>',
        "</svg>",
    ]
    return "".join(parts)


CURVE_COLOR = "#6a3d9a"
ALLOCATION_COLOR = "#b07a00"

#: Geometry of the cumulative emission chart (the unit tests check points against it).
CURVE_W, CURVE_H = 760, 320
CURVE_ML, CURVE_MR, CURVE_MT, CURVE_MB = 110, 24, 28, 56


def _nice_wei_step(top: int, decimals: int, max_ticks: int = 5) -> int:
    """The smallest of 1, 2, 5 x 10^k base units (k >= 0) with at most `max_ticks` steps to `top`,
    and at least one whole-number token unit step when `top` is above one token (integer tick labels)."""
    k = decimals if top >= 10**decimals else 0
    while True:
        for m in (1, 2, 5):
            step = m * 10**k
            if -(-max(top, 1) // step) <= max_ticks:
                return step
        k += 1


def curve_geometry(
    points: Sequence[CurvePoint], allocation_wei: int | None, decimals: int
) -> tuple[int, int, list[tuple[float, float]]]:
    """(y-axis top in base units, tick step in base units, (x, y) of each point) - display only."""
    top = max([p.cumulative_wei for p in points] + [allocation_wei or 0])
    step = _nice_wei_step(top, decimals)
    ymax = max(-(-top // step), 1) * step
    pw, ph = CURVE_W - CURVE_ML - CURVE_MR, CURVE_H - CURVE_MT - CURVE_MB
    band = pw / max(len(points), 1)
    y0 = CURVE_MT + ph
    xy = [(CURVE_ML + band * (i + 0.5), y0 - ph * (p.cumulative_wei / ymax)) for i, p in enumerate(points)]
    return ymax, step, xy


def emission_curve_svg(
    points: Sequence[CurvePoint], *, allocation_wei: int | None, decimals: int, symbol: str
) -> str:
    """A line of cumulative emission by period (a marker per period), the allocation as a dashed line."""
    w, h = CURVE_W, CURVE_H
    ml, mt = CURVE_ML, CURVE_MT
    pw, ph = w - ml - CURVE_MR, h - mt - CURVE_MB
    x0, y0 = ml, mt + ph
    ymax, step, xy = curve_geometry(points, allocation_wei, decimals)
    last = points[-1]
    desc = "; ".join(
        f"{p.period}: {format_units(p.cumulative_wei, decimals)} {symbol} "
        f"(period {format_units(p.total_wei, decimals)})"
        for p in points
    )
    alloc_desc = (
        f" Allocation: {format_units(allocation_wei, decimals)} {symbol}."
        if allocation_wei is not None
        else " No allocation configured."
    )
    parts = [
        f'<svg class="chart" id="emission-curve" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'aria-labelledby="emission-curve-title emission-curve-desc">',
        '<title id="emission-curve-title">Cumulative emission: '
        f"{_e(format_units(last.cumulative_wei, decimals))} {_e(symbol)} after {_e(last.period)}</title>",
        f'<desc id="emission-curve-desc">Cumulative {_e(symbol)} emitted by period, each period counted '
        f"by its latest run. {_e(desc)}.{_e(alloc_desc)}</desc>",
    ]
    for v in range(0, ymax + 1, step):
        y = y0 - ph * (v / ymax)
        parts.append(
            f'<line class="grid" x1="{x0}" y1="{_f(y)}" x2="{x0 + pw}" y2="{_f(y)}" stroke="{_GRID}"/>'
            f'<text class="tick" x="{x0 - 8}" y="{_f(y + 4)}" text-anchor="end">'
            f"{_e(format_units(v, decimals))}</text>"
        )
    if allocation_wei is not None:
        ya = y0 - ph * (allocation_wei / ymax)
        parts.append(
            f'<line class="allocation" data-allocation-wei="{allocation_wei}" x1="{x0}" y1="{_f(ya)}" '
            f'x2="{x0 + pw}" y2="{_f(ya)}" stroke="{ALLOCATION_COLOR}" stroke-width="2" '
            f'stroke-dasharray="8 5"><title>allocation {_e(format_units(allocation_wei, decimals))} '
            f"{_e(symbol)}</title></line>"
            f'<text class="label" x="{x0 + pw}" y="{_f(ya - 6)}" text-anchor="end" fill="{ALLOCATION_COLOR}">'
            f"allocation {_e(format_units(allocation_wei, decimals))} {_e(symbol)}</text>"
        )
    parts.append(
        f'<polyline class="curve" points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in xy)}" fill="none" '
        f'stroke="{CURVE_COLOR}" stroke-width="3" stroke-linejoin="round"/>'
    )
    every = max(1, math.ceil(len(points) * 60 / pw))  # at most one period label per 60 px
    for i, (p, (x, y)) in enumerate(zip(points, xy, strict=True)):
        parts.append(
            f'<circle class="point" data-period="{_e(p.period)}" data-cumulative-wei="{p.cumulative_wei}" '
            f'cx="{_f(x)}" cy="{_f(y)}" r="5" fill="{CURVE_COLOR}"><title>{_e(p.period)}: cumulative '
            f"{_e(format_units(p.cumulative_wei, decimals))} {_e(symbol)}, period "
            f"{_e(format_units(p.total_wei, decimals))} {_e(symbol)} ({_e(p.folder)})</title></circle>"
        )
        last_i = len(points) - 1
        if i == last_i or (i % every == 0 and last_i - i >= every):  # this period always labelled
            parts.append(
                f'<line x1="{_f(x)}" y1="{y0}" x2="{_f(x)}" y2="{y0 + 5}" stroke="{_AXIS}"/>'
                f'<text class="tick period" x="{_f(x)}" y="{y0 + 19}" text-anchor="middle">'
                f"{_e(p.period)}</text>"
            )
    parts += [
        f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0 + pw}" y2="{y0}" stroke="{_AXIS}"/>',
        f'<line class="axis" x1="{x0}" y1="{mt}" x2="{x0}" y2="{y0}" stroke="{_AXIS}"/>',
        f'<text class="axis-title" x="{x0 + pw / 2:.1f}" y="{h - 14}" text-anchor="middle">Period</text>',
        f'<text class="axis-title" transform="translate(16 {_f(mt + ph / 2)}) rotate(-90)" '
        f'text-anchor="middle">Cumulative {_e(symbol)} emitted</text>',
        "</svg>",
    ]
    return "".join(parts)


# ---------------------------------------------------------------------------------------- HTML

_CSS = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:#1d2330;
 font:14px/1.45 system-ui,-apple-system,"Segoe UI","DejaVu Sans","Liberation Sans",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:28px 32px 56px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:36px 0 10px;padding-bottom:5px;border-bottom:2px solid #d5dae3}
h3{font-size:15px;margin:18px 0 6px}
p{margin:6px 0}
.sub{color:#5a6476;margin:0 0 18px}
nav{margin:10px 0 4px;font-size:13px}
nav a{color:#2f5f9e;margin-right:14px;text-decoration:none}
.cards{display:grid;grid-template-columns:1fr 1.7fr 1fr 1fr;gap:12px;margin:14px 0}
.card{border:1px solid #d5dae3;border-radius:8px;padding:10px 14px;background:#fafbfd}
.card .k{color:#5a6476;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:21px;font-weight:600;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.card .s{color:#5a6476;font-size:12px;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:6px 0 6px;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid #e3e7ee;text-align:left;vertical-align:top;white-space:nowrap}
thead th{background:#f0f3f8;border-bottom:1px solid #c3cad7;font-weight:600}
th.num,td.num{text-align:right}
tbody th{font-weight:600;background:#fafbfd}
tr.tier th{background:#eaf0f8;text-align:left;border-top:1px solid #c3cad7}
tr.total td{font-weight:600;border-top:1px solid #c3cad7}
table.kv th{background:none;color:#5a6476;font-weight:500;padding-left:0}
table.kv td{white-space:normal;overflow-wrap:anywhere}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;
 font-size:12.5px}
.sm{font-size:12px;color:#5a6476}
td.wrap{white-space:normal;overflow-wrap:anywhere;max-width:26em}
.pair{display:flex;flex-wrap:wrap;gap:4px 28px;align-items:flex-start}
.pair>svg{flex:none}
.note{color:#5a6476;font-size:13px}
.empty{color:#98a0ae}
.ok{color:#1c7c3a;font-weight:600}
.bad{color:#b00020;font-weight:600}
.up{color:#1c7c3a}.down{color:#b00020}
svg.chart{display:block;max-width:100%;height:auto;margin:8px 0}
svg text{font-size:12px;fill:#1d2330}
svg text.tick{fill:#5a6476;font-size:11px}
svg text.axis-title{font-size:12px;font-weight:600;fill:#3a4252}
svg text.count{font-size:11px;font-weight:600}
@media print{main{max-width:none;padding:0}.scroll{overflow:visible}nav{display:none}}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"


def _td(text: str, cls: str = "", raw: bool = False) -> str:
    body = text if raw else _e(text)
    return f'<td class="{cls}">{body}</td>' if cls else f"<td>{body}</td>"


def _num(text: object) -> str:
    return f'<td class="num">{_e(text)}</td>'


def _mono(text: str, cls: str = "") -> str:
    return _td(f'<span class="mono">{_e(text)}</span>', cls, raw=True)


def _thead(*cols: str, num: Iterable[int] = ()) -> str:
    nums = set(num)
    cells = "".join(
        f'<th class="num">{_e(c)}</th>' if i in nums else f"<th>{_e(c)}</th>" for i, c in enumerate(cols)
    )
    return f"<thead><tr>{cells}</tr></thead>"


def _table(head: str, rows: Sequence[str], *, label: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    body = "".join(rows)
    return f'<div class="scroll"><table{c} aria-label="{_e(label)}">{head}<tbody>{body}</tbody></table></div>'


def _card(key: str, value: str, sub: str = "") -> str:
    s = f'<div class="s">{_e(sub)}</div>' if sub else ""
    return f'<div class="card"><div class="k">{_e(key)}</div><div class="v">{_e(value)}</div>{s}</div>'


def _change_cls(s: str) -> str:
    return "num up" if s.startswith("+") else ("num down" if s.startswith("-") else "num")


def _totals_rows(d: ReportData) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """(label, this month, previous, change, change %) - the last three None without a previous month."""
    t, p, dec = d.totals, d.previous, d.token_decimals
    sym = d.token_symbol
    rows: list[tuple[str, str, str | None, str | None, str | None]] = []

    def add(
        label: str, cur: str, prev: str | None = None, ch: str | None = None, pct: str | None = None
    ) -> None:
        rows.append((label, cur, prev, ch, pct))

    with decimal.localcontext(exact()):
        if p is not None:
            add(
                "Total USD",
                format_usd(t.total_usd),
                format_usd(p.total_usd),
                _signed_usd(t.total_usd - p.total_usd),
                percent_change(t.total_usd, p.total_usd),
            )
            add(
                f"Total {sym}",
                format_units(t.total_wei, dec),
                format_units(p.total_wei, dec),
                _signed_units(t.total_wei - p.total_wei, dec),
                percent_change(Decimal(t.total_wei), Decimal(p.total_wei)),
            )
            add(
                "Eligible nodes",
                str(t.eligible_nodes),
                str(p.eligible_nodes),
                _signed_int(t.eligible_nodes - p.eligible_nodes),
                percent_change(Decimal(t.eligible_nodes), Decimal(p.eligible_nodes)),
            )
            add(
                "Operators",
                str(t.operators),
                str(p.operators),
                _signed_int(t.operators - p.operators),
                percent_change(Decimal(t.operators), Decimal(p.operators)),
            )
        else:
            add("Total USD", format_usd(t.total_usd))
            add(f"Total {sym}", format_units(t.total_wei, dec))
            add("Eligible nodes", str(t.eligible_nodes))
            add("Operators", str(t.operators))
    add(f"Total {sym} in wei", str(t.total_wei))
    add("Nodes seen", str(t.nodes))
    add("Held nodes", str(t.held_nodes))
    add("Operators paid", str(_paid_operators(d)))
    add("Transfers", str(t.transfers))
    add("Batches", str(len(d.batches)))
    add("Rejected input rows", str(t.rejected_rows))
    add("Failed checks (rejected_rows.csv lines)", str(t.findings))
    add("Rounding dust (wei, not paid)", str(t.dust_wei))
    return rows


def _meta_rows(d: ReportData) -> list[tuple[str, str, bool]]:
    """(label, value, monospace) for the header's key-value table."""
    rows = [
        ("Period", d.period, False),
        ("Policy", f"{d.policy_name} version {d.policy_version}", False),
        ("Policy SHA-256", d.policy_sha256, True),
        ("Price", f"{d.price_usd} USD per {d.token_symbol}", False),
        ("Price source", d.price_source, False),
        ("Token", f"{d.token_symbol}, {d.token_decimals} decimals", False),
    ]
    if d.chain is not None:
        rows += [
            ("Network", f"{d.chain.network} (chain id {d.chain.chain_id})", False),
            ("Safe", d.chain.safe, True),
            ("Token contract", d.chain.token or f"none: native {d.token_symbol}", d.chain.token is not None),
        ]
    else:
        rows.append(("Chain", "not given: auditor files only, no Safe batches", False))
    if d.run is not None:
        rows.append(("Run", _run_text(d.run, d.token_decimals, d.token_symbol), False))
    if d.tool_version:
        rows.append(("Tool", f"cor-payouts {d.tool_version}", False))
    return rows


def _run_text(r: RunInfo, decimals: int, sym: str) -> str:
    if r.kind != "topup":
        return f"run {r.seq}: full run (pays every transfer)"
    parts = [f"run {r.seq}: top-up"]
    if r.pays_wei is not None:
        parts.append(f"pays {format_units(r.pays_wei, decimals)} {sym}")
    if r.paid_before_wei is not None:
        parts.append(f"paid before {format_units(r.paid_before_wei, decimals)} {sym}")
    if r.owed_wei is not None:
        parts.append(f"owed {format_units(r.owed_wei, decimals)} {sym}")
    return ", ".join(parts)


def _max_label(t: RankTier) -> str:
    return "unlimited" if t.max_per_operator == 0 else str(t.max_per_operator)


NOT_CONFIGURED = "not configured"


def _emission_rows(d: ReportData) -> list[tuple[str, str, str]]:
    """(label, COR amount or 'not configured', explanation) of the Emission section."""
    e, dec, sym = d.emission, d.token_decimals, d.token_symbol
    assert e is not None
    topup = d.run is not None and d.run.kind == "topup"
    share = ""
    if e.allocation_cor is not None:
        pct = allocation_share(units_to_int(e.cumulative_cor, dec), units_to_int(e.allocation_cor, dec))
        share = f" ({pct} of the allocation)"
    rows = [
        ("This run", e.this_run_cor, "the top-up's transfers" if topup else "every transfer of this run"),
        (f"Period total ({d.period})", e.period_total_cor, "all runs of the period, this one included"),
        ("Other periods", format_units(e.other_periods_wei, dec), "all runs of other periods in the ledger"),
        ("Cumulative", e.cumulative_cor, f"all {sym} emitted so far, this run included{share}"),
        (
            "Allocation",
            e.allocation_cor or NOT_CONFIGURED,
            "the miner-incentive allocation (policy [emission] allocation_cor)",
        ),
        (
            "Remaining of the allocation",
            e.remaining_cor or NOT_CONFIGURED,
            "allocation − cumulative" if e.remaining_cor else "no allocation in the policy",
        ),
        (
            "Monthly cap",
            e.monthly_cap_cor or NOT_CONFIGURED,
            "the most one period may emit (policy [emission] monthly_cap_cor)",
        ),
    ]
    if e.monthly_cap_cor is not None:
        left = units_to_int(e.monthly_cap_cor, dec) - units_to_int(e.period_total_cor, dec)
        rows.append(
            (
                "Left under the monthly cap",
                format_units(max(left, 0), dec),
                f"monthly cap − period total ({d.period})",
            )
        )
    return rows


def _curve_notes(d: ReportData, points: Sequence[CurvePoint]) -> list[str]:
    """Plain-text notes under the curve: folders left out, and a cumulative that differs from the ledger's."""
    notes = []
    e, dec, sym = d.emission, d.token_decimals, d.token_symbol
    if e is not None and points:
        folders = points[-1].cumulative_wei
        ledger = units_to_int(e.cumulative_cor, dec)
        if folders != ledger:
            notes.append(
                f"The period folders add up to {format_units(folders, dec)} {sym} up to {d.period}, but "
                f"this run's manifest states {e.cumulative_cor} {sym} cumulative (the ledger's record of "
                "every period when the run was made). They differ when a period after this one was paid "
                "before this run, when a period's folder is not next to this one, or when the ledger "
                "also records runs written to another output folder."
            )
    if d.emission_ignored:
        notes.append("Not in the curve: " + "; ".join(d.emission_ignored) + ".")
    return notes


def build_html(d: ReportData) -> bytes:
    t, dec, sym = d.totals, d.token_decimals, d.token_symbol
    bins = histogram(o.total_usd for o in d.operators)
    paid = _paid_operators(d)
    unpaid = len(d.operators) - paid
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>COR contest rewards {_e(d.period)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>COR contest rewards {_e(d.period)}</h1>",
        f'<p class="sub">Policy {_e(d.policy_name)} v{_e(d.policy_version)} · '
        f"price {_e(d.price_usd)} USD per "
        f"{_e(sym)} · {t.eligible_nodes} eligible nodes of {t.nodes} · {paid} operators paid</p>",
        '<nav aria-label="Sections"><a href="#totals">Totals</a><a href="#emission">Emission</a>'
        '<a href="#held">Held nodes</a>'
        '<a href="#rejected">Rejected rows</a><a href="#distribution">Distribution</a>'
        '<a href="#top">Top operators</a><a href="#rank-slots">Rank slots</a><a href="#batches">Batches</a>'
        '<a href="#checks">Checks</a></nav>',
        '<div class="cards">',
        _card("Total USD", format_usd(t.total_usd), f"at {d.price_usd} USD per {sym}"),
        _card(f"Total {sym}", format_units(t.total_wei, dec), f"{t.total_wei} wei"),
        _card("Eligible nodes", f"{t.eligible_nodes} / {t.nodes}", f"{t.held_nodes} held"),
        _card("Transfers", str(t.transfers), f"{len(d.batches)} batches · {paid} operators paid"),
        "</div>",
    ]
    out.append(
        '<table class="kv" aria-label="Run details"><tbody>'
        + "".join(
            f"<tr><th>{_e(k)}</th>" + (_mono(v) if mono else _td(v)) + "</tr>" for k, v, mono in _meta_rows(d)
        )
        + "</tbody></table>"
    )

    # Totals (+ change vs the previous month)
    out.append('<section id="totals"><h2>Totals</h2>')
    trows = _totals_rows(d)
    if d.previous is not None:
        head = _thead("", d.period, d.previous.period, "change", "change %", num=(1, 2, 3, 4))
        body = [
            f"<tr><th>{_e(label)}</th>{_num(cur)}"
            + (
                f'{_num(prev)}<td class="{_change_cls(ch or "")}">{_e(ch)}</td>'
                f'<td class="{_change_cls(pct or "")}">{_e(pct)}</td>'
                if prev is not None
                else '<td class="num empty">-</td><td class="num empty">-</td><td class="num empty">-</td>'
            )
            + "</tr>"
            for label, cur, prev, ch, pct in trows
        ]
        out.append(_table(head, body, label="Totals and change versus the previous month"))
        out.append(
            f'<p class="note">Change versus {_e(d.previous.period)}. Percentages are rounded to 0.1 for '
            "display; every amount is exact.</p>"
        )
    else:
        head = _thead("", d.period, num=(1,))
        body = [f"<tr><th>{_e(label)}</th>{_num(cur)}</tr>" for label, cur, *_ in trows]
        out.append(_table(head, body, label="Totals"))
        out.append('<p class="note">No previous month given: no change column.</p>')
    out.append("</section>")

    out += _emission_html(d)

    # Held nodes
    out.append('<section id="held"><h2>Held nodes by reason</h2>')
    out.append(
        '<p class="note">A held node earns nothing this month. Reasons are listed in the order the '
        "eligibility checks apply; a node gets the first that applies.</p>"
    )
    out.append('<div class="pair">' + held_svg(d.held_by_reason))
    rows = [f"<tr>{_mono(r)}{_num(c)}</tr>" for r, c in d.held_by_reason]
    rows.append(f'<tr class="total"><td>all reasons</td>{_num(sum(c for _, c in d.held_by_reason))}</tr>')
    out.append(_table(_thead("reason", "nodes", num=(1,)), rows, label="Held nodes by reason") + "</div>")
    out.append("</section>")

    # Rejected rows
    out.append('<section id="rejected"><h2>Rejected rows</h2>')
    shown = len(d.rejected_shown)
    if t.rejected_rows == 0 and t.findings == 0:
        out.append("<p>No input row was rejected.</p>")
    else:
        files = sorted({r.source_file for r in d.rejected_shown})
        one_file = len(files) == 1
        out.append(
            f"<p>{t.rejected_rows} input rows failed {t.findings} row-level checks; the nodes (or operators) "
            f'they belong to are held as <span class="mono">invalid_data</span>. Showing {shown} of the '
            f'{t.findings} lines of <span class="mono">rejected_rows.csv</span> (one per failed check).'
            + (f' Lines of <span class="mono">{_e(files[0])}</span>.' if one_file else "")
            + "</p>"
        )
        rows = [
            f"<tr>{_num(r.source_row)}{_mono(r.node_address)}{_mono(r.column)}{_mono(r.check)}"
            f"{_mono(r.value, 'wrap')}{'' if one_file else _td(r.source_file)}</tr>"
            for r in d.rejected_shown
        ]
        cols = ("line", "node", "column", "check", "value") + (() if one_file else ("file",))
        out.append(_table(_thead(*cols, num=(0,)), rows, label="Rejected rows"))
    out.append("</section>")

    # Distribution
    out.append('<section id="distribution"><h2>Distribution of operator totals</h2>')
    out.append(
        f'<p class="note">{paid} operators are paid this month'
        + (f"; {unpaid} operators had no eligible node (0 USD) and are not counted" if unpaid else "")
        + ". Each bar counts the operators whose total is at least its left edge and under its right edge; "
        "the ranges widen to the right (edges 1, 1.5, 2, 3, 5, 7 × 10ⁿ USD) so that both the many small "
        "and the few large totals show.</p>"
    )
    out.append('<div class="pair">' + histogram_svg(bins, unpaid=unpaid))
    if bins:
        rows = [f"<tr>{_num(format_usd(b.low))}{_num(format_usd(b.high))}{_num(b.count)}</tr>" for b in bins]
        rows.append(f'<tr class="total"><td colspan="2">all paid operators</td>{_num(paid)}</tr>')
        out.append(
            _table(
                _thead("from USD (incl.)", "to USD (excl.)", "operators", num=(0, 1, 2)),
                rows,
                label="Histogram bins of operator totals",
            )
        )
    out.append("</div></section>")

    # Top operators
    top = top_operators(d.operators, d.top_n)
    out.append(f'<section id="top"><h2>Top {len(top)} operators</h2>')
    out.append(
        '<p class="note">By total USD (ties: address order). When the payout address differs from the '
        "operator address it is shown under it.</p>"
    )
    rows = []
    for i, o in enumerate(top, 1):
        who = f'<span class="mono">{_e(o.operator_address)}</span>'
        if o.payout_address.lower() != o.operator_address.lower():
            who += f'<br><span class="sm">paid to <span class="mono">{_e(o.payout_address)}</span></span>'
        rows.append(
            f"<tr>{_num(i)}{_td(who, raw=True)}{_num(o.eligible_nodes)}{_num(format_usd(o.base_usd))}"
            f"{_num(format_usd(o.multi_node_bonus_usd))}{_num(format_usd(o.role_bonus_usd))}"
            f"{_num(format_usd(o.bonus_cap_reduction_usd))}{_num(format_usd(o.rank_reward_usd))}"
            f'<td class="num"><strong>{_e(format_usd(o.total_usd))}</strong></td></tr>'
        )
    out.append(
        _table(
            _thead(
                "#",
                "operator",
                "nodes",
                "base",
                "multi-node",
                "role",
                "cap reduction",
                "rank reward",
                "total USD",
                num=(0, 2, 3, 4, 5, 6, 7, 8),
            ),
            rows,
            label="Top operators by total USD",
        )
    )
    out.append("</section>")

    # Rank slots
    out.append('<section id="rank-slots"><h2>Rank slots</h2>')
    out.append(
        '<p class="note">Slots are filled in order by the best-ranked eligible node whose operator holds '
        "fewer than the tier's maximum spots in that tier; a slot no node can take stays empty.</p>"
    )
    summaries = tier_summaries(d.rank_tiers, d.rank_slots)
    rows = []
    for s in summaries:
        verdict = (
            '<span class="ok">within limit</span>'
            if s.within_limit
            else '<span class="bad">OVER LIMIT</span>'
        )
        rows.append(
            f"<tr>{_td(f'{s.tier.first}–{s.tier.last}')}{_num(format_usd(s.tier.usd))}{_num(_max_label(s.tier))}"
            f"{_num(s.filled)}{_num(s.empty)}{_num(s.operators)}{_num(s.most_by_one_operator)}"
            f"{_td(verdict, raw=True)}</tr>"
        )
    out.append(
        _table(
            _thead(
                "slots",
                "USD per slot",
                "max per operator",
                "filled",
                "empty",
                "operators",
                "most by one operator",
                "limit",
                num=(1, 2, 3, 4, 5, 6),
            ),
            rows,
            label="Rank tiers with their limits",
        )
    )
    rows = []
    current: RankTier | None = None
    for line in slot_lines(d.rank_tiers, d.rank_slots):
        if line.tier is not current:
            current = line.tier
            rows.append(
                f'<tr class="tier"><th colspan="6">Slots {current.first}–{current.last}: '
                f"{_e(format_usd(current.usd))} USD each, at most {_e(_max_label(current))} per operator"
                "</th></tr>"
            )
        f = line.filled
        if f is None:
            rows.append(
                f'<tr>{_num(line.slot)}{_num(format_usd(line.tier.usd))}<td class="empty" colspan="4">'
                "empty: no node could take it</td></tr>"
            )
        else:
            rows.append(
                f"<tr>{_num(line.slot)}{_num(format_usd(line.tier.usd))}{_num(f.rank)}{_mono(f.node_address)}"
                f"{_mono(f.operator_address)}{_num(format_usd(f.reward_usd))}</tr>"
            )
    out.append("<h3>Every slot</h3>")
    out.append(
        _table(
            _thead("slot", "tier USD", "node rank", "node", "operator", "reward USD", num=(0, 1, 2, 5)),
            rows,
            label="Rank slots",
        )
    )
    out.append("</section>")

    # Batches
    out.append('<section id="batches"><h2>Batches</h2>')
    if not d.batches:
        out.append("<p>No transfer this month.</p>")
    else:
        note = (
            "Each batch is one Safe transaction; compare its safeTxHash with the one the hardware wallet "
            "shows (see batches/signing.md)."
            if d.chain is not None
            else "No chain was given for this run: no Safe batch files and no safeTxHash."
        )
        out.append(f'<p class="note">{_e(note)}</p>')
        rows = [
            f"<tr>{_num(b.number)}{_num('' if b.safe_nonce is None else b.safe_nonce)}{_num(b.transfers)}"
            f"{_num(format_usd(b.total_usd))}{_num(format_units(b.total_wei, dec))}"
            + (_mono(b.safe_tx_hash) if b.safe_tx_hash else '<td class="empty">not computed</td>')
            + "</tr>"
            for b in d.batches
        ]
        with decimal.localcontext(exact()):
            usd = sum((b.total_usd for b in d.batches), Decimal(0))
        rows.append(
            f'<tr class="total"><td colspan="2">all batches</td>{_num(sum(b.transfers for b in d.batches))}'
            f"{_num(format_usd(usd))}{_num(format_units(sum(b.total_wei for b in d.batches), dec))}"
            "<td></td></tr>"
        )
        out.append(
            _table(
                _thead(
                    "batch",
                    "nonce",
                    "transfers",
                    "total USD",
                    f"total {sym}",
                    "safeTxHash",
                    num=(0, 1, 2, 3, 4),
                ),
                rows,
                label="Per-batch totals",
            )
        )
    out.append("</section>")

    # Checks
    out.append('<section id="checks"><h2>Checks</h2>')
    rows = [
        f"<tr>{_td(c.what)}{_num(c.expected)}{_num(c.found)}"
        + ('<td class="ok">ok</td>' if c.ok else '<td class="bad">DIFFERS</td>')
        + "</tr>"
        for c in consistency_checks(d)
    ]
    out.append(
        _table(_thead("check", "manifest", "tables", "", num=(1, 2)), rows, label="Consistency checks")
    )
    out.append(
        '<p class="note">The tables above are read from the CSV files of this folder, whose SHA-256 matched '
        "manifest.json when this report was written.</p>"
    )
    out.append("</section></main></body></html>")
    return ("\n".join(out) + "\n").encode("utf-8")


def _emission_html(d: ReportData) -> list[str]:
    dec, sym = d.token_decimals, d.token_symbol
    out = ['<section id="emission"><h2>Emission</h2>']
    if d.emission is None:
        out.append(
            "<p>This run's manifest has no emission block (it was written before runs recorded the "
            "emission budget).</p></section>"
        )
        return out
    out.append(
        f'<p class="note">Rewards come out of the miner-incentive allocation. Amounts in {_e(sym)}, '
        "exactly as manifest.json states them; the cumulative total is what the ledger records for "
        "every period, this run included.</p>"
    )
    rows = [
        f"<tr><th>{_e(label)}</th>"
        + (_num(value) if value != NOT_CONFIGURED else f'<td class="num empty">{NOT_CONFIGURED}</td>')
        + f'<td class="note">{_e(note)}</td></tr>'
        for label, value, note in _emission_rows(d)
    ]
    out.append(_table(_thead("", sym, "", num=(1,)), rows, label="Emission budget"))
    points = report_curve(d)
    out.append("<h3>Cumulative emission by period</h3>")
    if len(points) < 2:
        out.append(
            f'<p class="note">No earlier period folder next to this one: the curve starts with '
            f"{_e(d.period)}.</p>"
        )
    else:
        alloc = None if d.emission.allocation_cor is None else units_to_int(d.emission.allocation_cor, dec)
        out.append(
            '<p class="note">Each period counts its latest run (the folder with the highest -rN); the '
            "chart is an illustration, the table has the exact amounts.</p>"
        )
        rows = [
            f"<tr>{_td(p.period)}{_mono(p.folder)}{_num(format_units(p.total_wei, dec))}"
            f"{_num(format_units(p.cumulative_wei, dec))}</tr>"
            for p in points
        ]
        out.append(
            '<div class="pair">'
            + emission_curve_svg(points, allocation_wei=alloc, decimals=dec, symbol=sym)
            + _table(
                _thead("period", "run folder", f"period {sym}", f"cumulative {sym}", num=(2, 3)),
                rows,
                label="Cumulative emission by period",
            )
            + "</div>"
        )
    for note in _curve_notes(d, points):
        out.append(f'<p class="note">{_e(note)}</p>')
    out.append("</section>")
    return out


# ------------------------------------------------------------------------------------ Markdown


def _md_table(head: Sequence[str], rows: Iterable[Sequence[str]], num: Iterable[int] = ()) -> list[str]:
    nums = set(num)
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if i in nums else "---" for i in range(len(head))) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _md_bar(count: int, top: int, width: int = 30) -> str:
    if count == 0 or top == 0:
        return ""
    return "█" * max(1, round(count * width / top))


def _emission_markdown(d: ReportData) -> list[str]:
    dec, sym = d.token_decimals, d.token_symbol
    L = ["", "## Emission", ""]
    if d.emission is None:
        L.append(
            "This run's manifest has no emission block (it was written before runs recorded the "
            "emission budget)."
        )
        return L
    L += [
        f"Rewards come out of the miner-incentive allocation. Amounts in {_md(sym)}, exactly as "
        "manifest.json states them; the cumulative total is what the ledger records for every period, "
        "this run included.",
        "",
    ]
    L += _md_table(
        ["", _md(sym), ""],
        ([_md(label), _md(value), _md(note)] for label, value, note in _emission_rows(d)),
        num=(1,),
    )
    points = report_curve(d)
    L += ["", "### Cumulative emission by period", ""]
    if len(points) < 2:
        L.append(f"No earlier period folder next to this one: the curve starts with {_md(d.period)}.")
    else:
        L += ["Each period counts its latest run (the folder with the highest -rN).", ""]
        top = points[-1].cumulative_wei
        L += _md_table(
            ["period", "run folder", f"period {_md(sym)}", f"cumulative {_md(sym)}", ""],
            (
                [
                    _md(p.period),
                    _md_code(p.folder),
                    format_units(p.total_wei, dec),
                    format_units(p.cumulative_wei, dec),
                    _md_bar_wei(p.cumulative_wei, top),
                ]
                for p in points
            ),
            num=(2, 3),
        )
    notes = _curve_notes(d, points)
    for note in notes:
        L += ["", _md(note)]
    return L


def _md_bar_wei(value: int, top: int, width: int = 30) -> str:
    if value == 0 or top == 0:
        return ""
    return "█" * max(1, (value * width + top // 2) // top)


def build_markdown(d: ReportData) -> bytes:
    t, dec, sym = d.totals, d.token_decimals, d.token_symbol
    paid = _paid_operators(d)
    unpaid = len(d.operators) - paid
    L: list[str] = [f"# COR contest rewards {_md(d.period)}", ""]
    for k, v, mono in _meta_rows(d):
        L.append(f"- {k}: {_md_code(v) if mono else _md(v)}")

    L += ["", "## Totals", ""]
    trows = _totals_rows(d)
    if d.previous is not None:
        L += _md_table(
            ["", _md(d.period), _md(d.previous.period), "change", "change %"],
            ([_md(lbl), cur, prev or "-", ch or "-", pct or "-"] for lbl, cur, prev, ch, pct in trows),
            num=(1, 2, 3, 4),
        )
        L += [
            "",
            f"Change versus {_md(d.previous.period)}. Percentages are rounded to 0.1; amounts are exact.",
        ]
    else:
        L += _md_table(["", _md(d.period)], ([_md(lbl), cur] for lbl, cur, *_ in trows), num=(1,))
        L += ["", "No previous month given: no change column."]

    L += _emission_markdown(d)

    L += ["", "## Held nodes by reason", ""]
    top_held = max((c for _, c in d.held_by_reason), default=0)
    L += _md_table(
        ["reason", "nodes", ""],
        [
            *([_md_code(r), str(c), _md_bar(c, top_held)] for r, c in d.held_by_reason),
            ["all reasons", str(sum(c for _, c in d.held_by_reason)), ""],
        ],
        num=(1,),
    )

    L += ["", "## Rejected rows", ""]
    if t.rejected_rows == 0 and t.findings == 0:
        L.append("No input row was rejected.")
    else:
        L += [
            f"{t.rejected_rows} input rows failed {t.findings} row-level checks; the nodes (or operators) "
            "they belong to are held as `invalid_data`. "
            f"Showing {len(d.rejected_shown)} of the {t.findings} lines of `rejected_rows.csv` (one per "
            "failed check).",
            "",
        ]
        L += _md_table(
            ["line", "node", "column", "check", "value", "file"],
            (
                [
                    _md(r.source_row),
                    _md_code(r.node_address),
                    _md_code(r.column),
                    _md_code(r.check),
                    _md(r.value),
                    _md(r.source_file),
                ]
                for r in d.rejected_shown
            ),
            num=(0,),
        )

    L += ["", "## Distribution of operator totals", ""]
    bins = histogram(o.total_usd for o in d.operators)
    L.append(
        f"{paid} operators are paid this month"
        + (f"; {unpaid} operators had no eligible node (0 USD) and are not counted" if unpaid else "")
        + ". A bin counts the operators whose total is at least its lower bound and under its upper bound; "
        "the bins widen (edges 1, 1.5, 2, 3, 5, 7 × 10ⁿ USD)."
    )
    if bins:
        top_bin = max(b.count for b in bins)
        L.append("")
        L += _md_table(
            ["from USD (incl.)", "to USD (excl.)", "operators", ""],
            [
                *(
                    [format_usd(b.low), format_usd(b.high), str(b.count), _md_bar(b.count, top_bin)]
                    for b in bins
                ),
                ["all paid operators", "", str(paid), ""],
            ],
            num=(0, 1, 2),
        )

    top = top_operators(d.operators, d.top_n)
    L += ["", f"## Top {len(top)} operators", ""]
    L += _md_table(
        [
            "#",
            "operator",
            "payout address",
            "nodes",
            "base",
            "multi-node",
            "role",
            "cap reduction",
            "rank reward",
            "total USD",
        ],
        (
            [
                str(i),
                _md_code(o.operator_address),
                _md_code(o.payout_address),
                str(o.eligible_nodes),
                format_usd(o.base_usd),
                format_usd(o.multi_node_bonus_usd),
                format_usd(o.role_bonus_usd),
                format_usd(o.bonus_cap_reduction_usd),
                format_usd(o.rank_reward_usd),
                f"**{format_usd(o.total_usd)}**",
            ]
            for i, o in enumerate(top, 1)
        ),
        num=(0, 3, 4, 5, 6, 7, 8, 9),
    )

    L += ["", "## Rank slots", ""]
    L.append(
        "Slots are filled in order by the best-ranked eligible node whose operator holds fewer than the "
        "tier's maximum spots in that tier; a slot no node can take stays empty."
    )
    L.append("")
    L += _md_table(
        [
            "slots",
            "USD per slot",
            "max per operator",
            "filled",
            "empty",
            "operators",
            "most by one operator",
            "limit",
        ],
        (
            [
                f"{s.tier.first}–{s.tier.last}",
                format_usd(s.tier.usd),
                _max_label(s.tier),
                str(s.filled),
                str(s.empty),
                str(s.operators),
                str(s.most_by_one_operator),
                "within limit" if s.within_limit else "**OVER LIMIT**",
            ]
            for s in tier_summaries(d.rank_tiers, d.rank_slots)
        ),
        num=(1, 2, 3, 4, 5, 6),
    )
    L += ["", "### Every slot", ""]
    L += _md_table(
        ["slot", "tier USD", "max per operator", "node rank", "node", "operator", "reward USD"],
        (
            [str(x.slot), format_usd(x.tier.usd), _max_label(x.tier)]
            + (
                ["", "empty: no node could take it", "", ""]
                if x.filled is None
                else [
                    str(x.filled.rank),
                    _md_code(x.filled.node_address),
                    _md_code(x.filled.operator_address),
                    format_usd(x.filled.reward_usd),
                ]
            )
            for x in slot_lines(d.rank_tiers, d.rank_slots)
        ),
        num=(0, 1, 2, 3, 6),
    )

    L += ["", "## Batches", ""]
    if not d.batches:
        L.append("No transfer this month.")
    else:
        with decimal.localcontext(exact()):
            usd = sum((b.total_usd for b in d.batches), Decimal(0))
        L += _md_table(
            ["batch", "nonce", "transfers", "total USD", f"total {_md(sym)}", "total wei", "safeTxHash"],
            [
                *(
                    [
                        str(b.number),
                        "" if b.safe_nonce is None else str(b.safe_nonce),
                        str(b.transfers),
                        format_usd(b.total_usd),
                        format_units(b.total_wei, dec),
                        str(b.total_wei),
                        _md_code(b.safe_tx_hash) if b.safe_tx_hash else "not computed",
                    ]
                    for b in d.batches
                ),
                [
                    "all",
                    "",
                    str(sum(b.transfers for b in d.batches)),
                    format_usd(usd),
                    format_units(sum(b.total_wei for b in d.batches), dec),
                    str(sum(b.total_wei for b in d.batches)),
                    "",
                ],
            ],
            num=(0, 1, 2, 3, 4, 5),
        )

    L += ["", "## Checks", ""]
    L += _md_table(
        ["check", "manifest", "tables", ""],
        ([_md(c.what), c.expected, c.found, "ok" if c.ok else "**DIFFERS**"] for c in consistency_checks(d)),
        num=(1, 2),
    )
    L += [
        "",
        "The tables are read from the CSV files of this folder, whose SHA-256 matched manifest.json when "
        "this report was written.",
    ]
    return ("\n".join(L) + "\n").encode("utf-8")


def build_report(data: ReportData) -> tuple[bytes, bytes]:
    """The exact bytes of report.html and report.md for `data`."""
    return build_html(data), build_markdown(data)
