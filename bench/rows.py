"""What the comparison measures: its rows (the page with no tag, each Visitrail runtime and tag,
each anchor SDK), the away-50 variants, and the load rounds' control."""

from visitrail.collector import assets

from .env import runtime_built


class Row:
    """key: --only's name; sdk: the page (pages.py); rt: Visitrail's runtime; load: how the tag loads."""

    def __init__(self, key, label, sdk, rt=None, load=None):
        self.key, self.label, self.sdk, self.rt, self.load = key, label, sdk, rt, load
        self.skip = None  # why it was not measured

    @property
    def ready(self):
        """Whether its page says when it is ready (window.bench.ready)."""
        return self.sdk != "none"

    @property
    def sends(self):
        """Whether its page sends events: it has delivery figures (leave, offline, ack)."""
        return self.sdk not in ("none", "floor")

    def query(self, **extra):
        """The page's query for this row, with `extra` (mode, visit, case)."""
        q = dict(extra)
        if self.rt:
            q["rt"] = self.rt
        if self.load:
            q["load"] = self.load
        return q


def all_rows():
    return [
        Row("none", "No tag", "none"),
        Row("mpy", "Visitrail mpy", "visitrail"),
        Row("mpy-async", "Visitrail mpy, async tag", "visitrail", load="async"),
        Row("mpy-inline", "Visitrail mpy, inline snippet", "visitrail", load="inline"),
        Row("py", "Visitrail py", "visitrail", rt="py"),
        Row("brython", "Visitrail brython", "visitrail", rt="brython"),
        Row("segment", "analytics-next", "segment"),
        Row("posthog", "PostHog", "posthog"),
        Row("floor", "MicroPython alone (the floor)", "floor"),
    ]


def select(only):
    """Every row, those not measured with the reason; `only`: the keys chosen (None: all). The
    page without a tag is always measured: the others' differences are taken from it."""
    rows = all_rows()
    for row in rows:
        if only and row.key not in only and row.key != "none":
            row.skip = "not selected"
        elif row.sdk in ("visitrail", "floor") and not runtime_built(row.rt or "mpy"):
            row.skip = "not built (web/dist/ lacks its files)"
        elif row.load == "inline" and not (assets.DIST / "inline.js").is_file():
            row.skip = "not built (web/dist/ lacks inline.js)"
    return rows


# What any blocking <script src> costs the page: the load rounds' control.
EMPTY_SCRIPT = Row("empty", "empty synchronous script", "none", load="empty")
LOAD_ROUND_KEYS = ("none", "mpy", "mpy-async", "mpy-inline")

# The away-50 case, each SDK with its async snippet and with its library loaded by a blocking
# <script>, and Plausible's npm tracker.
AWAY_ROWS = [
    Row("mpy", "Visitrail mpy", "visitrail"),
    Row("segment", "analytics-next", "segment", load="snippet"),
    Row("segment-sync", "analytics-next, blocking <script>", "segment", load="sync"),
    Row("posthog", "PostHog", "posthog", load="snippet"),
    Row("posthog-sync", "PostHog, blocking <script>", "posthog", load="sync"),
    Row("plausible", "Plausible (npm tracker)", "plausible"),
]


def away_selected(row, only):
    """Whether an away-50 variant runs: its SDK's row was chosen (Plausible: always)."""
    if row.key == "mpy" and not runtime_built("mpy"):
        return False
    return not only or row.key.split("-")[0] in only or row.key == "plausible"


def away_only(away):
    """The away-50 variants that were measured and are not rows of their own, as table rows."""
    return [
        Row(r.key, r.label, None) for r in AWAY_ROWS if r.key in away and r.key not in ("mpy", "segment", "posthog")
    ]
