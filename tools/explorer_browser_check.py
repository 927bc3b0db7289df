#!/usr/bin/env python3
"""Drives the web explorer (GET /explorer) in headless Chromium against a running node, and checks it.

Every page renders with the node's real data, search finds a block (by hash and by height), a transaction and an
address, a new block appears on the dashboard without a reload, an unknown block shows a message (not a blank page),
the dashboard fits a phone-width screen, and the browser console has no errors. Prints the dashboard's first render
time. Exit status 0 when every check passed.

    python3 tools/explorer_browser_check.py --rpc http://127.0.0.1:8645/ [--screenshots DIR] [--timeout 60]

With --reorg-ready-file PATH it checks only that the dashboard follows a reorg: it writes PATH once the dashboard is
live, the caller makes the node switch branches, and the block list must drop the old branch's rows and show the new
branch (SystemTests ExplorerTests.dashboardFollowsAReorg). With --no-websocket as well, the page gets no WebSocket (as
behind a proxy without one) and must notice the switch by polling (ExplorerTests.dashboardFollowsAReorgWhilePolling).

Needs chromium, chromium-driver (apt) and selenium (pip); tools/setup installs them. Runs as root with --no-sandbox.
"""
import argparse
import json
import os
import shutil
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


class CheckFailed(Exception):
    pass


def rpc(url, method, params=None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params if params is not None else []}).encode()
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.load(r)
    if "error" in answer:
        raise CheckFailed(f"{method}: {answer['error']}")
    return answer["result"]


def find_binary(names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


def make_driver(width, height):
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    options.add_argument("--no-sandbox")  # CI runs as root
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--disable-gpu")
    options.add_argument("--no-first-run")
    options.add_argument("--disable-extensions")
    options.add_argument("--disable-background-networking")
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument("--force-device-scale-factor=1")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    binary = find_binary(["chromium", "chromium-browser", "google-chrome"])
    if binary:
        options.binary_location = binary
    driver_path = find_binary(["chromedriver"]) or "/usr/bin/chromedriver"
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    return driver


class Explorer:
    def __init__(self, driver, base, timeout):
        self.d = driver
        self.base = base
        self.timeout = timeout
        self.console = []

    def wait(self, what, condition, timeout=None):
        try:
            return WebDriverWait(self.d, timeout or self.timeout, poll_frequency=0.2).until(lambda d: condition())
        except Exception as e:
            raise CheckFailed(f"timed out waiting for {what} (url {self.d.current_url}); page says: {self.text()[:600]!r}") from e

    def text(self):
        try:
            return self.d.find_element(By.ID, "view").text
        except Exception:
            return ""

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def state(self):
        return self.js("const v = document.getElementById('view'); return v ? [v.dataset.page || '', v.dataset.ready || ''] : ['', ''];")

    def go(self, route, page, expect="true"):
        """Navigates by hash (no reload) and waits until the page says it is ready."""
        self.js("window.location.hash = arguments[0];", route)
        self.wait(f"page {route}", lambda: self.state() == [page, expect])
        self.collect_console()
        return self.text()

    def go_settled(self, route, page):
        """As `go`, but a page that ends in an error counts as settled too; returns (ready flag, text)."""
        # Clear the ready flag first, so the wait cannot take the previous page's state for this one.
        self.js("const v = document.getElementById('view'); if (v) { v.dataset.ready = 'navigating'; }")
        self.js("window.location.hash = arguments[0];", route)
        self.wait(f"page {route}", lambda: self.state() in ([page, "true"], [page, "error"]))
        self.collect_console()
        return self.state()[1], self.text()

    def search(self, query, page):
        box = self.d.find_element(By.ID, "search-input")
        box.clear()
        box.send_keys(query)
        # Clear the ready flag first, so the wait sees the page the search leads to.
        self.js("document.getElementById('view').dataset.ready = 'searching';")
        self.d.find_element(By.CSS_SELECTOR, "#search button").click()
        self.wait(f"search {query[:20]}", lambda: self.state() == [page, "true"])
        return self.text()

    def collect_console(self):
        for entry in self.d.get_log("browser"):
            self.console.append(entry)

    def console_errors(self):
        self.collect_console()
        return [e for e in self.console if e.get("level") == "SEVERE"]


def time_dashboard(url, page_url, runs, timeout):
    """Loads the dashboard `runs` times, each in a fresh browser (cold cache), and prints the render times."""
    tip = rpc(url, "chain_blockNumber")
    walls, firsts = [], []
    for _ in range(runs):
        driver = make_driver(1366, 900)
        try:
            ex = Explorer(driver, page_url, timeout)
            driver.get(page_url)
            ex.wait("the dashboard", lambda: ex.state() == ["dashboard", "true"])
            # Navigation start to the dashboard's first complete render, from the browser's own clock.
            walls.append(ex.js("return window.sharechainExplorer.firstReadyAtMs;"))
            firsts.append(ex.js("return window.sharechainExplorer.firstRenderMs;"))
            errors = ex.console_errors()
            check(not errors, f"console errors: {errors}")
        finally:
            driver.quit()
    walls.sort()
    print(json.dumps({"tipHeight": tip, "runs": runs, "readyMsSorted": walls, "medianReadyMs": walls[len(walls) // 2],
                      "maxReadyMs": walls[-1], "firstRenderMs": firsts}))
    return 0 if walls[-1] < 1000 else 1


def dashboard_rows(driver):
    """The dashboard's block list as [(height, hash)], top first, read in one script: a page that re-reads itself
    replaces its table, and elements looked up one by one would go stale in between."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#recent-blocks tbody tr')].map((r) => [r.dataset.height, r.dataset.hash]);")
    return [(int(height), block_hash) for height, block_hash in rows]


def follow_reorg(url, page_url, ready_file, timeout, no_websocket=False):
    """Loads the dashboard, writes `ready_file` (the rows it shows) and waits until the node reorganizes: the page must
    count a `reorg` notification and then list exactly the node's canonical blocks (the top one the node's tip,
    consecutive heights, each row's hash the canonical one), with the old branch's rows gone, without a reload.
    With `no_websocket` the page has no WebSocket: it polls, and must find the switch itself and read itself again."""
    driver = make_driver(1366, 900)
    try:
        ex = Explorer(driver, page_url, timeout)
        if no_websocket:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source":
                "window.WebSocket = function () { throw new Error('no WebSocket behind this proxy'); };"})
        driver.get(page_url)
        ex.wait("the dashboard", lambda: ex.state() == ["dashboard", "true"])
        if no_websocket:
            ex.wait("the page to poll", lambda: ex.js("return window.sharechainExplorer.live;") == "down")
        else:
            ex.wait("the live WebSocket", lambda: ex.js("return window.sharechainExplorer.live;") == "live")
        before = dashboard_rows(driver)
        check(len(before) >= 2 and all(h for _, h in before), f"the dashboard lists {before}")
        ex.js("window.__noReload = 'still here';")
        with open(ready_file + ".tmp", "w") as f:
            json.dump({"rows": before}, f)
        os.replace(ready_file + ".tmp", ready_file)

        if no_websocket:  # nothing announces the switch to a polling page: its rows must still become the new branch's
            ex.wait("the node to switch branches", lambda: rpc(url, "chain_blockNumber") > before[0][0], timeout=max(timeout, 60))
        else:
            ex.wait("a reorg notification", lambda: ex.js("return window.sharechainExplorer.reorgs;") >= 1, timeout=max(timeout, 60))

        def canonical():
            rows = dashboard_rows(driver)
            tip = rpc(url, "chain_blockNumber")
            if not rows or rows[0][0] != tip or len(rows) != min(15, tip + 1):
                return False
            if [h for h, _ in rows] != list(range(tip, tip - len(rows), -1)):
                return False
            hashes = [b["hash"] for b in rpc_batch(url, [("chain_getBlockByNumber", [h]) for h, _ in rows])]
            return hashes == [h for _, h in rows]
        ex.wait("the dashboard to show the new branch", canonical, timeout=max(timeout, 60))
        after = dashboard_rows(driver)
        gone = [r for r in before if r[0] >= after[-1][0] and r not in after]  # shown rows whose block changed
        check(gone, f"no row of the old branch was replaced: before {before}, after {after}")
        check(ex.js("return window.__noReload;") == "still here", "the page reloaded")
        errors = ex.console_errors()
        check(not errors, f"console errors: {errors}")
        report = {"reorgs": ex.js("return window.sharechainExplorer.reorgs;"),
                  "rereads": ex.js("return window.sharechainExplorer.rereads;"), "replacedRows": len(gone), "top": after[0][0],
                  "rowsBefore": len(before), "rowsAfter": len(after)}
    finally:
        driver.quit()
    print("explorer reorg check passed " + json.dumps(report, sort_keys=True))
    return 0


def rpc_batch(url, calls):
    body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]).encode()
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answers = sorted(json.load(r), key=lambda a: a["id"])
    for a in answers:
        if "error" in a:
            raise CheckFailed(f"{calls[a['id']][0]}: {a['error']}")
    return [a["result"] for a in answers]


def check(cond, message):
    if not cond:
        raise CheckFailed(message)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rpc", required=True, help="the node's JSON-RPC URL (http://host:port/)")
    ap.add_argument("--page", help="the explorer URL (default: RPC origin + /explorer)")
    ap.add_argument("--screenshots", help="write dashboard.png, window.png and dashboard-phone.png here")
    ap.add_argument("--timeout", type=float, default=60, help="seconds to wait for each condition")
    ap.add_argument("--time-dashboard", type=int, default=0, metavar="N",
                    help="only measure: load the dashboard N times in fresh browsers and print the times to a complete "
                         "render (navigation start to the dashboard's ready mark), then exit")
    ap.add_argument("--reorg-ready-file", metavar="PATH",
                    help="only the reorg check: load the dashboard, write PATH once it is live, then expect the node to "
                         "reorganize (the caller makes it) and the dashboard to drop the old branch's rows and show the new one")
    ap.add_argument("--no-websocket", action="store_true",
                    help="with --reorg-ready-file: give the page no WebSocket, so it must find the branch switch by polling")
    args = ap.parse_args()
    url = args.rpc if args.rpc.endswith("/") else args.rpc + "/"
    page_url = args.page or url + "explorer"
    if args.time_dashboard:
        return time_dashboard(url, page_url, args.time_dashboard, args.timeout)
    if args.reorg_ready_file:
        return follow_reorg(url, page_url, args.reorg_ready_file, args.timeout, no_websocket=args.no_websocket)

    # Real data to look for, straight from the node.
    tip = rpc(url, "chain_blockNumber")
    validator = rpc(url, "validator_list", {"limit": 1})["items"][0]["address"]
    tx_hash = None
    for h in range(tip, max(0, tip - 200), -1):
        b = rpc(url, "chain_getBlockByNumber", [h])
        if b["transactions"]:
            tx_hash, tx_block = b["transactions"][0], b
            break
    check(tx_hash is not None, "no transaction in the last 200 blocks")
    tx = rpc(url, "tx_getByHash", [tx_hash])
    windows = rpc(url, "window_list", {"pool": 0, "limit": 100})["items"]
    paid = [w for w in windows if int(w["paid"]) > 0 or int(w["refunded"]) > 0]
    window = (paid or windows)[-1]
    proofs = rpc(url, "proof_list", {"limit": 10})["items"]

    def live_ticket():
        """A ticket the node holds now. Tickets are pruned when their window pays out, which the live demo keeps
        doing, so one is picked right before its page is opened."""
        for status in ["awaitingReveal", "revealed", "fraudProven", "upheld", "withheld"]:
            items = rpc(url, "ticket_list", {"status": status, "limit": 1})["items"]
            if items:
                return items[0]
        return None
    ticket = live_ticket()

    report = {}
    driver = make_driver(1366, 900)
    try:
        ex = Explorer(driver, page_url, args.timeout)
        t0 = time.monotonic()
        driver.get(page_url)
        ex.wait("the dashboard", lambda: ex.state() == ["dashboard", "true"])
        report["dashboardWallSeconds"] = round(time.monotonic() - t0, 3)
        report["firstRenderMs"] = ex.js("return window.sharechainExplorer.firstRenderMs;")
        nav = ex.js("const n = performance.getEntriesByType('navigation')[0]; return n ? Math.round(n.domContentLoadedEventEnd) : null;")
        report["domContentLoadedMs"] = nav
        rows = driver.find_elements(By.CSS_SELECTOR, "#recent-blocks tbody tr")
        check(len(rows) >= 2, f"the dashboard lists {len(rows)} blocks")
        text = ex.text()
        for label in ["HEIGHT", "PEERS", "MEMPOOL", "TX/S"]:
            check(label in text.upper(), f"the dashboard has no {label} card: {text[:400]!r}")
        charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
        check(len(charts) >= 3, f"{len(charts)} charts on the dashboard")
        bars = driver.find_elements(By.CSS_SELECTOR, "svg.chart rect")
        check(len(bars) >= 1, "the window chart has no bars")
        if args.screenshots:
            os.makedirs(args.screenshots, exist_ok=True)
            time.sleep(0.3)  # let the fresh-row animation settle for the picture
            driver.save_screenshot(os.path.join(args.screenshots, "dashboard.png"))

        # Live: a new block appears without reload (the marker survives only if the document is the same).
        ex.js("window.__noReload = 'still here';")
        top = int(rows[0].get_attribute("data-height"))
        ex.wait("a new block on the dashboard", lambda: int(driver.find_elements(By.CSS_SELECTOR, "#recent-blocks tbody tr")[0]
                                                               .get_attribute("data-height")) > top, timeout=max(args.timeout, 60))
        check(ex.js("return window.__noReload;") == "still here", "the page reloaded")
        report["liveHeads"] = ex.js("return window.sharechainExplorer.heads;")
        report["live"] = ex.js("return window.sharechainExplorer.live;")
        check(report["live"] == "live", f"the WebSocket is not live ({report['live']})")

        # Search: a block by hash and by height, a transaction, an address.
        t = ex.search(tx_block["hash"], "block")
        check(f"Block {tx_block['height']}" in t and tx_hash[:10] in t, "search by block hash")
        t = ex.search(str(tx_block["height"]), "block")
        check(f"Block {tx_block['height']}" in t, "search by height")
        t = ex.search(tx_hash, "tx")
        check(tx["kind"] in t and "Receipt" in t, f"search by transaction hash: {t[:300]!r}")
        # The transaction's own events name it, not "block" (block-processing events do that on a block page).
        check(not ex.js("return Array.from(document.querySelectorAll('td span.muted')).some((s) => s.textContent === 'block');"),
              "the transaction page labels its own events as the block's")
        t = ex.search(tx["sender"], "address")
        check("Account" in t and tx["sender"][:12] in t, "search by address")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#address-txs tbody tr")) >= 1, "the address lists no transactions")
        # Links between pages: from the address to one of its transactions.
        driver.find_element(By.CSS_SELECTOR, "#address-txs tbody tr a[href^='#/tx/']").click()
        ex.wait("a transaction from the address page", lambda: ex.state() == ["tx", "true"])

        # Every page with real data.
        t = ex.go(f"#/validator/{validator}", "validator")
        check("liveness" in t and "stake" in t, "validator page")
        ex.go("#/validators", "validators")
        t = ex.go("#/pool/0", "pool")
        check("Windows" in t and "windowBlocks" in t, "pool page")
        t = ex.go(f"#/window/0/{window['window']}", "window")
        check("Settlement split" in t and f"Window {window['window']} of pool 0" in t, "window page")
        if paid:
            check(len(driver.find_elements(By.CSS_SELECTOR, "#window-payouts tbody tr")) >= 1, "the window lists no payouts")
        if args.screenshots:
            driver.save_screenshot(os.path.join(args.screenshots, "window.png"))
        if ticket:
            # A ticket pruned between the listing and the page (its window paid out) shows "not found": pick a
            # ticket the node holds now and try again, a few times.
            for attempt in range(5):
                ticket = live_ticket() or ticket
                ready, t = ex.go_settled(f"#/ticket/{ticket['ticketId']}", "ticket")
                if ready == "true" or "not found" not in t:
                    break
            check(ready == "true", f"ticket page: {t[:200]!r}")
            check(ticket["ticketId"][:10] in t or "Ticket" in t, "ticket page")
        ex.go("#/tickets/revealed", "tickets")
        check(len(proofs) >= 1, "the node has no fraud case yet")
        t = ex.go(f"#/proof/{proofs[0]['ticketId']}", "proof")
        check("canonicalOutputHash" in t, "fraud case page")
        ex.go("#/proofs", "proofs")
        t = ex.go(f"#/block/{tip}", "block")
        check(f"Block {tip}" in t, "block page")

        # Integers beyond 2^53 (an escrow expiry anyone may choose, say) are kept exact: JSON.parse rounded them.
        exact = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            import(new URL('rpc.js', document.querySelector('script[type=module]').src).href).then((m) => {
              const v = m.parseExact('{"a":9007199254740993,"b":12,"c":"x9007199254740993","d":[-9007199254740995,1.5e300],"e":"q\\\\"1234567890123456789"}');
              done([v.a, v.b, v.c, v.d[0], v.d[1], v.e]);
            }, (e) => done(String(e)));""")
        check(exact == ["9007199254740993", 12, "x9007199254740993", "-9007199254740995", 1.5e300, 'q"1234567890123456789'],
              f"big integers are not kept exact: {exact!r}")
        # What a visitor types into a route is not echoed at length (a link could make the page say anything).
        lure = "Your-wallet-is-locked-visit-evil-example-to-unlock-it-now-" * 3
        t = ex.go(f"#/tx/{lure}", "tx", expect="error")
        check(lure not in t and "not a transaction hash" in t, f"the route's text is echoed whole: {t[:300]!r}")

        # Errors are messages on the page.
        t = ex.go("#/block/999999999", "block", expect="error")
        check("not found" in t.lower() or "block" in t.lower(), f"unknown block: {t[:200]!r}")
        t = ex.go("#/nosuchpage", "nosuchpage", expect="error")
        check("no page" in t, "unknown page")

        # Phone width: the dashboard fits without horizontal scrolling.
        driver.set_window_size(390, 844)
        ex.go("#/", "dashboard")
        overflow = ex.js("return document.documentElement.scrollWidth - window.innerWidth;")
        check(overflow <= 1, f"the dashboard is {overflow} px wider than a phone screen")
        if args.screenshots:
            driver.save_screenshot(os.path.join(args.screenshots, "dashboard-phone.png"))

        errors = ex.console_errors()
        check(not errors, f"console errors: {errors}")
        report["consoleEntries"] = len(ex.console)
    finally:
        driver.quit()
    print("explorer checks passed " + json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as e:
        print(f"explorer check failed: {e}", file=sys.stderr)
        sys.exit(1)
