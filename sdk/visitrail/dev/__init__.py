"""The development harness, shared by tests/ and bench/ (and not in the wheel): a throwaway
PostgreSQL server, Chromium's launch flags, and a client of the collector's read API.

The collector in a subprocess and the static site of page templates are the demo's own
(visitrail.collector.demo.process, .site); where the built assets live is
visitrail.collector.assets.
"""
