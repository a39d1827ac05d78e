"""The dashboard in a real browser: headless Chromium (the system's) through Playwright,
against a real `backtest-worker serve` and real worker processes.

What a person sees: a run inserted with SQL appears in the runs table and turns `succeeded`
without a reload; its page has metrics, events and artifacts, and the HTML report opens;
a write key cancels and retries from the run's page, a read key sees no such buttons; the
key is never in a URL, a script's reach or the server's log.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.server import ApiServer, add_key
from tests.e2e.test_backtest_runs import add_dataset, add_run, add_strategy, drain
from worker.api.dashboard.session import COOKIE, csrf_token

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)"
)
async_api = pytest.importorskip("playwright.async_api", reason="playwright is in the dev extra")
expect = async_api.expect
SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 40}
LIVE = 30_000  # ms: a bound for what the live stream shows, never a timing assertion
RUN = 180_000  # ms: a real backtest on a shared machine


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


class Session:
    """A browser context signed in with one key, with every URL it requested and every
    script error it saw."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.context.on("request", lambda r: self.urls.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))


async def sign_in(browser: Any, api: ApiServer, secret: str) -> Session:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    session = Session(await context.new_page())
    page = session.page
    await page.goto(f"{api.url}/dashboard")
    assert page.url == f"{api.url}/dashboard/login"  # not signed in: the form
    await page.fill("#key", secret)
    await page.click("#sign-in")
    await page.wait_for_url(f"{api.url}/dashboard")
    return session


async def test_a_run_appears_turns_succeeded_live_and_its_report_opens(
    api: ApiServer, browser: Any, conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    secret = await add_key(conn, "write")
    session = await sign_in(browser, api, secret)
    page = session.page
    [cookie] = await page.context.cookies()
    assert cookie["name"] == COOKIE and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/dashboard"
    assert await page.evaluate("document.cookie") == ""  # no script can read the key
    await expect(page.locator("#runs-table")).to_contain_text("no runs match")
    await page.evaluate("window.notReloaded = true")

    run_id = await add_run(conn, dataset, strategy, {"commission": 0.001, "label": "in a browser"})
    row = page.locator(f'#runs-table tr[data-run-id="{run_id}"]')
    await expect(row).to_be_visible(timeout=LIVE)  # inserted with SQL, shown without a reload
    status = row.locator('[data-field="status"]')
    await expect(status).to_have_text("pending")
    await expect(row).to_contain_text("in a browser")
    await expect(page.locator('[data-status-count="pending"]')).to_have_text("1", timeout=LIVE)

    bad = await add_run(conn, dataset, strategy, {"params": {"fast_period": 300}})
    worker = asyncio.create_task(drain(database_url, tmp_path))
    await expect(status).to_have_text("succeeded", timeout=RUN)
    await worker
    failed = page.locator(f'#runs-table tr[data-run-id="{bad}"]')
    await expect(failed.locator('[data-field="status"]')).to_have_text("failed", timeout=LIVE)
    await expect(failed).to_contain_text("invalid_params")
    assert await page.evaluate("window.notReloaded") is True
    await expect(page.locator("#throughput")).to_contain_text("succeeded", timeout=LIVE)
    await expect(page.locator("#workers tr[data-worker-id]")).to_have_count(1, timeout=LIVE)
    await expect(page.locator("#workers")).to_contain_text("stopped")  # a burst worker exits
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    await page.fill('input[name="label"]', "BROWSER")  # part of the label, any case
    await page.click('#filters button[type="submit"]')
    await expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_be_visible()
    await page.select_option('select[name="status"]', "failed")
    await page.click('#filters button[type="submit"]')
    await expect(page.locator("#runs-table")).to_contain_text("no runs match")
    await page.goto(f"{api.url}/dashboard")

    await page.click(f'tr[data-run-id="{run_id}"] a')
    await page.wait_for_url(f"{api.url}/dashboard/runs/{run_id}")
    await expect(page.locator("#run-status")).to_have_text("succeeded")
    await expect(page.locator("#metrics")).to_contain_text("Total return")
    await expect(page.locator("#run-progress")).to_have_attribute("value", "100")
    await page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    assert await page.locator("#events tbody tr").count() > 3
    await expect(page.locator("#events")).to_contain_text("claimed")
    assert await page.locator("#cancel, #retry").count() == 0  # a succeeded run: neither

    async with page.context.expect_page() as opened:
        await page.click('#artifacts a:text-is("report.html")')
    report = await opened.value
    await report.wait_for_function("window.tearsheet !== undefined", timeout=LIVE)
    assert await report.locator(".chart canvas").count() == 2
    assert await report.evaluate("window.origin") == "null"  # sandboxed: not the dashboard's
    cookies = "(() => { try { return document.cookie; } catch (e) { return e.name; } })()"
    assert await report.evaluate(cookies) == "SecurityError"

    await page.goto(f"{api.url}/dashboard/runs/{bad}")
    await expect(page.locator("#run-error")).to_contain_text("invalid_params")
    await expect(page.locator("#run-error")).to_contain_text("fast_period")

    assert not [url for url in session.urls if secret in url]
    assert secret not in api.log_text()
    assert session.errors == []


async def test_cancel_and_retry_for_a_write_key_and_none_for_a_read_key(
    api: ApiServer, browser: Any, conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    write, read = await add_key(conn, "write"), await add_key(conn, "read")
    run_id = await add_run(conn, dataset, strategy, {"commission": 0.001})
    other = await add_run(conn, dataset, strategy)
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", other)

    reader = (await sign_in(browser, api, read)).page
    assert await reader.locator("#pause, #resume").count() == 0
    for shown in (run_id, other):  # pending (could be cancelled), cancelled (could be retried)
        await reader.goto(f"{api.url}/dashboard/runs/{shown}")
        await expect(reader.locator("#run-status")).to_be_visible()
        assert await reader.locator("#cancel, #retry").count() == 0

    writer = (await sign_in(browser, api, write)).page
    await writer.click("#pause")
    await expect(writer.locator("#paused")).to_contain_text("paused")
    assert await conn.fetchval("SELECT paused FROM queue_state")
    await writer.click("#resume")
    await expect(writer.locator("#claiming")).to_be_visible()

    await writer.goto(f"{api.url}/dashboard/runs/{run_id}")
    await expect(writer.locator("#run-status")).to_have_text("pending")
    assert await writer.locator("#retry").count() == 0
    await writer.click("#cancel")
    await expect(writer.locator("#run-status")).to_have_text("cancelled")
    await expect(writer.locator(".notice")).to_contain_text("cancelled")
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", run_id) == (
        "cancelled"
    )
    await writer.click("#retry")
    await expect(writer.locator("#run-status")).to_have_text("pending")
    assert await writer.locator("#cancel").count() == 1
    await writer.evaluate("window.notReloaded = true")
    worker = asyncio.create_task(drain(database_url, tmp_path))
    await expect(writer.locator("#run-status")).to_have_text("succeeded", timeout=RUN)
    await worker
    await expect(writer.locator("#metrics")).to_contain_text("Total return")
    assert await writer.evaluate("window.notReloaded") is True
    await expect(writer.locator("#events")).to_contain_text("retry_requested")


async def test_forms_need_the_csrf_token_and_the_key_never_travels_in_a_url(
    api: ApiServer, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    write, read = await add_key(conn, "write"), await add_key(conn, "read")
    run_id = await add_run(conn, dataset, strategy)
    cancel = f"/dashboard/runs/{run_id}/cancel"
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        page = await anonymous.get("/dashboard")
        assert page.status_code == 303 and page.headers["location"] == "/dashboard/login"
        assert (await anonymous.get("/dashboard/fragments/runs")).status_code == 401
        assert (await anonymous.get("/dashboard/live")).status_code == 401
        wrong = await anonymous.post("/dashboard/login", data={"key": "btk_" + "x" * 43})
        assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
        forged = await anonymous.post(
            "/dashboard/login", data={"key": write}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
        signed = await anonymous.post("/dashboard/login", data={"key": write})
        assert signed.status_code == 303 and "HttpOnly" in signed.headers["set-cookie"]
    async with httpx.AsyncClient(base_url=api.url, cookies={COOKIE: write}) as browser:
        page = await browser.get(f"/dashboard/runs/{run_id}")
        assert page.status_code == 200 and csrf_token(write) in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert write not in page.text
        assert (await browser.post(cancel)).status_code == 403
        assert (await browser.post(cancel, data={"csrf": csrf_token(read)})).status_code == 403
    async with httpx.AsyncClient(base_url=api.url, cookies={COOKIE: read}) as browser:
        refused = await browser.post(cancel, data={"csrf": csrf_token(read)})
        assert refused.status_code == 403  # a read key's own token: still not a write key
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", run_id) == "pending"
    async with httpx.AsyncClient(base_url=api.url, cookies={COOKIE: write}) as browser:
        done = await browser.post(cancel, data={"csrf": csrf_token(write)})
        assert done.status_code == 303 and done.headers["location"].endswith("notice=cancelled")
    assert write not in api.log_text() and read not in api.log_text()

    await conn.execute("UPDATE api_keys SET revoked_at = now()")  # `apikey revoke`
    async with httpx.AsyncClient(base_url=api.url, cookies={COOKIE: read}) as browser:
        for _ in range(200):  # the revocation's NOTIFY clears every process's key cache
            page = await browser.get("/dashboard")
            if page.status_code == 303:
                break
            await asyncio.sleep(0.05)
        assert page.status_code == 303 and page.headers["location"] == "/dashboard/login"


async def test_the_live_stream_tells_of_inserts_and_completions(
    api: ApiServer, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    secret = await add_key(conn, "read")
    async with (
        httpx.AsyncClient(base_url=api.url, cookies={COOKIE: secret}, timeout=60) as browser,
        browser.stream("GET", "/dashboard/live") as stream,
    ):
        assert stream.status_code == 200
        lines = stream.aiter_lines()

        async def next_batch() -> dict[str, Any]:
            async for line in lines:
                if line.startswith("data:"):
                    return json.loads(line.removeprefix("data:"))  # type: ignore[no-any-return]
            raise AssertionError("the stream ended")

        await until_subscribed(browser)
        run_id = await add_run(conn, dataset, strategy)
        inserted = await asyncio.wait_for(next_batch(), 30)
        assert inserted == {"inserted": True, "resync": False, "runs": []}
        await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", run_id)
        completed = await asyncio.wait_for(next_batch(), 30)
        [change] = completed["runs"]
        assert change["kind"] == "completed" and change["data"]["run_id"] == str(run_id)
        assert change["data"]["status"] == "cancelled" and not completed["inserted"]


async def until_subscribed(http: httpx.AsyncClient) -> None:
    for _ in range(200):
        if (await http.get("/healthz")).json()["subscribers"] >= 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the stream never subscribed")
