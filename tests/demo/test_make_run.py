"""`make run`, black-box: the demo starts its own PostgreSQL and Redis from the pip wheels, and
every demo flow works on them in a real browser, with the demo's own settings, web server, Celery
worker and beat. A second run on the same var dir keeps the data.

The script is started exactly as `make run` starts it (this interpreter, `scripts/run_demo.py`,
from the project root) in its own process group, with a fresh STEWARD_VAR_DIR and no
DATABASE_URL, REDIS_URL or DJANGO_SETTINGS_MODULE, and stopped as Ctrl-C stops it: SIGINT to the
group. Nothing here touches the demo's database except through HTTP; the page email is read from
the file the dev settings' file-based email backend writes under $STEWARD_VAR_DIR/mail.

The tests run in file order and share one demo: the flows build on each other (the reader's
subscription, the acknowledged page) and the last test restarts the demo to find them again.
"""

from __future__ import annotations

import contextlib
import email
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import sign_in

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_SECONDS = 90  # to /healthz answering with the database and the broker up
STOP_SECONDS = 30
MAIL_SECONDS = 60
UI_WAIT_MS = 15_000
PLAYWRIGHT_DEFAULT_MS = 5_000
ACK_LINK = re.compile(r"https?://\S+/notifications/ack/[^/\s]+/")
# What the demo must not inherit from this process: it picks its own servers and settings.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SITE_URL", "EMAIL_HOST")
OUTAGE_TITLE = "SSO refuses every sign-in"
FIRST_REPORT = "The colleague search returns nothing"
ME_TOO_REPORT = "My tweet took half a minute to post"

# Demo accounts (registry/demo.py): the owner of People, a reader, IT staff.
PASSWORDS = {name: f"{name}-demo-pass" for name in ("it", "owner", "reader")}
OWNER_EMAIL = "owner@example.com"
READER_EMAIL = "reader@example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _poll(condition: Callable[[], object], *, seconds: float, what: str, detail: Callable[[], str]):
    """The first truthy value of `condition()` within `seconds`, else fail saying why."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f}s waiting for {what}\n{detail()}")
        time.sleep(0.5)


def _processes_in(folder: Path) -> list[str]:
    """Processes working in `folder` (PostgreSQL and redis-server chdir to their data folders;
    redis-server rewrites its command line, so the working directory is what names it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if cwd == str(folder) or cwd.startswith(f"{folder}/") or str(folder) in command:
            found.append(f"{proc.name} {command} (in {cwd})")
    return found


class Demo:
    """`make run` as a subprocess: start, wait until healthy, read its output, stop it."""

    def __init__(self, var_dir: Path, port: int, log_dir: Path) -> None:
        self.var_dir, self.port, self.log_dir = var_dir, port, log_dir
        self.url = f"http://{HOST}:{port}"
        self.runs = 0
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env = {k: v for k, v in env.items() if not k.startswith(("STEWARD_", "CELERY_"))}
        return env | {
            "STEWARD_VAR_DIR": str(self.var_dir),
            "STEWARD_HOST": HOST,
            "STEWARD_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
        }

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def start(self) -> None:
        self.runs += 1
        self.log = self.log_dir / f"make-run-{self.runs}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "scripts/run_demo.py"],  # what `make run` runs
                cwd=ROOT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,  # its own group, as a terminal's Ctrl-C would see it
            )
        _poll(
            self._healthy,
            seconds=START_SECONDS,
            what=f"{self.url}/healthz with the database and the broker ok",
            detail=self.output,
        )

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=3) as response:
                report = json.load(response)
                status = response.status
        except (OSError, ValueError):
            return False
        return (
            status == 200
            and report["database"]["status"] == "ok"
            and report["broker"]["status"] == "ok"
        )

    def stop(self) -> int | None:
        """Ctrl-C: SIGINT to the whole group. The exit code, or None if it did not exit."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            return None

    def kill_leftovers(self) -> None:
        """After a failure only: nothing this test started may outlive it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for line in _processes_in(self.var_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)

    def mail(self) -> list[EmailMessage]:
        """Every message the file-based email backend wrote so far (a file per connection,
        messages separated by a line of 79 dashes)."""
        messages = []
        for path in sorted((self.var_dir / "mail").glob("*")):
            for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if chunk.strip():
                    messages.append(email.message_from_bytes(chunk, policy=policy.default))
        return messages

    def mail_to(self, address: str) -> list[tuple[str, str]]:
        """(subject, plain-text body) of each message to `address`."""
        found = []
        for message in self.mail():
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain",))
                found.append((str(message["Subject"]), body.get_content() if body else ""))
        return found

    def mail_detail(self) -> str:
        subjects = [f"{m['To']}: {m['Subject']}" for m in self.mail()]
        tail = "\n".join(self.output().splitlines()[-60:])
        return "mail so far:\n" + "\n".join(subjects) + "\n\nmake run's output (tail):\n" + tail


def _assert_stopped_cleanly(demo: Demo) -> None:
    code = demo.stop()
    output = demo.output()
    assert code is not None, f"make run did not stop {STOP_SECONDS}s after SIGINT:\n{output}"
    assert "Steward stopped." in output, output
    assert code == 0, output
    with pytest.raises(ProcessLookupError):  # web server, worker and beat are gone too
        os.killpg(demo.process.pid, 0)
    # PostgreSQL's postmaster and redis-server run outside the group: they must be stopped too.
    left = _poll(
        lambda: not _processes_in(demo.var_dir) and "none",
        seconds=10,
        what="the embedded PostgreSQL and Redis to stop",
        detail=lambda: "\n".join(_processes_in(demo.var_dir)),
    )
    assert left == "none"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    # Not under pytest's basetemp: as root, PostgreSQL runs as its own account, which must be
    # able to reach the data folder, and every pytest session on the machine chmods
    # /tmp/pytest-of-root back to 0700 (so `pg_ctl stop` would be refused mid-run).
    base = Path(tempfile.mkdtemp(prefix="steward-make-run-"))
    demo = Demo(var_dir=base / "var", port=_free_port(), log_dir=base)
    try:
        demo.start()
        yield demo
    finally:
        if demo.process is not None and demo.process.poll() is None:
            demo.stop()
        demo.kill_leftovers()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    """Each step waits on a web server, a worker and PostgreSQL sharing two busy cores."""
    expect.set_options(timeout=UI_WAIT_MS)
    yield
    expect.set_options(timeout=PLAYWRIGHT_DEFAULT_MS)


def _sign_in(page: Page, demo: Demo, username: str) -> None:
    sign_in(page, demo.url, username, PASSWORDS[username])
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _page_row(page: Page, project: str):
    """The row of `project` in an event's "Pages" table."""
    pages = page.locator("table", has=page.locator("caption", has_text="Pages"))
    return pages.locator("tbody tr", has=page.get_by_role("cell", name=project, exact=True))


def test_make_run_starts_its_own_postgresql_and_redis(demo: Demo) -> None:
    output = demo.output()
    var = demo.var_dir
    assert "embedded PostgreSQL on port" in output and f"data in {var}/postgres/data" in output
    assert "embedded Redis on port" in output and f"data in {var}/redis" in output
    assert "using settings 'steward.settings.dev'" in output
    assert "Demo data loaded." in output and "Steward is running at" in output
    with urllib.request.urlopen(f"{demo.url}/healthz", timeout=5) as response:
        report = json.load(response)
    assert (report["database"]["status"], report["broker"]) == (
        "ok",
        {"status": "ok", "kind": "redis"},
    )


def test_a_reader_looks_up_a_project_and_reports_a_problem(page: Page, demo: Demo) -> None:
    _sign_in(page, demo, "reader")
    page.goto(f"{demo.url}/")
    page.get_by_role("searchbox").fill("iOS People")  # an alias
    results = page.locator("#results")
    expect(results).to_contain_text("1 app matching")
    expect(results).to_contain_text("Clayton Donley")
    results.get_by_role("link", name="People", exact=True).click()

    expect(page.locator("h1")).to_contain_text("People")
    box = page.locator("#report-problem")
    box.locator("textarea[name=description]").fill(FIRST_REPORT)
    box.get_by_role("button", name="Report the problem").click()

    result = page.locator("#report-problem")
    expect(result).to_contain_text("Thank you")
    expect(result).to_contain_text("Your report is with the people who support People")


def test_a_report_on_something_known_is_a_me_too_and_the_reader_subscribes(
    page: Page, demo: Demo
) -> None:
    _sign_in(page, demo, "reader")
    page.goto(f"{demo.url}/projects/oratweet/")
    expect(page.locator("main")).to_contain_text("Posting a tweet is slow")  # the demo's incident
    box = page.locator("#report-problem")
    box.locator("textarea[name=description]").fill(ME_TOO_REPORT)
    box.get_by_role("button", name="Report the problem").click()

    result = page.locator("#report-problem")
    expect(result).to_contain_text("This is already known and being worked on")
    expect(result).to_contain_text("Posting a tweet is slow")
    expect(result).to_contain_text("No need to open a ticket")

    result.get_by_role("button", name="Email me when it changes").click()

    expect(page.locator("main")).to_contain_text("You follow OraTweet")
    expect(page.locator("main")).to_contain_text(READER_EMAIL)
    page.goto(f"{demo.url}/subscriptions/")
    expect(page.locator("main table")).to_contain_text("OraTweet")


def test_it_opens_an_outage_and_the_owner_acknowledges_the_page_from_the_email(
    page: Page, browser: Browser, demo: Demo
) -> None:
    _sign_in(page, demo, "it")
    page.goto(f"{demo.url}/it/outages/new/")
    page.fill("#id_title", OUTAGE_TITLE)
    page.select_option("#id_systems", label="SSO")
    preview = page.locator("#impact-preview")
    expect(preview.locator(".impact-summary")).to_contain_text("3 projects")
    expect(preview).to_contain_text("Clayton Donley")
    page.get_by_role("button", name="Open and page").click()

    expect(page).to_have_url(re.compile(r"/it/outages/\d+/$"))
    outage_url = page.url
    expect(page.locator("h1")).to_contain_text(OUTAGE_TITLE)

    # The real worker of `make run` sends the page; the dev settings write it to a file.
    def ack_link() -> str | None:
        for subject, body in demo.mail_to(OWNER_EMAIL):
            found = ACK_LINK.search(body)
            if found and OUTAGE_TITLE in subject + body:
                return found.group(0)
        return None

    link = _poll(
        ack_link,
        seconds=MAIL_SECONDS,
        what=f"the page email with an acknowledge link to {OWNER_EMAIL}",
        detail=demo.mail_detail,
    )
    assert link.startswith(f"{demo.url}/notifications/ack/")

    # Opened from the mail client: a fresh browser, not signed in; the signed link is the key.
    mail_client = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        owner_page = mail_client.new_page()
        owner_page.goto(link)
        expect(owner_page.locator("h1")).to_have_text("Acknowledge this page?")
        expect(owner_page.locator("main")).to_contain_text("People")
        owner_page.get_by_role("button", name="Acknowledge").click()
        expect(owner_page.locator("h1")).to_have_text("Acknowledged")
        expect(owner_page.locator("main")).to_contain_text("Clayton Donley")
    finally:
        mail_client.close()

    # IT sees it on the outage: People's page is acknowledged by its owner, from the link.
    page.goto(outage_url)
    expect(_page_row(page, "People")).to_contain_text("Acknowledged")
    expect(_page_row(page, "People")).to_contain_text("Clayton Donley via link")

    # The reader follows OraTweet, which SSO touches: told of the outage by email, in the
    # public wording (none was given: the default), never IT's internal title.
    def public_notice() -> bool:
        mails = demo.mail_to(READER_EMAIL)
        assert not any(OUTAGE_TITLE in s + b for s, b in mails), "IT's title reached a subscriber"
        return any("Service disruption" in s + b and "OraTweet" in s + b for s, b in mails)

    _poll(
        public_notice,
        seconds=MAIL_SECONDS,
        what=f"the outage notice to the subscriber {READER_EMAIL}",
        detail=demo.mail_detail,
    )


def test_ctrl_c_stops_everything_and_a_second_make_run_keeps_the_data(
    page: Page, demo: Demo
) -> None:
    _assert_stopped_cleanly(demo)

    demo.start()
    output = demo.output()
    assert "No migrations to apply." in output, output  # the same database, not a new one
    assert f"data in {demo.var_dir}/postgres/data" in output

    _sign_in(page, demo, "reader")
    page.goto(f"{demo.url}/subscriptions/")
    expect(page.locator("main table")).to_contain_text("OraTweet")
    expect(page.locator("main table")).to_contain_text(READER_EMAIL)

    page.context.clear_cookies()
    _sign_in(page, demo, "owner")
    page.goto(f"{demo.url}/projects/people/reports/")
    expect(page.locator("main")).to_contain_text(FIRST_REPORT)
    page.goto(f"{demo.url}/it/outages/")
    page.get_by_role("link", name=OUTAGE_TITLE).click()
    expect(page.locator("h1")).to_contain_text(OUTAGE_TITLE)
    expect(_page_row(page, "People")).to_contain_text("Clayton Donley via link")

    _assert_stopped_cleanly(demo)
