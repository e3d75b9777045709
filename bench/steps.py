"""The comparison's steps (python -m bench), each filling in one Comparison:

    timing    cold loads of every measured row, interleaved: summaries, files, differences from no tag
    load      rounds of the load event alone: no tag, the mpy tags and a control, in alternating order
    leave     navigate-away visits per row; Visitrail's first visitors also come back
    offline   tracks made while offline, per row
    away      the away-50 case: each SDK's variants, no return

Each is step(run, env); STEPS holds them in the order they run, by the names --skip takes.
"""

import time
from collections import Counter
from urllib.parse import urlsplit

from . import machine, stats
from .measure import load_run, offline_run, timing_run, warm_up
from .rows import AWAY_ROWS, EMPTY_SCRIPT, LOAD_ROUND_KEYS, away_selected, select
from .sizes import Sizes
from .visits import KINDS, before_return, leave_visits, stored_counts, tally

SUMMARY_KEYS = ("load", "dcl", "ready", "ack", "tbt", "tbt_to_load", "cpu", "cpu_process", "busy")
SUMMARY_KEYS += ("js_heap", "backing", "wasm", "requests", "bytes", "gzip", "longest")
SUMMARY_KEYS += ("warm_load", "warm_ready", "warm_tbt", "warm_longest")
PAIRED_KEYS = ("load", "dcl", "cpu", "cpu_process", "busy", "memory")


class Comparison:
    """One run of the comparison: what was chosen (args, rows) and what the steps found."""

    def __init__(self, args):
        self.args = args
        self.only = set(args.only.split(",")) if args.only else None
        self.skip = set(filter(None, args.skip.split(",")))
        self.rows = select(self.only)
        self.measured = [r for r in self.rows if not r.skip]
        self.results = {r.key: {} for r in self.rows}
        self.away = {}
        self.load_rounds = {}
        self.cpus, self.usable = machine.cpus()
        self.loads = [machine.load_average()]  # sampled during the timing runs
        self.sizes = Sizes()
        self.chromium = None
        self.leaks, self.unreadable, self.refused = [], [], Counter()
        self.started = self.ended = time.monotonic()

    def log(self, msg):
        print(f"  [{time.monotonic() - self.started:5.0f}s] {msg}", flush=True)

    def collect(self, env):
        """What the environment saw over the whole run: leaks, bodies it could not read, refusals."""
        self.leaks = env.leaks()
        arrivals = env.hub.recorder.snapshot()
        self.unreadable = [a for a in arrivals if a.error and 200 <= a.status < 300]
        self.refused = Counter((a.sdk, a.path, a.status) for a in arrivals if not 200 <= a.status < 300)
        self.sizes.close()
        self.ended = time.monotonic()

    def elapsed(self):
        return self.ended - self.started


# -- timing -------------------------------------------------------------------------------------------


def timing(run, env):
    # Interleaved (row 1, row 2, ..., row 1, ...), so drift on the machine hits every row alike.
    runs = {r.key: [] for r in run.measured}
    for row in run.measured:
        warm_up(env, row)
    run.log("warm-up done")
    for i in range(run.args.runs):
        for row in run.measured:
            runs[row.key].append(timing_run(env, row, i, run.sizes))
            run.loads.append(machine.load_average())
        run.log(f"timing run {i + 1}/{run.args.runs} done (load average {run.loads[-1]:.1f})")
    for row in run.measured:
        rs = runs[row.key]
        summary = {k: stats.spread([r[k] for r in rs]) for k in SUMMARY_KEYS}
        run.results[row.key].update(runs=rs, summary=summary, files=_files(rs, run.sizes))
    # Differences from the page without a tag, run by run (same round, so drift cancels).
    if "none" in runs:
        for row in run.measured:
            if row.key != "none":
                run.results[row.key]["paired"] = _paired(runs[row.key], runs["none"])


def _files(rs, sizes):
    """Each file the tag fetched, by path: (bytes as served, gzip -9)."""
    files = {}
    for r in rs:
        for url, served in r["downloads"].items():
            files.setdefault(urlsplit(url).path, (served, sizes.get(url)[1]))
    return files


def _figure(one, key):
    if key == "memory":
        heap, backing = one["js_heap"], one["backing"]
        return None if heap is None or backing is None else heap + backing
    return one[key]


def _paired(rs, base):
    return {
        k: stats.spread(stats.differences([_figure(r, k) for r in rs], [_figure(b, k) for b in base]))
        for k in PAIRED_KEYS
    }


# -- load ---------------------------------------------------------------------------------------------


def load(run, env):
    # The load event alone, in many more rounds than the timing runs: a 5% difference is a few ms,
    # under what one round varies. Each round alternates the order of the rows.
    rows = [r for r in run.measured if r.key in LOAD_ROUND_KEYS]
    if not run.args.load_rounds or len(rows) < 2:
        return
    rows.append(EMPTY_SCRIPT)
    onload = {r.key: [] for r in rows}
    for i in range(run.args.load_rounds):
        for row in rows if i % 2 else rows[::-1]:
            onload[row.key].append(load_run(env, row, i))
    run.load_rounds = {"none": stats.bootstrap_median(onload["none"])}
    for row in rows:
        if row.key != "none":
            run.load_rounds[row.key] = stats.bootstrap_median(stats.differences(onload[row.key], onload["none"]))
    run.log(f"load rounds done ({run.args.load_rounds})")


# -- leave --------------------------------------------------------------------------------------------


def leave(run, env):
    args = run.args
    for row in run.measured:
        if not row.sends:
            continue
        case = f"leave-{row.key}"
        returns = min(args.visits, args.return_visits) if row.sdk == "visitrail" else 0
        returned, errors = leave_visits(env, row, args.visits, case, returns=returns)
        entry = {"visits": args.visits, "errors": errors[:10], "error_count": len(errors)}
        entry.update(_returned(env, case, returned, args.visits, returns) if returns else _no_return(env, case))
        run.results[row.key]["leave"] = entry
        run.log(
            f"leave {row.label}: {entry['before']}"
            + (f", after {returns} returns {entry['after']}, stored {entry['stored']}" if returns else "")
            + (f" ({len(errors)} errors: {errors[0]})" if errors else "")
        )


def _returned(env, case, returned, visits, returns):
    """Visitrail: what arrived before the visitors came back, after, and what the collector stored."""
    recorder, back = env.hub.recorder, set(returned)
    return {
        "before": before_return(recorder, case, returned),
        "returns": returns,
        "after": tally(recorder, case, visits=back),
        "before_returned": before_return(recorder, case, returned, visits=back),
        "stored": stored_counts(env.read, case, range(visits)),
    }


def _no_return(env, case):
    t = tally(env.hub.recorder, case)
    return {"before": {kind: t[kind] for kind in KINDS}, "duplicates": t["duplicates"]}


# -- offline ------------------------------------------------------------------------------------------


def offline(run, env):
    for row in run.measured:
        if not row.sends:
            continue
        try:
            run.results[row.key]["offline"] = offline_run(env, row, run.args.offline_events)
        except Exception as exc:
            run.results[row.key]["offline"] = None
            run.log(f"offline {row.label}: failed: {exc}")
            continue
        run.log(f"offline {row.label}: {run.results[row.key]['offline']}")


# -- away ---------------------------------------------------------------------------------------------


def away(run, env):
    n = run.args.away_visits
    for row in AWAY_ROWS:
        if not away_selected(row, run.only):
            continue
        case = f"away-{row.key}"
        _, errors = leave_visits(env, row, n, case)
        run.away[row.key] = dict(tally(env.hub.recorder, case), visits=n, error_count=len(errors), errors=errors[:10])
        if row.sdk == "visitrail":
            run.away[row.key]["stored"] = stored_counts(env.read, case, range(n))
        run.log(f"away-50 {row.label}: {run.away[row.key]}")


# The steps in the order they run; --skip names them.
STEPS = {"timing": timing, "load": load, "leave": leave, "offline": offline, "away": away}
