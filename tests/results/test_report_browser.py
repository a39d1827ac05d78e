"""The HTML report in a real browser: headless Chromium (the system's) through Playwright.

The report of a real grid backtest is written to a file and opened from disk: the charts
must draw, answer the mouse (hover legend, drag-zoom, shift-drag pan, reset) and fetch
nothing; the tables must hold the run's rows. A screenshot lands in the test's tmp dir.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from worker.engine.api import BacktestResult, run_backtest
from worker.engine.calendar_returns import PeriodReturn
from worker.engine.synthetic import generate_bars
from worker.results.artifacts import render_files
from worker.results.colors import PALE, _mix, _style
from worker.results.report import RunIdentity, html_report
from worker.results.report_view import signed_pct
from worker.results.tearsheet import Tearsheet, tearsheet
from worker.results.trade_table import TRADES_SHOWN_EACH_END

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")

IDENTITY = RunIdentity(
    run_id="00000000-0000-0000-0000-0000000000b1",
    attempt=1,
    worker_id="host:1:browser",
    strategy_name="sma_crossover </script><script>window.injected=1</script>",
    strategy_version="1.0.0",
    dataset_name="synthetic",
    dataset_hash="cd" * 32,
    dataset_timeframe="1d",
    symbols=["AAA", "BBB", "CCC"],
    label="Trend following on three symbols",
    notes="Grid over both moving averages; 0.1 % commission.",
    tags=("trend", "daily", "</script>"),
)
FAST, SLOW = [5, 10, 20], [40, 60, 90, 120]


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    bars = generate_bars(symbols=["AAA", "BBB", "CCC"], n_bars=1300, seed=21)
    return run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 10, "slow_period": 60},
        {"commission": 0.001, "grid": {"fast_period": FAST, "slow_period": SLOW}},
        initial_capital=100_000,
        timeframe="1d",
    )


@pytest.fixture(scope="module")
def report(result: BacktestResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    for file in render_files(IDENTITY, result):
        (folder / file.filename).write_bytes(file.data)
    return folder / "report.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any, report: Path) -> Iterator[tuple[Any, list[str], list[str]]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    page.wait_for_function("window.tearsheet !== undefined")
    yield page, errors, requests
    page.close()


def x_range(page: Any, chart: str) -> tuple[float, float]:
    low, high = page.evaluate(
        f"[window.tearsheet.{chart}.scales.x.min, window.tearsheet.{chart}.scales.x.max]"
    )
    return float(low), float(high)


def test_charts_draw_from_the_file_alone(page: Any, report: Path, tmp_path: Path) -> None:
    page, errors, requests = page
    for chart in ("equity", "drawdown"):  # uPlot instances, mounted in their containers
        assert page.evaluate(
            f"""(() => {{ const u = window.tearsheet.{chart};
                return typeof u.setScale === "function" && u.root.classList.contains("uplot")
                    && document.getElementById("{chart}-chart").contains(u.root); }})()"""
        )
    sizes = page.eval_on_selector_all(
        ".chart canvas", "cs => cs.map(c => [c.width, c.height, c.clientWidth])"
    )
    assert len(sizes) == 2 and all(w > 300 and h > 100 and cw > 300 for w, h, cw in sizes)
    assert page.evaluate("window.injected") is None  # the hostile name stayed text
    series = page.evaluate("window.tearsheet.equity.series.map(s => s.label)")
    assert series == ["time", "Strategy", "Buy & hold, equal weight (3 symbols)"]
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 50_000
    assert errors == []
    assert requests == [report.as_uri()]


def test_hover_shows_values_in_the_legend(page: Any) -> None:
    page, errors, _ = page
    box = page.locator("#equity-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    values = page.eval_on_selector_all(
        "#equity-chart .u-legend .u-value", "vs => vs.map(v => v.textContent)"
    )
    time, strategy, benchmark = values
    assert time.startswith(("2000-", "2001-", "2002-", "2003-", "2004-", "2005-"))
    assert float(strategy.replace(",", "")) > 0 and float(benchmark.replace(",", "")) > 0
    drawdown = page.eval_on_selector_all(
        "#drawdown-chart .u-legend .u-value", "vs => vs.map(v => v.textContent)"
    )
    assert drawdown[0] == time and drawdown[1].endswith(" %")  # the cursors are synced
    assert errors == []


def test_drag_zooms_shift_drag_pans_and_reset_restores(page: Any) -> None:
    page, errors, _ = page
    whole = x_range(page, "equity")
    box = page.locator("#equity-chart .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    zoomed = x_range(page, "equity")
    assert whole[0] < zoomed[0] < zoomed[1] < whole[1]
    assert (zoomed[1] - zoomed[0]) < 0.4 * (whole[1] - whole[0])
    assert x_range(page, "drawdown") == pytest.approx(zoomed)  # the drawdown chart follows

    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + box["width"] * 0.6, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, y, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    panned = x_range(page, "equity")
    width = zoomed[1] - zoomed[0]
    assert panned[0] > zoomed[0] and panned[1] - panned[0] == pytest.approx(width)

    page.click("#reset-zoom")
    assert x_range(page, "equity") == pytest.approx(whole)
    assert x_range(page, "drawdown") == pytest.approx(whole)
    assert errors == []


def test_tables_hold_the_runs_rows(page: Any, result: BacktestResult) -> None:
    page, _, _ = page
    sheet = tearsheet(result)
    years = sorted({r.year for r in sheet.monthly})
    assert page.locator("#monthly tbody tr").count() == len(years)
    assert page.locator("#monthly tbody td.cell").count() == 13 * len(years)
    filled = page.eval_on_selector_all(
        "#monthly tbody td.cell", "cs => cs.filter(c => c.textContent.trim()).length"
    )
    assert filled == len(sheet.monthly) + len(sheet.yearly)
    assert page.locator("#yearly tbody tr").count() == len(sheet.yearly)
    assert page.locator("#drawdowns tbody tr").count() == len(sheet.drawdowns) == 10
    heatmap = page.locator("#grid table.grid-heatmap")
    assert heatmap.count() == 1
    assert heatmap.locator("tbody tr").count() == len(SLOW)
    assert heatmap.locator("tbody td.cell").count() == len(FAST) * len(SLOW)
    assert page.locator("#grid table.leaderboard tbody tr").count() == len(FAST) * len(SLOW)
    assert page.locator("#trades tbody tr").count() == result.trades.height
    undefined = page.locator("#metrics .undefined, #trade-metrics .undefined").count()
    assert undefined == sum(1 for v in result.metrics.values() if v is None)
    cards = page.locator("#cards .card b").all_inner_texts()
    assert len(cards) == 8 and all(cards)


def _python_cells(trades: pl.DataFrame, fmt: str, numbers: list[int]) -> list[list[str]]:
    """The trade list's cells as the report wrote them in Python (``str.format``)."""
    entries = trades["entry_time"].dt.to_string(fmt).to_list()
    exits = trades["exit_time"].dt.to_string(fmt).to_list()
    return [
        [
            f"{number:,}",
            row["symbol"],
            row["side"],
            entry,
            f"{row['entry_price']:,.4f}",
            exit_,
            f"{row['exit_price']:,.4f}",
            f"{row['units']:,.4g}",
            f"{row['fees']:,.2f}",
            f"{row['pnl']:,.2f}",
            f"{100 * row['return']:.2f} %",
            f"{row['bars_held']:,}",
            row["exit_reason"],
        ]
        for number, entry, exit_, row in zip(
            numbers, entries, exits, trades.iter_rows(named=True), strict=True
        )
    ]


def _trade_cells(browser: Any, folder: Path, run: BacktestResult) -> tuple[list[list[str]], str]:
    for file in render_files(IDENTITY, run):
        (folder / file.filename).write_bytes(file.data)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((folder / "report.html").as_uri())
    page.wait_for_function("window.tearsheet !== undefined")
    cells = page.eval_on_selector_all(
        "#trades tbody tr:not(.gap)", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
    )
    gap = page.eval_on_selector_all("#trades tbody tr.gap", "rs => rs.map(r => r.innerHTML)")
    page.close()
    assert errors == []
    return cells, "".join(gap)


def test_the_browser_writes_the_trade_list_as_python_formatted_it(
    browser: Any, tmp_path: Path
) -> None:
    """Both ends of a long intraday list, the gap between them, and awkward numbers (units
    past 10⁴ and below 10⁻⁴, negative zero, thousands): the texts ``str.format`` gave."""
    bars = generate_bars(symbols=["AAA"], n_bars=3000, timeframe="1h", seed=5)
    busy = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 2, "slow_period": 3},
        {},
        initial_capital=10_000,
        timeframe="1h",
    )
    n = busy.trades.height
    assert n > 2 * TRADES_SHOWN_EACH_END
    odd = [12_345.678, 0.000_012_34, 1_234.567_8, 9_999.96, -3.0, 0.1, 250.0, 1e21]
    units = busy.trades["units"].to_list()
    units[: len(odd)] = odd
    trades = busy.trades.with_columns(
        pl.Series("units", units),
        pl.when(pl.int_range(pl.len()) == 1).then(-0.0).otherwise(pl.col("fees")).alias("fees"),
        (pl.col("pnl") * 1_000).alias("pnl"),
        (pl.col("entry_price") * 37.1).alias("entry_price"),
    )
    cells, gap = _trade_cells(browser, tmp_path, replace(busy, trades=trades))
    each = TRADES_SHOWN_EACH_END
    shown = trades.head(each).vstack(trades.tail(each))
    numbers = [*range(1, each + 1), *range(n - each + 1, n + 1)]
    assert cells == _python_cells(shown, "%Y-%m-%d %H:%M", numbers)
    assert gap == (
        f'<td colspan="13">… {n - 2 * each:,} trades not shown; every trade is in '
        '<a href="trades.csv">trades.csv</a> …</td>'
    )


def test_a_short_daily_trade_list_is_written_whole(
    browser: Any, result: BacktestResult, tmp_path: Path
) -> None:
    cells, gap = _trade_cells(browser, tmp_path, result)
    numbers = list(range(1, result.trades.height + 1))
    assert cells == _python_cells(result.trades, "%Y-%m-%d", numbers) and gap == ""


GREEN, RED = (26, 122, 70), (178, 45, 38)


def _signed_color(value: float | None, largest: float) -> str:
    """The monthly heatmap's cell colour as Python made it before the browser did."""
    if value is None or largest <= 0:
        return _style(PALE, 0.0)
    strength = min(abs(value) / largest, 1.0) ** 0.7
    return _style(_mix(PALE, GREEN if value > 0 else RED, strength), strength)


def _python_monthly_rows(monthly: list[PeriodReturn], yearly: list[PeriodReturn]) -> str:
    """The monthly heatmap's rows as Python wrote them into the page (without the
    whitespace between rows)."""
    largest = max((abs(r.value) for r in monthly if r.value is not None), default=0.0)
    largest_year = max((abs(r.value) for r in yearly if r.value is not None), default=0.0)
    by_month = {(r.year, r.month): r.value for r in monthly}
    out = []
    for year in yearly:
        cells = [f"<tr><th>{year.year}</th>"]
        for month in range(1, 13):
            if (year.year, month) in by_month:
                value = by_month[(year.year, month)]
                style = _signed_color(value, largest)
                cells.append(f'<td class="cell" style="{style}">{signed_pct(value)}</td>')
            else:
                cells.append('<td class="cell" style=""></td>')
        style, text = _signed_color(year.value, largest_year), signed_pct(year.value)
        cells.append(f'<td class="cell year-col" style="{style}">{text}</td></tr>')
        out.append("".join(cells))
    return "".join(out)


def _monthly_html(browser: Any, path: Path, result: BacktestResult, sheet: Tearsheet) -> str:
    path.write_bytes(html_report(IDENTITY, result, sheet, []))
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("window.tearsheet !== undefined")
    html: str = page.inner_html("#monthly-rows")
    page.close()
    assert errors == []
    return html


def test_the_browser_writes_the_monthly_heatmap_as_python_did(
    browser: Any, result: BacktestResult, tmp_path: Path
) -> None:
    """The run's own months, then awkward ones: partial years (blank months), an undefined
    month and year, negative zero, a loss that rounds to -0.00 %, the largest month, whole
    percents and tiny ones: every cell's colour and text as Python made them."""
    sheet = tearsheet(result)
    assert _monthly_html(browser, tmp_path / "run.html", result, sheet) == _python_monthly_rows(
        sheet.monthly, sheet.yearly
    )
    odd = [0.0123, -0.0456, None, -0.0, -0.00001, 0.25, -0.25, 0.1, 1e-9, 0.0, 0.07, -0.031]
    monthly = [PeriodReturn(2020, m, v) for m, v in zip(range(3, 13), odd, strict=False)]
    monthly += [PeriodReturn(2021, 1, odd[10]), PeriodReturn(2021, 2, odd[11])]
    yearly = [PeriodReturn(2020, None, 0.3), PeriodReturn(2021, None, None)]
    awkward = replace(sheet, monthly=monthly, yearly=yearly)
    html = _monthly_html(browser, tmp_path / "odd.html", result, awkward)
    assert html == _python_monthly_rows(monthly, yearly)
    ruined = replace(sheet, monthly=[PeriodReturn(2020, 1, None)], yearly=[yearly[1]])
    html = _monthly_html(browser, tmp_path / "ruined.html", result, ruined)
    assert html == _python_monthly_rows(ruined.monthly, ruined.yearly)
