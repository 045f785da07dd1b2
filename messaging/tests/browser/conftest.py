"""The real app in a subprocess, driven by Debian's Chromium through Playwright.

After sync Playwright has run in a process, the ORM refuses to run there
(SynchronousOnlyOperation), so these tests never touch the database: the app runs
as `uvicorn config.asgi:application` against a fresh SQLite file with the
in-memory cache and channel layer, and everything happens through the browser.
Run them on their own: `uv run pytest -q -m browser messaging/tests/browser`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """`uvicorn` serving the project on a free port; `restart()` drops every socket."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "server.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": f"sqlite:///{workdir / 'browser.sqlite3'}",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "RATE_LIMIT_AUTH": "1000/min",
            "RATE_LIMIT_SEND": "1000/min",
            "PYTHONUNBUFFERED": "1",
        }
        # Local memory cache and in-memory channel layer: nothing shared with other runs.
        self.env.pop("REDIS_URL", None)
        self.env.update(env or {})
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=self.env, check=True, timeout=300
        )

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "config.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--lifespan",
                    "off",
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited; see {self.log}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the app did not answer /healthz; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    server = AppServer(tmp_path_factory.mktemp("browser-app"))
    server.manage("migrate", "--no-input", "-v0")
    # WhiteNoise serves collected files when DEBUG is off, as in production.
    server.manage("collectstatic", "--no-input", "-v0")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def one_socket_server(tmp_path_factory, app_server):
    """The app allowing one open socket per person (SOCKETS_PER_USER=1).

    Its static files are the ones `app_server` collected (one STATIC_ROOT)."""
    server = AppServer(tmp_path_factory.mktemp("browser-app-one-socket"), {"SOCKETS_PER_USER": "1"})
    server.manage("migrate", "--no-input", "-v0")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def person(chromium, app_server):
    """A fresh browser profile (cookies and all) per person; closed after the test.

    On `app_server` unless `base_url` says otherwise."""
    contexts = []

    def _new(**options):
        options.setdefault("viewport", {"width": 1200, "height": 900})
        options.setdefault("base_url", app_server.url)
        context = chromium.new_context(accept_downloads=True, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield _new
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
