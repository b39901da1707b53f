"""A live playground server (uvicorn in a thread, 127.0.0.1, a free port) and a headless Chromium page.

The browser is Debian's chromium (`make install` installs it), driven by Playwright pointed at the
system executable; nothing is downloaded. Without it the browser tests FAIL, unless the environment
says ARCHC_SKIP_BROWSER_TESTS=1 (CI never sets it)."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import pytest

from archc.serve.app import ServeConfig, create_app

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
SKIP_ENV = "ARCHC_SKIP_BROWSER_TESTS"


@dataclass
class LiveServer:
    url: str
    server: object
    thread: threading.Thread


def start_server(config: ServeConfig) -> LiveServer:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 90
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the playground server did not start")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(30)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    live = start_server(ServeConfig(workers=2, time_limit=20.0))
    yield live
    stop_server(live)


def chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return ""


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: browser tests opted out")
    exe = chromium_path()
    if not exe:
        pytest.fail("no Chromium found (`make install` installs Debian's chromium; or set "
                    f"{SKIP_ENV}=1 to opt out of the browser tests explicitly)", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed (pip install -e '.[test]')", pytrace=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, live_server):
    # bypass_csp: Playwright evaluates its wait conditions as strings, which the page's CSP forbids; the XSS
    # test then shows that escaping alone keeps spec text inert (the CSP is checked in test_serve_app.py)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server.url + "/")
    page.wait_for_selector("#canvas svg", timeout=30_000)
    page.js_errors = errors
    yield page
    context.close()
