"""Inputs fetched over HTTP from a real server on 127.0.0.1, with the failures a real one has.

The server serves the example month's files and fails on purpose by path: always 503, 503 twice
then 200, 404, 401, a truncated body (Content-Length larger than the body), an HTML page instead
of CSV, and a response slower than the client's timeout. Each test uses its own path prefix, so
request counts never mix.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flows.sources import TransientFetchError, fetch
from payouts.errors import InputError
from tests.cli import run_cli
from tests.conftest import REPO

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "2026-10"
FILES = {name: (EXAMPLE / name).read_bytes() for name in ("metrics.csv", "operators.csv")}
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    b"<body><p>Please sign in to download snapshots.</p></body></html>\n"
)
PRICE = b"0.0215\n"
SLOW_SECONDS = 2.0


class Handler(BaseHTTPRequestHandler):
    """GET /<mode>/<test-key>/<file>: `mode` decides how the request fails."""

    server: Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        hits = self.server.count(self.path)
        parts = self.path.strip("/").split("/")
        mode, name = parts[0], parts[-1]
        if mode == "down":
            return self._status(503)
        if mode == "flaky" and hits <= 2:
            return self._status(503)
        if mode == "missing":
            return self._status(404)
        if mode == "private":
            return self._status(401)
        if mode == "slow":
            time.sleep(SLOW_SECONDS)
        if mode == "html":
            return self._body(HTML, "text/html")
        body = PRICE if mode == "price" else FILES.get(name)
        if body is None:
            return self._status(404)
        if mode == "truncated":
            return self._body(body[: len(body) // 2], "text/csv", declared=len(body))
        return self._body(body, "text/plain" if mode == "price" else "text/csv")

    def _status(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _body(self, body: bytes, kind: str, declared: int | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, path: str) -> int:
        with self._lock:
            self.hits[path] += 1
            return self.hits[path]

    def url(self, mode: str, name: str, key: str | None = None) -> str:
        return f"http://127.0.0.1:{self.server_port}/{mode}/{key or uuid.uuid4().hex}/{name}"

    def path_of(self, url: str) -> str:
        return url.split(str(self.server_port), 1)[1]


@pytest.fixture(scope="module")
def http() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------------
# flows.sources.fetch: which failures are transient (retried) and which are the user's to fix


def test_fetch_reads_the_served_bytes(http: Server) -> None:
    src = fetch("metrics", http.url("ok", "metrics.csv"))
    assert src.data == FILES["metrics.csv"]
    assert src.sha256 == hashlib.sha256(FILES["metrics.csv"]).hexdigest()


@pytest.mark.parametrize("mode", ["down", "truncated", "slow"])
def test_transient_failures_raise_transient_fetch_error(mode: str, http: Server) -> None:
    url = http.url(mode, "metrics.csv")
    started = time.monotonic()
    with pytest.raises(TransientFetchError) as err:
        fetch("metrics", url, timeout=0.5)
    assert url in str(err.value)
    if mode == "slow":  # the client's timeout, not the server's delay, ended the request
        assert time.monotonic() - started < SLOW_SECONDS


@pytest.mark.parametrize(("mode", "code"), [("missing", 404), ("private", 401)])
def test_client_errors_are_input_errors_naming_url_and_fix(mode: str, code: int, http: Server) -> None:
    url = http.url(mode, "metrics.csv")
    with pytest.raises(InputError) as err:
        fetch("metrics", url)
    text = str(err.value)
    assert text.startswith(f"{url}: HTTP {code}")
    assert "-> check the URL" in text


# ---------------------------------------------------------------------------------------------
# `payouts run` with URLs, through the Prefect flow (the fetch task's retry policy)


def _run(capsys: pytest.CaptureFixture[str], out: Path, metrics: str, operators: str, *extra: str):
    return run_cli(
        capsys,
        "run",
        "--period",
        "2026-10",
        "--metrics",
        metrics,
        "--operators",
        operators,
        "--price",
        "0.0215",
        "--out",
        str(out),
        *extra,
    )


def _error_line(err: str) -> str:
    """The CLI's error message (stderr also carries one progress line per phase before it)."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow's own fetch task (4 retries, transient failures only), without the 1 s, 2 s waits."""
    from flows import monthly

    task = monthly.fetch_task
    assert task.retries == 4 and task.retry_condition_fn is not None
    monkeypatch.setattr(monthly, "fetch_task", task.with_options(retry_delay_seconds=0))


@pytest.mark.usefixtures("prefect_server", "fast_retries")
def test_fetch_task_recovers_after_two_503s_and_records_url_and_hash(
    http: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = http.url("flaky", "metrics.csv")
    operators = http.url("ok", "operators.csv")
    res = _run(capsys, tmp_path / "out", metrics, operators)
    assert res.code == 0, res.err
    assert http.hits[http.path_of(metrics)] == 3  # 503, 503, 200
    assert "retrying fetch of metrics" in res.err  # the CLI says so as it happens
    manifest = json.loads((tmp_path / "out" / "2026-10" / "manifest.json").read_text())
    inputs = {i["role"]: i for i in manifest["inputs"]}
    assert inputs["metrics"]["name"] == metrics
    assert inputs["metrics"]["sha256"] == hashlib.sha256(FILES["metrics.csv"]).hexdigest()
    assert inputs["operators"]["name"] == operators
    assert inputs["operators"]["sha256"] == hashlib.sha256(FILES["operators.csv"]).hexdigest()
    assert manifest["totals"]["total_usd"] == "11912.90"


@pytest.mark.usefixtures("prefect_server", "fast_retries")
def test_404_exits_2_naming_the_url_without_retrying(
    http: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = http.url("missing", "metrics.csv")
    res = _run(capsys, tmp_path / "out", metrics, http.url("ok", "operators.csv"))
    assert res.code == 2, (res.out, res.err)
    assert _error_line(res.err).startswith(f"error: {metrics}: HTTP 404")
    assert "Traceback" not in res.err + res.out
    assert http.hits[http.path_of(metrics)] == 1  # a user mistake is never retried
    assert not (tmp_path / "out" / "2026-10").exists()


@pytest.mark.usefixtures("prefect_server", "fast_retries")
def test_html_page_instead_of_csv_exits_2_with_a_file_level_message(
    http: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = http.url("html", "metrics.csv")
    res = _run(capsys, tmp_path / "out", metrics, http.url("ok", "operators.csv"))
    assert res.code == 2, (res.out, res.err)
    error = _error_line(res.err)
    assert error.startswith(f"error: {metrics}")
    assert "line 1" in error or "column" in error.lower() or "html" in error.lower()
    assert "Traceback" not in res.err + res.out
    assert not (tmp_path / "out" / "2026-10").exists()


@pytest.mark.usefixtures("prefect_server", "fast_retries")
def test_server_down_gives_up_after_five_attempts(
    http: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = http.url("down", "metrics.csv")
    res = _run(capsys, tmp_path / "out", metrics, http.url("ok", "operators.csv"))
    assert res.code == 1, (res.out, res.err)  # not the user's fault: 1, not 2
    assert http.hits[http.path_of(metrics)] == 5  # the first try and 4 retries
    error = _error_line(res.err)
    assert error.startswith(f"error: {metrics}: HTTP 503 (still failing after retries)")
    assert "Traceback" not in res.err
    assert not (tmp_path / "out" / "2026-10").exists()


# ---------------------------------------------------------------------------------------------
# The scheduled flow with URL sources and a price URL (flows.serve)


@pytest.mark.usefixtures("prefect_server")
def test_scheduled_flow_fetches_period_urls_and_price(
    http: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.runtime import flow_run

    from flows.serve import scheduled_monthly_payout

    key = uuid.uuid4().hex
    base = f"http://127.0.0.1:{http.server_port}"
    config = tmp_path / "payouts.toml"
    config.write_text(
        f'metrics = "{base}/ok/{key}-{{period}}/metrics.csv"\n'
        f'operators = "{base}/ok/{key}/operators.csv"\n'
        f'price_url = "{base}/price/{key}/cor-usd-{{year}}{{month}}.txt"\n'
        'price_source = "test oracle {period}"\n'
        'out = "payouts-out"\n'
    )
    from datetime import UTC, datetime

    # the run Prefect scheduled for 2026-11-01 06:00 UTC, started (late) now
    monkeypatch.setitem(flow_run.FIELDS, "scheduled_start_time", lambda: datetime(2026, 11, 1, 6, tzinfo=UTC))
    folder = scheduled_monthly_payout(str(config))
    assert Path(folder) == tmp_path / "payouts-out" / "2026-10"
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    assert manifest["period"] == "2026-10"
    assert manifest["inputs"][0]["name"] == f"{base}/ok/{key}-2026-10/metrics.csv"
    price_url = f"{base}/price/{key}/cor-usd-202610.txt"
    assert manifest["price"] == {"cor_usd": "0.0215", "source": f"test oracle 2026-10 ({price_url})"}
    assert http.hits[http.path_of(price_url)] == 1
    assert manifest["chain"] is None  # no network/safe/token in the config: auditor files only
