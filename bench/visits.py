"""Navigate-away visits, many of them, and what they delivered: the comparison's leave and away-50
parts.

    leave_visits   n visits (fresh contexts) whose page calls identify + track and sets
                   location.href to another origin in the same task; some visitors come back
    tally          per kind, the visits with an acknowledged event, and duplicates
    before_return  what had arrived before each visitor came back
    stored_counts  Visitrail: what the collector stored per visit (it deduplicates)
"""

import time
from collections import Counter, deque

from .measure import Requests, wait_until
from .recorder import tagged

RETURN_AFTER_S = 0.3  # how long a returning visitor stays on the other site: part of the scenario
LEAVE_TIMEOUT_S = 30
READY_TIMEOUT_S = 120
FLUSH = "Promise.race([analytics.flush(), new Promise(r => setTimeout(() => r('timeout'), 20000))])"
# After the last visit: how long what the lingering contexts still send may take to finish.
DRAIN_TIMEOUT_S = 10


class Visit:
    def __init__(self, index, context, page):
        self.index, self.context, self.page = index, context, page
        self.requests = Requests(context)
        self.state, self.since = "leaving", time.monotonic()

    def now(self, state):
        self.state, self.since = state, time.monotonic()

    def waited(self):
        return time.monotonic() - self.since


class LeaveVisits:
    """Visits of one row that leave in the same task, `parallel` at a time. The first `returns`
    visitors come back to the site RETURN_AFTER_S after they left, in the same browser (same
    context: storage and HTTP cache), wait for ready and flush(). A left visit's context stays
    open while the next `linger` visits run, so what it sent on its way out can finish."""

    def __init__(self, env, row, case, returns=0, parallel=2, linger=4):
        self.env, self.row, self.case = env, row, case
        self.returns, self.parallel, self.linger = returns, parallel, linger
        self.away = env.away.url + "/away.html"
        self.active, self.closing = [], deque()
        self.returned_at, self.errors = {}, []

    def run(self, n):
        """(when each returning visitor came back, epoch ms by visit; the visits' errors)."""
        started = 0
        while started < n or self.active:
            while len(self.active) < self.parallel and started < n:
                self.active.append(self._start(started))
                started += 1
            for visit in list(self.active):
                self._look(visit)
            if self.active:
                self.active[0].page.wait_for_timeout(20)  # lets Playwright deliver navigation events
        self._drain()
        return self.returned_at, self.errors

    def _start(self, i):
        context = self.env.new_context()
        visit = Visit(i, context, context.new_page())
        url = self.env.url(self.row.sdk, **self.row.query(mode="leave", case=self.case, visit=str(i)))
        try:
            visit.page.goto(url, wait_until="commit", timeout=30_000)
        except Exception:  # the page navigates itself away; goto may report that as an abort
            pass
        return visit

    def _look(self, visit):
        """Moves a visit on when its page has: left, stayed away long enough, come back and flushed."""
        try:
            if visit.state == "leaving":
                self._leaving(visit)
            elif visit.state == "away" and visit.waited() >= RETURN_AFTER_S:
                self._come_back(visit)
            elif visit.state == "returning":
                self._returning(visit)
        except Exception as exc:  # e.g. evaluate while the page is between documents: next round
            if visit.waited() > READY_TIMEOUT_S:
                self._finish(visit, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

    def _leaving(self, visit):
        if visit.page.url.startswith(self.away):
            if visit.index < self.returns:
                visit.now("away")
            else:
                self._finish(visit)
        elif visit.waited() > LEAVE_TIMEOUT_S:
            self._finish(visit, f"did not leave ({visit.page.url})")

    def _come_back(self, visit):
        # The return page has no calls and the default (synchronous) tag: the boot replays the saved ones.
        back = {"mode": "return", "case": self.case, "visit": str(visit.index)}
        if self.row.rt:
            back["rt"] = self.row.rt
        self.returned_at[str(visit.index)] = time.time() * 1000
        visit.page.goto(self.env.url(self.row.sdk, **back), wait_until="commit", timeout=60_000)
        visit.now("returning")

    def _returning(self, visit):
        if visit.page.evaluate("!!(window.bench && window.bench.ready)"):
            ok = visit.page.evaluate(FLUSH)
            self._finish(visit, None if ok is True else f"flush() -> {ok}")
        elif visit.waited() > READY_TIMEOUT_S:
            self._finish(visit, f"not ready after {READY_TIMEOUT_S} s")

    def _finish(self, visit, error=None):
        if error:
            self.errors.append(f"visit {visit.index}: {error}")
        self.active.remove(visit)
        self.closing.append(visit)
        while len(self.closing) > self.linger:
            self.closing.popleft().context.close()

    def _drain(self):
        """Closes the last contexts once nothing they sent is on its way."""
        if self.closing:
            wait_until(self.closing[-1].page, self._quiet, timeout_s=DRAIN_TIMEOUT_S)
        while self.closing:
            self.closing.popleft().context.close()

    def _quiet(self):
        return not any(v.requests.in_flight() for v in self.closing)


def leave_visits(env, row, n, case, returns=0):
    """See LeaveVisits: (returned_at, errors)."""
    return LeaveVisits(env, row, case, returns=returns).run(n)


KINDS = ("page", "identify", "track")  # a page view's is the one an SDK makes by itself


def visit_of(event):
    return str(tagged(event, "visit"))


def tally(recorder, case, visits=None):
    """Per kind, the visits with at least one acknowledged event; duplicates: a message (by id;
    Plausible's have none, so by kind and visit) acknowledged more than once. `visits`: only these."""
    got = {kind: set() for kind in KINDS}
    seen = Counter()
    for _, event in recorder.events(case=case):
        visit = visit_of(event)
        if event.kind in got and (visits is None or visit in visits):
            got[event.kind].add(visit)
            seen[event.mid or (event.kind, visit)] += 1
    return {**{kind: len(got[kind]) for kind in KINDS}, "duplicates": sum(c - 1 for c in seen.values() if c > 1)}


def before_return(recorder, case, returned_at, visits=None):
    """Visits whose track / identify was acknowledged before the visitor came back (or at all, for
    visits without a return)."""
    got = {kind: set() for kind in KINDS}
    for arrival, event in recorder.events(case=case):
        v = visit_of(event)
        if visits is not None and v not in visits:
            continue
        if event.kind in got and arrival.at_ms < returned_at.get(v, float("inf")):
            got[event.kind].add(v)
    return {k: len(v) for k, v in got.items()}


def stored_counts(read, case, visits):
    """Visitrail: per visit, whether the collector stored its track / identify, and any stored twice
    (it deduplicates by messageId, so a beacon and a replay of one call are stored once)."""
    counts = Counter(track=0, identify=0, stored_twice=0)
    for i in visits:
        # The page's own track (not the Page Left a returning visit sends as it is closed).
        kinds = Counter(
            e.get("type") for e in read.events(userId=f"{case}-{i}") if e.get("event") in (None, "Bench Track")
        )
        counts["track"] += bool(kinds["track"])
        counts["identify"] += bool(kinds["identify"])
        counts["stored_twice"] += max(0, kinds["track"] - 1) + max(0, kinds["identify"] - 1)
    return dict(counts)
