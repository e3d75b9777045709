"""The pages the benchmark loads: one article-like page, with each tag or none.

    /<sdk>.html?mode=...&visit=...&case=...[&rt=py][&load=sync]
    sdk   none | visitrail | segment | posthog | plausible | floor (MicroPython alone, as the mpy
          tag starts it: its loader and wasm from web/dist/ after `load`, one runPython, no SDK)
    mode  timing   identify + track at the top of the page (the SDKs' own page view too)
          leave    the same, then `location.href = <another origin>` in the same task
          return   Visitrail only: no calls (the visitor is back; the boot replays saved calls)
    rt    Visitrail's data-runtime (absent: the default tag, `mpy`)
    load  Segment and PostHog: `snippet` (default: their documented async snippet, the library
          arrives later) or `sync` (a blocking <script src> of the same file, so the library is
          there when the calls are made); Visitrail: `async` (README's one-line snippet, then the
          tag with `async`), `inline` (the inline snippet, web/dist/inline.js, which fetches
          loader.js after `load`), else the default synchronous tag; none: `empty` (an empty
          synchronous script from another local origin, the control of the load-event rounds)

Every page gets window.bench = {ready} (ms since navigation start, set by the SDK's ready
callback) and window.benchTrack(name, props) for the offline test. The article itself (text, one
stylesheet, three images, about 0.6 MB) is served by the site, so the tag competes with a page
that has something to load.
"""

import json
import random
import struct
import zlib
from html import escape

from visitrail.collector import assets
from visitrail.collector.snippet import inline_element

WRITE_KEY = "bench-key"
POSTHOG_TOKEN = "phc_bench"

WORDS = [
    "visitor",
    "session",
    "event",
    "tag",
    "page",
    "script",
    "analytics",
    "network",
    "main",
    "thread",
    "runtime",
    "browser",
    "load",
    "parse",
    "compile",
    "queue",
    "beacon",
    "storage",
    "identity",
    "collector",
    "batch",
    "retry",
    "offline",
]


def _png(width, height, seed):
    """A noisy RGB PNG (so it does not compress away): the article's images."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")


def _article(seed=7):
    rng = random.Random(seed)
    parts = []
    for i in range(48):
        if i % 12 == 0:
            parts.append(f"<h2>Section {i // 12 + 1}</h2>")
        if i % 16 == 5:
            parts.append(f'<img src="/img/{i // 16}.png" width="240" height="160" alt="">')
        words = " ".join(rng.choice(WORDS) for _ in range(90))
        parts.append(f"<p>{words.capitalize()}.</p>")
    return "\n".join(parts)


STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "h1,h2{line-height:1.2}img{display:block;margin:1rem 0;background:#eee}p{margin:.8rem 0}"
    + "".join(f".c{i}{{color:#{i * 37 % 256:02x}{i * 91 % 256:02x}{i * 53 % 256:02x}}}" for i in range(400))
)

ASSETS = {
    "/style.css": ("text/css", STYLE.encode()),
    **{f"/img/{i}.png": ("image/png", _png(240, 160, i)) for i in range(3)},
}
ARTICLE = _article()


def segment_snippet(hub, load):
    """Segment's snippet 5.2 as documented, with `_cdn` pointed at the local "CDN" (their
    documented way to self-host), and no `analytics.load()` script when the page loads it itself."""
    loader = (
        'analytics.load=function(key,n){var t=document.createElement("script");t.type="text/javascript";t.async=!0;'
        't.setAttribute("data-global-segment-analytics-key",i);'
        't.src=analytics._cdn+"/analytics.js/v1/"+key+"/analytics.min.js";'
        'var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(t,r);analytics._loadOptions=n};'
    )
    call_load = f'analytics.load("{WRITE_KEY}");' if load == "snippet" else "analytics._loadOptions={};"
    return (
        '!function(){var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize)'
        'if(analytics.invoked)window.console&&console.error&&console.error("Segment snippet included twice.");'
        'else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview",'
        '"identify","reset","group","track","ready","alias","debug","page","screen","once","off","on",'
        '"addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware","register"];'
        "analytics.factory=function(e){return function(){if(window[i].initialized)"
        "return window[i][e].apply(window[i],arguments);"
        'var n=Array.prototype.slice.call(arguments);if(["track","screen","alias","group","page","identify"]'
        ".indexOf(e)>-1){var c=document.querySelector(\"link[rel='canonical']\");"
        'n.push({__t:"bpc",c:c&&c.getAttribute("href")||void 0,'
        "p:location.pathname,u:location.href,s:location.search,t:document.title,r:document.referrer})}"
        "n.unshift(e);analytics.push(n);return analytics}};for(var n=0;n<analytics.methods.length;n++)"
        "{var key=analytics.methods[n];analytics[key]=analytics.factory(key)}"
        + loader
        + f'analytics._writeKey="{WRITE_KEY}";analytics._cdn="{hub}/seg";analytics.SNIPPET_VERSION="5.2.1";'
        + call_load
        + "analytics.page();}}();"
    )


POSTHOG_SNIPPET = (
    "!function(t,e){var o,n,p,r;e.__SV||(window.posthog&&window.posthog.__loaded)||(window.posthog=e,e._i=[],"
    'e.init=function(i,s,a){function g(t,e){var o=e.split(".");2==o.length&&(t=t[o[0]],e=o[1]),'
    "t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}}"
    '(p=t.createElement("script")).type="text/javascript",p.crossOrigin="anonymous",p.async=!0,'
    'p.src=s.api_host.replace(".i.posthog.com","-assets.i.posthog.com")+"/static/array.js",'
    '(r=t.getElementsByTagName("script")[0]).parentNode.insertBefore(p,r);var u=e;'
    'for(void 0!==a?u=e[a]=[]:a="posthog",u.people=u.people||[],u.toString=function(t){var e="posthog";'
    'return"posthog"!==a&&(e+="."+a),t||(e+=" (stub)"),e},'
    'u.people.toString=function(){return u.toString(1)+".people (stub)"},'
    'o="init capture register register_once register_for_session unregister unregister_for_session getFeatureFlag '
    "getFeatureFlagPayload isFeatureEnabled reloadFeatureFlags updateEarlyAccessFeatureEnrollment "
    "getEarlyAccessFeatures "
    "on onFeatureFlags onSurveysLoaded onSessionId getSurveys getActiveMatchingSurveys renderSurvey canRenderSurvey "
    "identify setPersonProperties group resetGroups setPersonPropertiesForFlags resetPersonPropertiesForFlags "
    "setGroupPropertiesForFlags resetGroupPropertiesForFlags reset get_distinct_id getGroups get_session_id "
    "get_session_replay_url alias set_config startSessionRecording stopSessionRecording sessionRecordingStarted "
    "captureException loadToolbar get_property getSessionProperty createPersonProfile opt_in_capturing "
    "opt_out_capturing has_opted_in_capturing has_opted_out_capturing clear_opt_in_out_capturing debug getPageViewId"
    '".split(" "),n=0;n<o.length;n++)g(u,o[n]);e._i.push([i,s,a])},e.__SV=1)}(document,window.posthog||[]);'
)


# window.analytics (Visitrail's and Segment's): the ready time, and the offline part's track.
ANALYTICS_HOOKS = (
    "analytics.ready(function(){bench.ready=performance.now()});window.benchTrack=function(n,p){analytics.track(n,p)};"
)

# README.md's snippet for an async tag.
VISITRAIL_SNIPPET = (
    'window.analytics=window.analytics||[];["identify","track","page","group","alias","reset","ready"].forEach('
    "function(m){analytics[m]=analytics[m]||function(){analytics.push([m,[].slice.call(arguments),Date.now()])}})"
)


def render(urls):
    """A render(path, query) for servers.Site; urls: assets (Visitrail's web/dist/), hub, away."""

    def page(path, query):
        if path in ASSETS:
            return ASSETS[path]
        tag = TAGS.get(path.strip("/").removesuffix(".html"))
        if tag is None:
            return None
        visit = Visit({k: v[0] for k, v in query.items()}, urls)
        head, calls = tag(visit)
        script = f"<script>{calls}</script>" if calls else ""
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<title>An article</title>\n<link rel="icon" href="data:,">\n'
            '<link rel="stylesheet" href="/style.css">\n'
            "<script>window.bench={};</script>\n" + "\n".join(head) + "\n" + script + "\n</head>\n"
            "<body>\n<h1>An article</h1>\n" + ARTICLE + "\n</body>\n</html>\n"
        )

    return page


class Visit:
    """One page request's query, and what the page's calls say (as JavaScript literals)."""

    def __init__(self, q, urls):
        self.q, self.hub, self.assets = q, urls["hub"], urls["assets"]
        mode, visit, case = q.get("mode", "timing"), q.get("visit", "0"), q.get("case", "timing")
        self.mode, self.load = mode, q.get("load", "snippet")
        self.uid = json.dumps(f"{case}-{visit}")
        self.traits = json.dumps({"plan": "pro", "visit": visit, "case": case})
        self.props = json.dumps({"visit": visit, "case": case})
        self.leave = f"location.href={json.dumps(urls['away'] + '/away.html')};" if mode == "leave" else ""


def no_tag(v):
    head = [f'<script src="{v.hub}/empty.js"></script>'] if v.load == "empty" else []
    return head, v.leave


def visitrail_tag(v):
    runtime = f' data-runtime="{escape(v.q["rt"])}"' if v.q.get("rt") else ""
    data = f'data-write-key="{WRITE_KEY}" data-endpoint="{v.hub}/vt"{runtime}'
    if v.load == "inline":
        attributes = {"write-key": WRITE_KEY, "endpoint": v.hub + "/vt"}
        if v.q.get("rt"):
            attributes["runtime"] = v.q["rt"]
        head = [inline_element(assets.DIST, v.assets + "/loader.js", attributes)[0]]
    else:
        head = ["<script>" + VISITRAIL_SNIPPET + "</script>"] if v.load == "async" else []
        head.append(f'<script{" async" if v.load == "async" else ""} src="{v.assets}/loader.js" {data}></script>')
    calls = ANALYTICS_HOOKS
    if v.mode != "return":
        calls += f"analytics.identify({v.uid},{v.traits});analytics.track('Bench Track',{v.props});" + v.leave
    return head, calls


def segment_tag(v):
    head = ["<script>" + segment_snippet(v.hub, v.load) + "</script>"]
    if v.load == "sync":
        head.append(f'<script src="{v.hub}/seg/analytics.js/v1/{WRITE_KEY}/analytics.min.js"></script>')
    calls = (
        ANALYTICS_HOOKS + f"analytics.identify({v.uid},{v.traits});analytics.track('Bench Track',{v.props});" + v.leave
    )
    return head, calls


def posthog_tag(v):
    if v.load == "sync":
        head = [f'<script src="{v.hub}/ph/static/array.js"></script>']
    else:
        head = ["<script>" + POSTHOG_SNIPPET + "</script>"]
    config = (
        f"{{api_host:{json.dumps(v.hub + '/ph')},defaults:'2025-11-30',person_profiles:'identified_only',"
        "loaded:function(){bench.ready=performance.now()}}"
    )
    calls = (
        f"posthog.init({json.dumps(POSTHOG_TOKEN)},{config});"
        "window.benchTrack=function(n,p){posthog.capture(n,p)};"
        f"posthog.identify({v.uid},{v.traits});posthog.capture('Bench Track',{v.props});" + v.leave
    )
    return head, calls


def plausible_tag(v):
    module = (
        f"import {{init, track}} from {json.dumps(v.hub + '/plausible/plausible.js')};"
        f"init({{domain:'bench.test',endpoint:{json.dumps(v.hub + '/plausible/api/event')},"
        "captureOnLocalhost:true,logging:false});"
        "bench.ready=performance.now();"
        "window.benchTrack=function(n,p){track(n,{props:p})};"
        f"track('Bench Track',{{props:{v.props}}});" + v.leave
    )
    return [f'<script type="module">{module}</script>'], ""


def floor_tag(v):
    mpy = json.dumps(v.assets + "/micropython/micropython")
    start = (
        f"addEventListener('load',()=>import({mpy}+'.mjs').then(m=>m.loadMicroPython({{url:{mpy}+'.wasm'}}))"
        ".then(py=>{py.runPython('x = 1');bench.ready=performance.now()}))"
    )
    return [f"<script>{start}</script>"], ""


# Each tag: (the <head> scripts, the page's own calls).
TAGS = {
    "none": no_tag,
    "visitrail": visitrail_tag,
    "segment": segment_tag,
    "posthog": posthog_tag,
    "plausible": plausible_tag,
    "floor": floor_tag,
}
