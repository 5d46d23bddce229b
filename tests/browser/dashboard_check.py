"""The dashboard in a real browser (Debian's chromium driven by Playwright), against the real
stack that tests/tests/dashboard.rs started. Checks what a person with a phone would notice:
sign-in with the key, the overview's host and memory, acknowledging a firing alert, the P&L
calendar from the stand-in's fills, live samples, a lost connection shown and resumed (the
browser reaches the API through a TCP relay that can drop every connection, as a tunnel does),
read-scope limits, sign-out, the CSP, no
horizontal scrolling at 390 px, the key stored nowhere, nothing fetched from another origin,
no console error, and the first view's weight (printed with the first render time).

Environment: DASHBOARD_URL, DASHBOARD_KEY (admin), DASHBOARD_READ_KEY, DASHBOARD_HOST (the host
name the overview must show), DASHBOARD_ALERT (the rule that fires), DASHBOARD_RESULT (a JSON
file written at the end), CHROMIUM (default /usr/bin/chromium); SCREENSHOTS (a directory: also
take 390x844 and 1440x900 shots of every view there).
"""

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import socket
import threading

from playwright.sync_api import sync_playwright

API_BASE = os.environ["DASHBOARD_URL"].rstrip("/")
KEY = os.environ["DASHBOARD_KEY"]
READ_KEY = os.environ["DASHBOARD_READ_KEY"]
HOST = os.environ["DASHBOARD_HOST"]
ALERT = os.environ["DASHBOARD_ALERT"]
RESULT = os.environ.get("DASHBOARD_RESULT")
SCREENSHOTS = os.environ.get("SCREENSHOTS")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWS = ["overview", "history", "trading", "market", "logs", "alerts"]
BUDGET_BYTES = 300 * 1000


class Relay:
    """A TCP pipe in front of the API, as the tunnel is: the browser talks through it, and
    `cut()` drops every open connection (a lost network) while new ones still get through."""

    def __init__(self, target):
        self.target = (target.hostname, target.port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open = set()
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.server.accept()
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    def pipe(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            self.close(s)

    def close(self, s):
        with self.lock:
            self.open.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self):
        with self.lock:
            sockets = list(self.open)
        for s in sockets:
            self.close(s)


RELAY = Relay(urlsplit(API_BASE))
BASE = f"http://127.0.0.1:{RELAY.port}"
ORIGIN = BASE

failures = []
figures = {}
# While the relay drops the connections on purpose, Chromium logs the two streams it lost.
cutting = {"now": False}


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


def api(path, key=None, cookie=None, method="GET"):
    """The API outside the browser: status and JSON body."""
    request = urllib.request.Request(API_BASE + path, method=method)
    if key:
        request.add_header("X-API-Key", key)
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            return response.status, json.loads(body) if body else None
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            return err.code, json.loads(body)
        except ValueError:
            return err.code, None


def watch(page, label, console_errors, requests):
    """Records console errors, page errors and every request URL of `page`."""

    def on_console(message):
        if message.type != "error":
            return
        text = message.text
        location = message.location.get("url", "")
        # Chromium logs every non-2xx answer as an error: the page expects two of them, the 401
        # of GET /session before signing in and the 403 the read-scope check provokes; and the
        # streams the relay cuts.
        expected = "Failed to load resource" in text and (
            (location.endswith("/session") and "401" in text)
            or ("/acknowledge" in location and "403" in text)
            or (cutting["now"] and location.endswith("/stream") and "net::ERR_" in text)
        )
        if not expected:
            console_errors.append(f"{label}: {text} ({location})")

    page.on("console", on_console)
    page.on("pageerror", lambda err: console_errors.append(f"{label}: page error {err}"))
    page.on("request", lambda request: requests.append(request.url))


def rendered(page, view, timeout=20000):
    page.wait_for_function(
        "v => document.documentElement.dataset.view === v && document.documentElement.dataset.rendered !== undefined",
        arg=view,
        timeout=timeout,
    )


def goto_view(page, view, query=""):
    page.evaluate("() => { delete document.documentElement.dataset.rendered; }")
    page.evaluate(f"() => {{ location.hash = '#/{view}{query}'; }}")
    rendered(page, view)
    page.wait_for_load_state("networkidle")


def sign_in(page, key):
    page.fill("#key", key)
    page.click("form.signin button[type=submit]")
    page.wait_for_selector("#nav:not([hidden])", timeout=15000)


def no_horizontal_scroll(page, label):
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth, document.body.scrollWidth]"
    )
    check(
        widths[0] <= widths[1] and widths[2] <= widths[1],
        f"{label}: no horizontal scrolling at 390 px (scrollWidth {widths[0]}/{widths[2]}, clientWidth {widths[1]})",
    )


def main():
    console_errors = []
    requests = []
    with sync_playwright() as p:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
        page = context.new_page()
        watch(page, "admin", console_errors, requests)

        # The page itself: security headers, no inline script or style.
        started = time.monotonic()
        response = page.goto(BASE + "/")
        headers = response.headers
        csp = headers.get("content-security-policy", "")
        check(
            "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp,
            f"CSP header present and strict: {csp!r}",
        )
        check(headers.get("x-content-type-options") == "nosniff", "X-Content-Type-Options: nosniff")
        html = response.text()
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html, re.I)
        check(not inline and " style=" not in html and not re.search(r"\son[a-z]+=", html, re.I),
              "the page has no inline script, style attribute or event handler attribute")
        page.wait_for_selector("#key", timeout=15000)
        check(page.get_attribute("#key", "type") == "password", "the key goes into a password field")
        if SCREENSHOTS:
            os.makedirs(SCREENSHOTS, exist_ok=True)
            page.screenshot(path=os.path.join(SCREENSHOTS, "signin-390.png"))

        form_ms = (time.monotonic() - started) * 1000

        # Sign in; the overview is the first view.
        submitted = time.monotonic()
        sign_in(page, KEY)
        rendered(page, "overview")
        page.wait_for_selector(".host-name", timeout=20000)
        overview_ms = (time.monotonic() - submitted) * 1000
        page.wait_for_load_state("networkidle")
        timing = page.evaluate(
            """() => {
              const nav = performance.getEntriesByType('navigation')[0];
              const all = [nav, ...performance.getEntriesByType('resource')];
              const sum = (list, key) => list.reduce((n, e) => n + (e[key] || 0), 0);
              const page = all.filter(e => /^\\/(ui\\/.*)?$/.test(new URL(e.name).pathname));
              return {
                transfer: sum(all, 'transferSize'), decoded: sum(all, 'decodedBodySize'), count: all.length,
                page_transfer: sum(page, 'transferSize'), page_decoded: sum(page, 'decodedBodySize'),
              };
            }"""
        )
        # A returning visitor: the session cookie is there, the page opens on the overview.
        reload_started = time.monotonic()
        page.reload()
        rendered(page, "overview")
        page.wait_for_selector(".host-name", timeout=20000)
        reload_ms = (time.monotonic() - reload_started) * 1000
        page.wait_for_load_state("networkidle")
        figures.update(
            first_view_transfer_bytes=timing["transfer"],
            first_view_decoded_bytes=timing["decoded"],
            first_view_requests=timing["count"],
            page_and_scripts_transfer_bytes=timing["page_transfer"],
            page_and_scripts_decoded_bytes=timing["page_decoded"],
            sign_in_form_ms=round(form_ms),
            sign_in_to_overview_ms=round(overview_ms),
            reload_to_overview_ms=round(reload_ms),
        )
        print(
            f"first view: {timing['transfer']} bytes transferred in {timing['count']} requests"
            f" ({timing['page_transfer']} for the page and its scripts, {timing['page_decoded']} decoded;"
            f" the rest the API's answers); first render: sign-in form {form_ms:.0f} ms after navigation,"
            f" overview {overview_ms:.0f} ms after submitting the key, {reload_ms:.0f} ms after a reload"
            " with the session",
            flush=True,
        )
        check(0 < timing["transfer"] < BUDGET_BYTES, f"first view under {BUDGET_BYTES} bytes ({timing['transfer']})")

        # This host's name and a real memory figure.
        check(page.inner_text(".host-name").strip() == HOST, f"the overview shows the host name {HOST}")
        shown = page.inner_text(f"#host-{HOST} .memory-used")
        status, system = api("/metrics/system", key=KEY)
        used = next(h for h in system["hosts"] if h["host"] == HOST)["sample"]["memory"]["used_bytes"] / 2**30
        match = re.search(r"([\d.,]+)\s*GiB", shown)
        value = float(match.group(1).replace(",", "")) if match else -1
        check(match is not None and value > 0 and abs(value - used) <= max(0.5, 0.2 * used),
              f"the overview shows a real memory figure ({shown!r}; the API says {used:.2f} GiB)")
        check(page.locator("#status").count() == 1, "the overall status is shown")

        # A new sample arrives without a reload.
        page.evaluate("() => { window.__noReload = true; }")
        before = page.get_attribute(f"#host-{HOST}", "data-message-id")
        page.wait_for_function(
            "([h, m]) => { const el = document.getElementById('host-' + h); return el && el.dataset.messageId !== m; }",
            arg=[HOST, before],
            timeout=15000,
        )
        check(page.evaluate("() => window.__noReload === true"), "a new sample appeared without a reload")

        # A lost connection is shown, and the streams come back by themselves.
        page.wait_for_function("() => document.getElementById('live').textContent.includes('live')", timeout=10000)
        cutting["now"] = True
        RELAY.cut()
        page.wait_for_selector("#live.lost", timeout=15000)
        lost_text = page.inner_text("#live")
        page.wait_for_function("() => document.getElementById('live').textContent.includes('live')", timeout=20000)
        cutting["now"] = False
        check("connection lost" in lost_text, f"a lost connection is shown ({lost_text!r}) and resumed")

        # The alert the real rule fired: acknowledged from the page.
        item = page.locator("#firing .alert", has_text=ALERT).first
        item.wait_for(timeout=30000)
        alert_id = item.get_attribute("data-id")
        item.locator("button.ack").click()
        page.wait_for_selector(f"#firing .alert[data-id='{alert_id}'] .acked", timeout=15000)
        status, detail = api(f"/alerts/{alert_id}", key=KEY)
        check(status == 200 and detail["acknowledged_at"] is not None,
              f"alert {ALERT} acknowledged from the page; the API shows it acknowledged")
        figures["acknowledged_alert_id"] = alert_id

        # The P&L calendar, from the stand-in's fills.
        status, month = api("/trades/pnl-calendar?year=2026&month=2", key=KEY)
        expected = {c["date"]: c["pnl"] for w in month["calendar"]["weeks"] for c in w if c and float(c["pnl"]) != 0}
        goto_view(page, "trading", "?year=2026&month=2&daily=all")
        page.wait_for_selector("#pnl-calendar .day", timeout=15000)
        cells = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('#pnl-calendar .day[data-pnl]')]"
            ".filter(el => Number(el.dataset.pnl) !== 0).map(el => [el.dataset.date, el.dataset.pnl]))"
        )
        check(expected and cells == expected, f"the P&L calendar shows the fills' days: page {cells}, API {expected}")
        texts = page.evaluate("() => [...document.querySelectorAll('#pnl-calendar .day .p')].map(e => e.textContent)")
        check(any("50" in t for t in texts), f"a day's P&L reads as money ({texts})")
        status, year = api("/trades/pnl-calendar?year=2026", key=KEY)
        expected = {str(m["month"]): m["pnl"] for m in year["months"] if float(m["pnl"]) != 0}
        page.click("text=Year")
        page.wait_for_selector("#pnl-calendar .month", timeout=10000)
        months = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('#pnl-calendar .month')]"
            ".filter(el => Number(el.dataset.pnl) !== 0).map(el => [el.dataset.month, el.dataset.pnl]))"
        )
        check(expected and months == expected, f"the year's heatmap shows the months with P&L: page {months}, API {expected}")
        page.click("#pnl-calendar .month[data-month='2']")
        page.wait_for_selector("#pnl-calendar[data-month='2'] .day", timeout=10000)
        status, daily = api("/trades/daily-pnl", key=KEY)
        active = [d for d in daily["days"] if d["trades_closed"] or float(d["net_pnl"])]
        bars = page.evaluate("() => [document.getElementById('daily-pnl').dataset.days, !!document.querySelector('#daily-pnl canvas')]")
        check(bars == [str(len(active)), True], f"the daily P&L bars chart the {len(active)} days with P&L ({bars})")

        # Logs: the text filter narrows the lines.
        goto_view(page, "logs")
        page.wait_for_selector("#log-lines .line", timeout=10000)
        every = page.locator("#log-lines .line").count()
        page.fill("input[name=q]", "rejected")
        page.wait_for_function("() => document.querySelectorAll('#log-lines .line').length === 1", timeout=10000)
        check(every == 3 and "ORDER rejected" in page.inner_text("#log-lines"),
              f"the logs view lists the lines ({every}) and its text filter narrows them")

        # A silence created from the alert, then expired, from the page.
        goto_view(page, "alerts", f"?silence={alert_id}")
        page.fill("form.silence input[name=comment]", "browser test")
        page.click("form.silence button[type=submit]")
        page.wait_for_selector(".silences button.expire", timeout=10000)
        status, silences = api("/silences?state=active", key=KEY)
        made = [x for x in silences["silences"] if x["comment"] == "browser test"]
        check(status == 200 and len(made) == 1
              and {"name": "alertname", "value": ALERT} in [{"name": m["name"], "value": m["value"]} for m in made[0]["matchers"]],
              f"a silence created from the alert ({made[0]['matchers'] if made else None})")
        page.click(".silences button.expire")
        page.wait_for_selector(".silences button.expire", state="detached", timeout=10000)
        status, silences = api("/silences?state=active", key=KEY)
        check(not [x for x in silences["silences"] if x["comment"] == "browser test"], "the silence expired from the page")

        # Every view: renders, no horizontal scrolling at 390 px.
        for view in VIEWS:
            goto_view(page, view)
            no_horizontal_scroll(page, view)
        if SCREENSHOTS:
            shoot(page, "390")

        # The key is stored nowhere.
        stored = page.evaluate(
            "() => JSON.stringify([document.cookie, Object.entries(localStorage), Object.entries(sessionStorage)])"
        )
        cookies = context.cookies()
        check(KEY not in stored and all(KEY not in c["value"] for c in cookies),
              "the key is in no cookie, localStorage or sessionStorage")
        session = [c for c in cookies if c["httpOnly"]]
        check(len(session) == 1 and session[0]["sameSite"] == "Strict",
              f"one session cookie, HttpOnly and SameSite=Strict ({[(c['name'], c['httpOnly'], c['sameSite']) for c in cookies]})")

        if SCREENSHOTS:
            page.set_viewport_size({"width": 1440, "height": 900})
            shoot(page, "1440")
            page.set_viewport_size({"width": 390, "height": 844})

        # A read-scope session sees everything and cannot acknowledge.
        reader = browser.new_context(viewport={"width": 390, "height": 844})
        read_page = reader.new_page()
        watch(read_page, "read", console_errors, requests)
        read_page.goto(BASE + "/")
        read_page.wait_for_selector("#key")
        if SCREENSHOTS:
            read_page.set_viewport_size({"width": 1440, "height": 900})
            read_page.screenshot(path=os.path.join(SCREENSHOTS, "signin-1440.png"))
            read_page.set_viewport_size({"width": 390, "height": 844})
        sign_in(read_page, READ_KEY)
        rendered(read_page, "overview")
        read_page.wait_for_selector("#firing", timeout=15000)
        read_page.wait_for_load_state("networkidle")
        check(read_page.locator("button.ack").count() == 0 and read_page.locator(".host-name").count() > 0,
              "a read-scope session sees the overview without acknowledge buttons")
        status = read_page.evaluate(
            "id => fetch(`/alerts/${id}/acknowledge`, {method: 'POST'}).then(r => r.status)", alert_id
        )
        check(status == 403, f"a read-scope session's acknowledge is refused ({status})")
        reader.close()

        # Sign-out ends the session on the server: the old cookie gets 401.
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in session)
        check(api("/session", cookie=cookie)[0] == 200, "the session cookie works before signing out")
        page.click("#signout")
        page.wait_for_selector("#key", timeout=10000)
        status, _ = api("/session", cookie=cookie)
        status_alerts, _ = api("/alerts", cookie=cookie)
        check(status == 401 and status_alerts == 401, f"after sign-out the old cookie gets 401 ({status}, {status_alerts})")

        context.close()
        browser.close()

    foreign = sorted({u for u in requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                      and "{0.scheme}://{0.netloc}".format(urlsplit(u)) != ORIGIN})
    check(not foreign, f"no request left the origin ({len(requests)} requests; foreign: {foreign})")
    check(not console_errors, f"no console errors ({console_errors})")
    figures["requests"] = len(requests)
    if RESULT:
        with open(RESULT, "w") as out:
            json.dump({"failures": failures, "figures": figures}, out)
    if failures:
        print(f"{len(failures)} check(s) failed", flush=True)
        return 1
    return 0


# What each screenshot opens: the month and the chart that the stand-ins have data for.
SHOT_QUERY = {"trading": "?year=2026&month=2&daily=all", "market": "?symbol=AAPL&period=max"}


def shoot(page, width):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    for view in VIEWS:
        goto_view(page, view, SHOT_QUERY.get(view, ""))
        page.evaluate("() => { document.getElementById('toast').hidden = true; }")
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{view}-{width}.png"))


if __name__ == "__main__":
    sys.exit(main())
