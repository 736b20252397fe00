"""The month's report, end to end: run the example month, write the report, render it in Chromium.

Needs Debian's `chromium` package (`make test` installs it). Without it this test FAILS, saying so;
set COR_SKIP_BROWSER=1 to skip it knowingly. The screenshot is kept as a test artifact in
tests/artifacts/report-2026-10.png (git-ignored).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from flows.chain_config import ChainOptions
from flows.pipeline import RunRequest, run_without_prefect
from flows.report import previous_from_folder, write_report
from payouts.errors import InputError
from payouts.report import CURVE_COLOR, HELD_COLOR, HIST_COLOR, PreviousMonth
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOT = ARTIFACTS / "report-2026-10.png"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


@pytest.fixture(scope="module")
def period_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example month (with its Safe, so batches carry safeTxHashes) and its report."""
    out = tmp_path_factory.mktemp("report-run")
    folder, _, _ = run_without_prefect(
        RunRequest(
            period="2026-10",
            metrics="examples/2026-10/metrics.csv",
            operators="examples/2026-10/operators.csv",
            price="0.0215",
            price_source="test",
            base_dir=REPO,
            out=out,
            chain=ChainOptions(
                network="arbitrum-sepolia",
                safe="0x175fF7e28908933157B7701B3799BB3eD52cABb8",
                token="0x75b757d248DC620895eA7ed54888327891787543",
                safe_nonce=0,
            ),
        )
    )
    html_path, md_path = write_report(folder)
    assert (html_path.name, md_path.name) == ("report.html", "report.md")
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


def _chromium() -> str:
    if os.environ.get("COR_SKIP_BROWSER") == "1":
        pytest.skip("COR_SKIP_BROWSER=1: the browser rendering test was skipped on purpose")
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "Debian's chromium is not installed, so the report cannot be checked in a browser. "
            "Run `make test` (its `browser` step installs it) or `sudo apt-get install chromium`; "
            "set COR_SKIP_BROWSER=1 to skip this test knowingly.",
            pytrace=False,
        )
    return path


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def _png_rgb(data: bytes) -> np.ndarray:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG (what Chromium writes) to an (h, w, 3) array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    assert header is not None
    w, h, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    stride = w * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(h, stride + 1)
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if f == 1:  # Sub: running sum per channel
            line = np.cumsum(line.reshape(w, bpp), axis=0).reshape(stride) & 255
        elif f == 2:  # Up
            line = (line + prev) & 255
        elif f in (3, 4):  # Average, Paeth: sequential along the row
            cur = line.tolist()
            up = prev.tolist()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if f == 3:
                    cur[i] = (cur[i] + (a + b) // 2) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur[i] = (cur[i] + pred) & 255
            line = np.array(cur, dtype=np.int64)
        out[y] = line
        prev = line
    return out.reshape(h, w, bpp)[:, :, :3]


def _pixels_of(img: np.ndarray, hex_color: str) -> int:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(img.astype(np.int16) - rgb).max(axis=2) <= 3).sum())


def test_report_renders_in_headless_chromium(period_dir: Path, tmp_path: Path) -> None:
    binary = _chromium()
    manifest = json.loads((period_dir / "manifest.json").read_text("utf-8"))
    totals = manifest["totals"]
    url = (period_dir / "report.html").resolve().as_uri()

    dom = _run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url).stdout
    assert "<h1>COR contest rewards 2026-10</h1>" in dom
    for text in (totals["total_usd"], totals["total_cor"], totals["total_wei"]):
        assert f'<td class="num">{text}</td>' in dom, text
    assert totals["total_usd"] == "11912.90"

    # histogram: its bars count exactly the operators paid, per operator_payouts.csv
    hist = re.search(r'<svg[^>]*id="histogram".*?</svg>', dom, re.S)
    assert hist, "no histogram SVG in the rendered DOM"
    bars = [int(c) for c in re.findall(r'<rect class="bar" data-count="(\d+)"', hist.group(0))]
    paid = sum(1 for r in _rows(period_dir / "operator_payouts.csv") if Decimal(r["total_usd"]) > 0)
    assert sum(bars) == paid == 109
    assert len(bars) == 9  # 10 ranges from 20 to 1000 USD; 500-700 is empty
    # held-by-reason chart: one bar per reason that holds a node, counts as node_rewards.csv says
    held = re.search(r'<svg[^>]*id="held-chart".*?</svg>', dom, re.S)
    assert held, "no held-by-reason SVG in the rendered DOM"
    held_bars = [int(c) for c in re.findall(r'<rect class="bar" data-count="(\d+)"', held.group(0))]
    held_rows = [r for r in _rows(period_dir / "node_rewards.csv") if r["eligible"] == "false"]
    assert len(held_bars) == len({r["reason"] for r in held_rows}) == 8
    assert sum(held_bars) == len(held_rows) == totals["held_nodes"]
    for batch in manifest["batches"]:
        assert batch["safe_tx_hash"] in dom
    # emission: this run's amounts as the manifest states them; the default policy has no limits
    emission = manifest["emission"]
    assert emission["this_run_cor"] == emission["cumulative_cor"] == totals["total_cor"]
    section = re.search(r'<section id="emission">.*?</section>', dom, re.S)
    assert section, "no Emission section in the rendered DOM"
    text = re.sub(r"<[^>]+>", " ", section.group(0))
    assert "Emission" in text and f"This run {emission['this_run_cor']}" in " ".join(text.split())
    for label in ("Allocation", "Remaining of the allocation", "Monthly cap"):
        assert f'<th>{label}</th><td class="num empty">not configured</td>' in section.group(0)
    assert "the curve starts with 2026-10" in text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    _run_chromium(
        binary, tmp_path / "profile-shot", f"--screenshot={SCREENSHOT}", "--window-size=1280,3200", url
    )
    assert SCREENSHOT.is_file(), "chromium wrote no screenshot"
    data = SCREENSHOT.read_bytes()
    assert len(data) > 20_000, f"screenshot is only {len(data)} bytes: blank page?"
    img = _png_rgb(data)
    assert img.shape == (3200, 1280, 3)
    colours = np.unique(img.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 50, "screenshot is (almost) one colour"
    # both charts were painted: their bar colours cover real areas of the page
    assert _pixels_of(img, HIST_COLOR) > 5_000, "histogram bars not painted"
    assert _pixels_of(img, HELD_COLOR) > 5_000, "held-by-reason bars not painted"


def test_report_files_are_deterministic_and_self_contained(period_dir: Path) -> None:
    html1 = (period_dir / "report.html").read_bytes()
    md1 = (period_dir / "report.md").read_bytes()
    write_report(period_dir)
    assert (period_dir / "report.html").read_bytes() == html1
    assert (period_dir / "report.md").read_bytes() == md1
    assert not re.search(rb"https?:", html1)
    assert not list(period_dir.glob(".report.*"))  # no temporary file left behind
    md = md1.decode()
    assert "| Total USD | 11912.90 |" in md and "| `insufficient_stake` | 81 |" in md


def test_a_csv_edited_after_the_run_is_refused(period_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "2026-10"
    shutil.copytree(period_dir, copy)
    path = copy / "operator_payouts.csv"
    text = path.read_text("utf-8")
    edited = text.replace(",850.00,,", ",950.00,,", 1)  # one operator's total_usd
    assert edited != text
    path.write_text(edited, "utf-8")
    with pytest.raises(InputError, match="differs from the manifest"):
        write_report(copy)


def test_change_versus_the_previous_months_folder(period_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(period_dir, out / "2026-10")
    assert previous_from_folder(out / "2026-10") is None
    prev = out / "2026-09"
    prev.mkdir()
    manifest = json.loads((period_dir / "manifest.json").read_text("utf-8"))
    manifest["period"] = "2026-09"
    manifest["totals"].update(total_usd="10000.00", total_wei=str(10**24), eligible_nodes=400, operators=110)
    (prev / "manifest.json").write_text(json.dumps(manifest), "utf-8")

    previous = previous_from_folder(out / "2026-10")
    assert previous == PreviousMonth("2026-09", Decimal("10000.00"), 10**24, 400, 110)
    _, md_path = write_report(out / "2026-10", previous)
    md = md_path.read_text("utf-8")
    assert "| Total USD | 11912.90 | 10000.00 | +1912.90 | +19.1% |" in md
    assert "| Eligible nodes | 428 | 400 | +28 | +7.0% |" in md
    assert "| Operators | 121 | 110 | +11 | +10.0% |" in md


def test_the_cumulative_emission_curve_in_the_browser(period_dir: Path, tmp_path: Path) -> None:
    """Earlier periods' run folders next to the month: the report draws their cumulative curve."""
    binary = _chromium()
    out = tmp_path / "out"
    shutil.copytree(period_dir, out / "2026-10")
    manifest = json.loads((period_dir / "manifest.json").read_text("utf-8"))
    for name, seq, total in (("2026-08", 1, "300000"), ("2026-09", 1, "400000"), ("2026-09-r2", 2, "450000")):
        (out / name).mkdir()
        earlier = dict(manifest, period=name[:7], run={"seq": seq, "kind": "full" if seq == 1 else "topup"})
        earlier["emission"] = dict(manifest["emission"], period_total_cor=total)
        (out / name / "manifest.json").write_text(json.dumps(earlier), "utf-8")
    html_path, md_path = write_report(out / "2026-10", previous_from_folder(out / "2026-10"))

    this = manifest["emission"]["period_total_cor"]
    cumulative = str(Decimal("750000") + Decimal(this))
    md = md_path.read_text("utf-8")
    assert "| 2026-08 | `2026-08` | 300000 | 300000 |" in md
    assert "| 2026-09 | `2026-09-r2` | 450000 | 750000 |" in md  # the period's latest run
    assert f"| 2026-10 | `2026-10` | {this} | {cumulative} |" in md
    # the copied month's manifest knew no earlier period: the report says the two totals differ
    assert f"The period folders add up to {cumulative} COR up to 2026-10" in md

    url = html_path.resolve().as_uri()
    dom = _run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url).stdout
    curve = re.search(r'<svg[^>]*id="emission-curve".*?</svg>', dom, re.S)
    assert curve, "no emission curve in the rendered DOM"
    points = re.findall(
        r'<circle class="point" data-period="([^"]+)" data-cumulative-wei="(\d+)"', curve.group(0)
    )
    assert [p for p, _ in points] == ["2026-08", "2026-09", "2026-10"]
    assert [int(w) for _, w in points] == [
        300000 * 10**18,
        750000 * 10**18,
        int(Decimal(cumulative) * 10**18),
    ]

    shot = tmp_path / "curve.png"
    _run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400", url)
    img = _png_rgb(shot.read_bytes())
    assert _pixels_of(img, CURVE_COLOR) > 500, "emission curve not painted"
