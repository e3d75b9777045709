"""What the benchmarks print and write.

For every benchmark: text tables, the number formats, JSON writing. For the comparison
(python -m bench): its table, the goals' verdicts, the machine's state, the legend, and its JSON.
"""

import datetime
import json
import os
import textwrap
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from visitrail.collector import assets

from .rows import away_only
from .sizes import gzip9

LOADER_GOAL_B = 1536  # loader.js, gzip -9
LOAD_GOAL_PCT = 5  # the page's load event, vs no tag
INLINE_GOAL_PCT = 1  # the inline snippet's load event, vs no tag
LONG_TASK_MS = 50  # a task longer than this blocks the page's input (TBT counts what is over it)
READY_GOAL_MS = {"cold": 300, "warm": 200}  # the default tag (mpy)
MB = 1048576

# -- Any benchmark ------------------------------------------------------------------------------------


class Note:
    """A table row that is one remark after its label, across the other columns."""

    def __init__(self, label, text):
        self.label, self.text = label, text


def table(header, rows, indent=""):
    """Columns: the first left-aligned, the others right-aligned, a rule under the header. Notes
    widen only the first column."""
    full = [r for r in rows if not isinstance(r, Note)]
    widths = [max(len(str(r[i])) for r in [header, *full]) for i in range(len(header))]
    widths[0] = max([widths[0]] + [len(r.label) for r in rows if isinstance(r, Note)])

    def line(cells):
        return indent + "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [line(header), indent + "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append(indent + r.label.ljust(widths[0]) + "  " + r.text if isinstance(r, Note) else line(r))
    return "\n".join(out)


def spread_text(s, form="{median:.0f} [{min:.0f}–{max:.0f}]", missing="—"):
    """A stats.spread as text; `missing` when nothing was measured."""
    return missing if not s else form.format(**s)


def number(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def rounded(value):
    """Floats to 4 significant digits, all the way down: the figures are not more precise."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def shown(path):
    """`path` relative to the working directory when it is inside it."""
    path = os.path.abspath(path)
    return os.path.relpath(path) if path.startswith(os.getcwd() + os.sep) else path


def write_json(path, data, indent=1):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent, default=str) + "\n")


# -- The comparison: its table ---------------------------------------------------------------------------


def comparison_table(run):
    args = run.args
    header = ["", "KB raw", "KB gz-9", "req", "ready ms", "1st ack ms", "load ms (Δ)", "TBT ms", "CPU ms"]
    header += ["heap+AB / wasm MB", f"leave p/t/i /{args.visits}", "+return", f"offline /{args.offline_events}"]
    header += [f"away /{args.away_visits} t/i/dup"]
    lines = []
    for row in run.rows + away_only(run.away):
        if row.skip:
            lines.append(Note(row.label, row.skip))
            continue
        res = run.results.get(row.key, {})
        s, d = res.get("summary", {}), res.get("paired", {})
        lines.append([row.label, *_size_cells(s), *_time_cells(s, d), *_delivery_cells(res, run.away.get(row.key))])
    return table(header, lines)


def _med(summary, key):
    return summary[key]["median"] if summary.get(key) else None


def _size_cells(s):
    """KB raw, KB gz-9, req."""
    raw, gz, req = _med(s, "bytes"), _med(s, "gzip"), _med(s, "requests")
    return [
        "—" if raw is None else f"{raw / 1024:,.1f}",
        "—" if gz is None else f"{gz / 1024:,.1f}",
        "—" if req is None else f"{req:.0f}",
    ]


def _time_cells(s, d):
    """ready, 1st ack, load (Δ), TBT, CPU (Δ), memory (Δ) / wasm."""
    load, cpu = _med(s, "load"), _med(s, "cpu")
    load_txt = "—" if load is None else f"{load:.0f}" + (f" ({_med(d, 'load'):+.0f})" if d.get("load") else "")
    cpu_txt = "—" if cpu is None else (f"{_med(d, 'cpu'):+.0f}" if d.get("cpu") else f"{cpu:.0f}")
    heap = None if _med(s, "js_heap") is None else _med(s, "js_heap") + (_med(s, "backing") or 0)
    wasm = (_med(s, "wasm") or 0) / MB
    if heap is None:
        mem = "—"
    elif d.get("memory"):
        mem = f"{_med(d, 'memory') / MB:+.1f} / {wasm:.1f}"
    else:
        mem = f"{heap / MB:.1f} / {wasm:.1f}"
    return [spread_text(s.get("ready")), spread_text(s.get("ack")), load_txt, spread_text(s.get("tbt")), cpu_txt, mem]


def _delivery_cells(res, a):
    """leave, +return, offline, away-50."""
    lv, off = res.get("leave"), res.get("offline")
    after = "—"
    if lv and lv.get("after"):
        after = f"{lv['after']['track']}/{lv['after']['identify']}"
        after += "" if lv["returns"] == lv["visits"] else f" of {lv['returns']}"
    offline = "—"
    if off:
        last = off["last_after_online_s"]
        offline = f"{off['delivered']}" + ("" if last is None else f" ({last:.1f} s)")
    return [
        f"{lv['before'].get('page', '?')}/{lv['before']['track']}/{lv['before']['identify']}" if lv else "—",
        after,
        offline,
        "—" if not a else f"{a['track']}/{a['identify']}/{a['duplicates']}",
    ]


# -- The comparison: start-up, cold and warm ---------------------------------------------------------


def startup_table(run):
    """Per row: ready, TBT and the longest task on the cold load and on the warm one (the same
    context's next page view), the long tasks of the median-ready run of each, and the tag's files
    the warm load fetched again."""
    header = ["", "ready cold", "ready warm", "TBT cold", "TBT warm", "longest cold", "longest warm"]
    header += ["long tasks cold (start, ms)", "long tasks warm", "refetched warm"]
    lines = []
    for row in run.rows:
        res = run.results.get(row.key, {})
        if row.skip or not res.get("runs"):
            lines.append(Note(row.label, row.skip or "not measured"))
            continue
        s, rs = res["summary"], res["runs"]
        cells = [row.label]
        cells += [spread_text(s.get(k)) for k in ("ready", "warm_ready", "tbt", "warm_tbt", "longest", "warm_longest")]
        cold, warm = _median_run(rs, "ready"), _median_run(rs, "warm_ready")
        cells += [_tasks_text(cold["tasks"]), _tasks_text(warm["warm_tasks"])]
        cells.append(f"{max(len(r['warm_fetched']) for r in rs)} of {max(r['requests'] for r in rs)}")
        lines.append(cells)
    return table(header, lines)


def _median_run(rs, key):
    """The run whose `key` is the median (the lower one of an even count); missing values last."""
    ordered = sorted(rs, key=lambda r: (r[key] is None, r[key] or 0))
    return ordered[(len([r for r in rs if r[key] is not None]) - 1) // 2] if rs else None


def _tasks_text(tasks):
    return " ".join(f"({s:.0f}, {d:.0f})" for s, d in tasks) or "none"


def startup_goal_lines(run):
    """The default tag's start-up against its goals: no task over 50 ms, cold and warm ready."""
    s = run.results.get("mpy", {}).get("summary")
    if not s:
        return []
    out = []
    for phase, prefix in (("cold", ""), ("warm", "warm_")):
        longest, ready = s.get(prefix + "longest"), s.get(prefix + "ready")
        if longest:
            met = "met" if longest["max"] <= LONG_TASK_MS else "NOT met"
            out.append(
                f"Default tag (mpy), {phase}: longest task {spread_text(longest)} ms, TBT "
                f"{spread_text(s.get(prefix + 'tbt'))} ms; goal no task over {LONG_TASK_MS} ms in any run: {met}"
            )
        if ready:
            goal = READY_GOAL_MS[phase]
            met = "met" if ready["median"] <= goal else "NOT met"
            out.append(f"Default tag (mpy), {phase}: ready {spread_text(ready)} ms; goal median ≤ {goal} ms: {met}")
    floor = run.results.get("floor", {}).get("summary")
    if floor and floor.get("ready") and s.get("ready"):
        out.append(
            f"MicroPython alone (the floor): ready {spread_text(floor['ready'])} cold, "
            f"{spread_text(floor.get('warm_ready'))} warm; the default tag takes "
            f"{s['ready']['median'] / floor['ready']['median']:.1f}× cold, "
            + (f"{s['warm_ready']['median'] / floor['warm_ready']['median']:.1f}× warm" if s.get("warm_ready") else "")
        )
    return out


# -- The comparison: verdicts, the machine, requests ---------------------------------------------------------


def loader_size(name="loader.js"):
    """loader.js (or inline.js) as built: (raw bytes, gzip -9 bytes); None when not built."""
    path = assets.DIST / name
    if not path.is_file():
        return None
    loader = path.read_bytes()
    return len(loader), gzip9(loader)


def load_deltas(run):
    """The default tag's and the async tag's load event vs no tag, from the paired timing runs."""
    base = run.results["none"].get("summary", {})
    out = {}
    for key in ("mpy", "mpy-async"):
        delta = run.results.get(key, {}).get("paired", {}).get("load")
        if base.get("load") and delta:
            out[key] = {
                "ms": delta["median"],
                "pct": 100 * delta["median"] / base["load"]["median"],
                "min": delta["min"],
                "max": delta["max"],
                "none_ms": base["load"]["median"],
            }
    return out


# The modules of the sessions' attribution and Page Left (issue 18), whose cost the report states.
FEATURE_MODULES = ("core/attribution", "core/engagement")


def feature_size_lines():
    """What attribution and Page Left add to the SDK the default tag downloads: their modules'
    bytecode, gzip -9 each, against all of the SDK's."""
    folder = assets.DIST / "visitrail"
    every = sorted(folder.rglob("*.mpy"))
    if not every:
        return []
    total = sum(gzip9(f.read_bytes()) for f in every)
    parts = [(m, gzip9((folder / f"{m}.mpy").read_bytes())) for m in FEATURE_MODULES if (folder / f"{m}.mpy").is_file()]
    named = ", ".join(f"{m}.mpy {size:,} B" for m, size in parts)
    added = sum(size for _, size in parts)
    return [
        f"Attribution and Page Left: {named} gzip -9, {added:,} B of the SDK's {total:,} B ({100 * added / total:.0f}%)"
    ]


def goal_lines(run):
    raw, gz = loader_size()
    met = "met" if gz <= LOADER_GOAL_B else "NOT met"
    out = [f"loader.js: {raw:,} B raw, {gz:,} B gzip -9 (goal ≤ {LOADER_GOAL_B:,} B: {met})"]
    inline = loader_size("inline.js")
    if inline:
        out.append(f"The inline snippet (inline.js, in the page's HTML): {inline[0]:,} B raw, {inline[1]:,} B gzip -9")
    out += feature_size_lines() + startup_goal_lines(run)
    return out + _load_round_lines(run.load_rounds) + _load_delta_lines(load_deltas(run))


def _load_round_lines(load_rounds):
    if not load_rounds:
        return []
    none, out = load_rounds["none"], []
    what = {
        "mpy": "the tag",
        "mpy-async": "the async tag",
        "mpy-inline": "the inline snippet",
        "empty": "an empty synchronous script",
    }
    for key in sorted(load_rounds.keys() - {"none"}):
        d = load_rounds[key]
        goal = INLINE_GOAL_PCT if key == "mpy-inline" else LOAD_GOAL_PCT
        pct = [100 * d[k] / none["median"] for k in ("median", "low", "high")]
        verdict = "met" if pct[2] <= goal else "NOT met" if pct[1] > goal else "inconclusive"
        verdict = verdict if key != "empty" else "n/a, the control"
        out.append(
            f"Load event, {d['n']} rounds of its own, {what[key]} vs no tag: "
            f"{d['median']:+.1f} ms (95% CI {d['low']:+.1f} to {d['high']:+.1f}) on {none['median']:.0f} ms = "
            f"{pct[0]:+.1f}% (CI {pct[1]:+.1f}% to {pct[2]:+.1f}%); goal within {goal}%: {verdict}"
        )
    return out


def _load_delta_lines(deltas):
    out = []
    for key, d in deltas.items():
        noisy = d["max"] - d["min"] > 2 * LOAD_GOAL_PCT / 100 * d["none_ms"]
        tag = "Default tag (mpy)" if key == "mpy" else "Async tag (mpy)"
        out.append(
            f"{tag}: page load event {d['ms']:+.0f} ms vs no tag "
            f"(median of paired runs, [{d['min']:+.0f}–{d['max']:+.0f}]; no tag: {d['none_ms']:.0f} ms) = "
            f"{d['pct']:+.1f}%; goal within {LOAD_GOAL_PCT}%: {'met' if d['pct'] <= LOAD_GOAL_PCT else 'NOT met'}"
            + (f" (inconclusive here: the rounds' differences spread more than ±{LOAD_GOAL_PCT}%)" if noisy else "")
        )
    return out


def machine_lines(run):
    cpu, usable, loads = run.cpus, run.usable, run.loads
    out = [
        f"CPUs: {cpu} ({usable} usable); 1-min load average during the timing runs {min(loads):.1f}–{max(loads):.1f}"
        f".  Run took {run.elapsed() / 60:.1f} min."
    ]
    if max(loads) > 1.5 * cpu:  # the bench itself (Chromium, the servers) accounts for about 1-2
        out.append(
            f"WARNING: the machine was busy (load average up to {max(loads):.1f} on {cpu} CPUs): times are inflated "
            "and noisy; the byte counts, CPU ms and delivery counts hold up better."
        )
    return out


CHROMIUM_SERVICES = (".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com")


def is_chromium_service(entry):
    """A guard record (not a page request) for one of Chromium's own Google service hosts: the
    browser's update, sign-in and clock requests, which the guard refused (nothing left the machine)."""
    if not entry.startswith(("CONNECT ", "GET ", "POST ", "HEAD ")):
        return False
    host = urlsplit(entry.split(" ", 1)[1]).hostname or ""
    return any(host.endswith(s) or host == s[1:] for s in CHROMIUM_SERVICES)


def page_leaks(run):
    """What tried to leave 127.0.0.1 from a page: it fails the run."""
    return [x for x in run.leaks if not is_chromium_service(x)]


def request_lines(run):
    out = []
    own = [x for x in run.leaks if is_chromium_service(x)]
    if own:
        hosts = sorted({urlsplit(x.split(" ", 1)[-1]).hostname or x for x in own})
        out.append(
            f"Chromium's own service requests refused by the guard (not from any page): {len(own)} ({', '.join(hosts)})"
        )
    bad = Counter(
        b.split(" -> ")[0].split("?")[0] + " -> " + b.split(" -> ")[1]
        for r in run.results.values()
        for one in r.get("runs", [])
        for b in one["bad"]
    )
    if bad:
        out.append(
            "Failed or refused requests during the timing runs: "
            + "; ".join(f"{n}× {b}" for b, n in bad.most_common(6))
        )
    if run.refused:
        common = run.refused.most_common(5)
        out.append("Requests an endpoint refused: " + "; ".join(f"{n}× {s} {p} {st}" for (s, p, st), n in common))
    if run.unreadable:
        first = run.unreadable[0]
        out.append(
            f"Acknowledged requests whose body the bench could not read: {len(run.unreadable)} "
            f"(e.g. {first.path}: {first.error})"
        )
    return out


# -- The comparison: the legend ---------------------------------------------------------------------------------

LEGEND_ROWS = [
    (
        "KB raw / KB gz-9",
        "bodies of every GET the tag caused, as served here (uncompressed) / gzip -9 of those files (computed)",
    ),
    ("req", "those GETs"),
    ("ready", "navigation start → the SDK's ready callback (Visitrail, Segment: ready(); PostHog: loaded)"),
    ("1st ack", "navigation start → end of the first response to a request carrying an event"),
    ("load", "the page's load event (Δ vs no tag)"),
    ("TBT", "long tasks' time over 50 ms, first 5 s or until ready if later"),
    (
        "CPU ms",
        "CPU time of the page's main thread until the end of that window, Δ vs no tag (CDP ThreadTime; "
        "the whole renderer's, ProcessTime, is in the JSON)",
    ),
    ("heap+AB / wasm", "MB: JS heap + ArrayBuffers after a GC, Δ vs no tag (no tag: absolute) / WebAssembly memory"),
    (
        "leave p/t/i /{visits}",
        "visits whose page view / track / identify was acknowledged, when the page calls identify + track "
        "and sets location.href to another origin in the same task (Segment, PostHog: their async snippet; "
        "the page view is the one each SDK makes by itself)",
    ),
    (
        "+return",
        "Visitrail: the same for the first {returns} visitors, after each came back to the site (the boot "
        "replays the saved calls)",
    ),
    ("offline /{offline}", "tracks made offline that arrived within 30 s of going online (when the last did)"),
    (
        "away /{away}",
        "same-task navigate-away, no return: tracks / identifies delivered / duplicates (a message "
        "acknowledged twice; Visitrail's collector stores it once)",
    ),
]


def legend(**values):
    out = [
        "Columns (medians [min–max]; Δ and +/− = minus the page without a tag in the same round, median over rounds):"
    ]
    for name, text in LEGEND_ROWS:
        first = f"  {name.format(**values):<18}"
        out.append(textwrap.fill(text.format(**values), 118, initial_indent=first, subsequent_indent=" " * 20))
    return "\n".join(out)


# -- The comparison: all of it -------------------------------------------------------------------------------------


def intro(run):
    args = run.args
    return (
        f"bench: {run.cpus} CPUs ({run.usable} usable); {args.runs} runs per row, {args.visits} navigate-away visits, "
        f"{args.away_visits} away-50 visits"
    )


def comparison_text(run):
    """Everything the comparison prints once it has run, in order."""
    args = run.args
    title = (
        f"Visitrail bench — {datetime.date.today()} — Chromium {run.chromium}, {run.cpus} CPUs — "
        f"median [min–max] of {args.runs} cold loads; article page ~0.6 MB; all on 127.0.0.1"
    )
    returns = min(args.visits, args.return_visits)
    key = legend(visits=args.visits, offline=args.offline_events, away=args.away_visits, returns=returns)
    lines = ["", title, "", comparison_table(run), ""]
    lines += ["Start-up, cold (a fresh context) and warm (its next page view, from the cache), median [min–max]:"]
    lines += [startup_table(run), ""]
    return "\n".join(lines + goal_lines(run) + machine_lines(run) + [key] + request_lines(run))


def comparison_json(run):
    raw, gz = loader_size()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "chromium": run.chromium,
        "cpus": run.cpus,
        "cpus_usable": run.usable,
        "load_average": run.loads,
        "args": vars(run.args),
        "elapsed_s": run.elapsed(),
        "loader": {"raw": raw, "gzip9": gz},
        "inline": loader_size("inline.js"),
        "load_delta": load_deltas(run),
        "load_rounds": run.load_rounds,
        "rows": {r.key: {"label": r.label, "skip": r.skip, **run.results.get(r.key, {})} for r in run.rows},
        "away50": run.away,
        "chromium_own_requests": [x for x in run.leaks if is_chromium_service(x)],
        "leaks": page_leaks(run),
        "table": comparison_table(run),
        "startup": startup_table(run),
    }
