"""Visitrail's benchmarks: figures, not tests. Run from the repository root, one command each:

    .venv/bin/python -m bench            the tag beside Segment, PostHog and Plausible: cost to the page, delivery
    .venv/bin/python -m bench.runtimes   per runtime: bytes, ready, first stored event (--waterfall: each file)
    .venv/bin/python -m bench.ingest     the collector: events/s per storage backend, the raw ceiling, lookups

The modules, one job each:

    __main__.py  runtimes.py  ingest.py   the three commands: their arguments, then their steps
    env.py        anchors, web/dist/, and the comparison's servers and Chromium, started together
    servers.py    the comparison's hub (files, endpoints), site, "another site", and the guard
    recorder.py   what reached the endpoints, read from each SDK's body format
    pages.py      the comparison's article page with each tag (bench/html/: bench.runtimes' pages)
    rows.py       what the comparison compares: its rows, the away-50 variants, the load control
    steps.py      the comparison's steps (timing, load, leave, offline, away) and their results
    measure.py    one page in a fresh browser context: a timing run, a load round, offline, a cold load
    visits.py     navigate-away visits, many at a time, and what they delivered
    workload.py   bench.ingest's seeded events
    clients.py    bench.ingest's HTTP clients: batches from threads, lookups
    databases.py  bench.ingest's PostgreSQL, the bare-table ceiling, row counts
    stats.py      medians and spreads, paired differences, bootstrap intervals, percentiles
    sizes.py      gzip -9 of bodies, of web/dist/ files, of fetched URLs
    machine.py    CPUs, load average, a process's CPU time
    report.py     tables, number formats, JSON; the comparison's table, verdicts and legend
"""
