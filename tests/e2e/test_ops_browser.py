"""/ops in headless Chromium against a real `syndication run` (uvicorn + scheduler) with a failing and a
healthy source: both states shown, "Poll now" changes the last attempt, screenshot saved.

Needs Debian's chromium (apt-get install chromium) and the playwright Python package (never
`playwright install`: we drive the system browser). Skips with the reason when either is missing, unless
SYNDICATION_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.builders import rss
from tests.conftest import REPO, REQUIRE_SERVICES, FeedServer, free_port

CHROMIUM = os.environ.get("SYNDICATION_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(reason + " [SYNDICATION_REQUIRE_SERVICES=1]")
    pytest.skip(reason)


@pytest.fixture
def browser_page() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("playwright Python package missing: pip install -e .[test]")
    expect.set_options(timeout=15_000)  # the machine may be busy: waits are bounded, not timed
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


@pytest.fixture
def server(tmp_path: Path, feed_server: FeedServer) -> Iterator[str]:
    good = feed_server.add_feed("/good.rss", rss(3))
    bad = feed_server.add("/bad.rss", "down for maintenance", status=503)
    cfg = tmp_path / "syndication.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "var"}"\n[fetch]\nallow_private_addresses = true\n'
        "[schedule]\ntick = 0.5\n[ops]\nrefresh_seconds = 0\nsample_seconds = 2\n"
        f'[[partners]]\nid = "healthy"\nname = "Healthy Agency"\n[[partners.sources]]\nkind = "feed"\n'
        f'url = "{good}"\ninterval = 3600\n'
        f'[[partners]]\nid = "broken"\nname = "Broken Agency"\n[[partners.sources]]\nkind = "feed"\n'
        f'url = "{bad}"\ninterval = 3600\n'
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    exe = shutil.which("syndication", path=str(Path(sys.executable).parent)) or "syndication"
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([exe, "--config", str(cfg), "run", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        # Wait until the scheduler has polled both sources once.
        deadline = time.monotonic() + 30
        while True:
            rows = httpx.get(base + "/ops/status.json", timeout=5).json()["sources"]
            if all(r["last_attempt"] for r in rows):
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_ops_dashboard_in_chromium(server: str, browser_page: object) -> None:
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    page.goto(server + "/ops")
    expect(page.locator("h1")).to_contain_text("operations")
    expect(page.locator("#loopback-note")).to_be_visible()  # no token configured: loopback only, and says so
    rows = page.locator("#sources-table tbody tr")
    expect(rows).to_have_count(2)
    healthy = page.locator("tr[data-state='ok']")
    failing = page.locator("tr[data-state='failing']")
    expect(healthy).to_contain_text("healthy")
    expect(healthy.locator(".state")).to_have_text("ok")
    expect(failing).to_contain_text("broken")
    expect(failing.locator(".state")).to_have_text("failing")
    expect(failing).to_contain_text("503")
    source_id = healthy.get_attribute("id")
    before = healthy.locator("td.last-attempt time").get_attribute("datetime")
    assert before
    time.sleep(0.05)  # timestamps have microseconds, but be sure the next attempt is strictly later
    healthy.get_by_role("button", name="Poll now").click()
    page.wait_for_url("**/ops?msg=*")
    expect(page.locator("#flash")).to_contain_text("dispatched")
    row = page.locator(f"tr#{source_id}")
    deadline = time.monotonic() + 15
    after = before
    while after == before and time.monotonic() < deadline:
        page.reload()
        after = row.locator("td.last-attempt time").get_attribute("datetime")
    assert after and after > before, (before, after)
    expect(row.locator(".state")).to_have_text("ok")
    # The per-source page lists its polls (the failing one shows its error).
    page.goto(server + "/ops")
    page.locator("tr[data-state='failing'] a").first.click()
    expect(page.locator("#polls tbody tr").first).to_contain_text("error")
    expect(page.locator("#polls")).to_contain_text("503")
    expect(page.locator("#polls tbody tr time").first).to_have_text(re.compile(r" ago$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ops-source.png"))
    page.goto(server + "/ops")
    # [newcomer] Times human-first, the exact time on hover.
    last = row.locator("td.last-attempt time")
    expect(last).to_have_text(re.compile(r"^(just now|\d+ (s|min) ago)$"))
    expect(last).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    # Charts drawn on the server from what the scheduler sampled (every 2 s here): the items received
    # and the failing source's errors show up as bars.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (page.locator("#chart-received rect:not(.unsampled) title").count()
                                               and page.locator("#chart-errors rect:not(.unsampled) title").count()):
        time.sleep(0.5)
        page.reload()
    for chart in ("received", "published", "errors", "lag", "queues"):
        expect(page.locator(f"svg#chart-{chart}")).to_be_visible()
    expect(page.locator("#chart-received rect:not(.unsampled) title").first).to_contain_text("healthy")
    expect(page.locator("#chart-errors rect:not(.unsampled) title").first).to_contain_text("broken #")
    assert page.locator("script").count() == 0  # nothing runs in the browser
    # It fits 1280 px: nothing scrolls sideways, every action button is on screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    for button in page.locator("#sources-table button").all():
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280, box
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ops-1280x800.png"))
    page.screenshot(path=str(ARTIFACTS / "ops.png"), full_page=True)
    assert (ARTIFACTS / "ops.png").stat().st_size > 10_000


def offline(page: object) -> list[str]:
    """Cut the page off from every host but this machine: such requests are aborted and listed."""
    from playwright.sync_api import Route

    asked: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            asked.append(url)
            route.abort("internetdisconnected")

    page.context.route("**/*", only_loopback)  # type: ignore[attr-defined]
    return asked


def test_docs_work_offline_in_chromium(server: str, browser_page: object) -> None:
    """[newcomer] /docs (Swagger UI) renders with the network cut off: every asset is ours."""
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    asked = offline(page)
    page.goto(server + "/docs")
    push = page.locator(".opblock-summary-path", has_text="/api/v1/partners/{partner_id}/items")
    expect(push.first).to_be_visible()
    expect(page.locator(".opblock-post").first).to_be_visible()
    icon = page.evaluate("fetch(document.querySelector('link[rel~=icon]').href).then(r => r.status)")
    assert icon == 200
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs-offline.png"))
    assert page.goto(server + "/redoc").status == 404  # not offered: its page loads a logo from another host
    assert asked == [], f"pages asked for other hosts: {asked}"
