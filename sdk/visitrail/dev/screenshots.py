"""The README's screenshots of the dashboard: a collector on a free port, filled with two months of
made-up but plausible traffic, photographed by Debian's Chromium.

    python -m visitrail.dev.screenshots OUTDIR      writes OUTDIR/overview.png and OUTDIR/profile.png

The traffic goes through the tracking API as the SDK sends it (sessions, page views, Page Left with
engaged time, campaigns, referrers, identifies, a second device that merges, bots), so the pages
show what a collector would; it is seeded, so a run at the same moment draws the same pages.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import math
import pathlib
import random
import secrets
import sys
import tempfile
import typing
import uuid

import httpx

from visitrail.collector.demo.process import CollectorProcess
from visitrail.collector.timestamps import format_timestamp
from visitrail.dev.chromium import launch_args

__all__ = ["main", "demo_traffic", "STAR"]

WRITE_KEY = "demo-key"
SITE = "https://shop.example"
WIDTH = 1200  # the README shows them at this width; PNGs stay small
DAYS = 60  # the 30 days shown and the 30 they are compared with
STAR = "ana@shop.example"  # the identified user whose profile is photographed
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
PAGES = {  # path: how often a visit lands there
    "/": 30, "/pricing": 12, "/docs/getting-started": 10, "/blog/identity-resolution": 9,
    "/blog/sessions-that-answer": 7, "/features/sessions": 6, "/docs/api": 5, "/changelog": 3,
}  # fmt: skip
NEXT = ["/pricing", "/docs/getting-started", "/signup", "/features/sessions", "/docs/api", "/"]
# (referrer, campaign, weight): where visits come from
SOURCES: tuple[tuple[str | None, dict[str, str] | None, int], ...] = (
    ("https://www.google.com/", None, 34),
    (None, None, 22),
    ("https://news.ycombinator.com/", None, 8),
    ("https://github.com/visitrail/visitrail", None, 7),
    ("https://duckduckgo.com/", None, 5),
    ("https://www.reddit.com/r/Python/", None, 4),
    ("https://t.co/x1y2z3", {"source": "twitter", "medium": "social", "name": "launch"}, 4),
    (None, {"source": "newsletter", "medium": "email", "name": "november"}, 8),
    ("https://www.linkedin.com/", {"source": "linkedin", "medium": "social", "name": "launch"}, 3),
    ("https://www.producthunt.com/", {"source": "producthunt", "medium": "referral"}, 2),
    ("https://www.bing.com/", None, 3),
)


def _iso(moment: datetime.datetime) -> str:
    return format_timestamp(moment)


def _engaged(rng: random.Random) -> int:
    """Milliseconds a page was visible and focused: most visits are short, a few are long."""
    return int(min(rng.lognormvariate(math.log(14_000), 1.25), 20 * 60_000))


def _session(
    rng: random.Random,
    start: datetime.datetime,
    anonymous_id: str,
    *,
    user_id: str | None = None,
    traits: dict[str, typing.Any] | None = None,
    bot: str | None = None,
    automation: bool = False,
    source: int | None = None,
    now: datetime.datetime,
) -> list[dict[str, typing.Any]]:
    """One visit's events, in the wire format of the browser SDK; `source`: SOURCES[source]'s, else
    drawn; `automation`: a browser driven by a test tool (navigator.webdriver)."""
    landing = rng.choices(list(PAGES), weights=list(PAGES.values()))[0]
    drawn = rng.choices(SOURCES, weights=[s[2] for s in SOURCES])[0]
    referrer, campaign, _ = drawn if source is None else SOURCES[source]
    if bot:
        referrer, campaign = None, None
    query = ""
    if campaign:
        query = "?" + "&".join(f"utm_{'campaign' if k == 'name' else k}={v}" for k, v in campaign.items())
    entry = {"url": SITE + landing + query, "referrer": referrer or ""}
    session = str(uuid.UUID(int=rng.getrandbits(128)))
    pages = [landing]
    if not bot:
        while len(pages) < 6 and rng.random() < (0.55 if len(pages) == 1 else 0.4):
            pages.append(rng.choice([p for p in NEXT if p != pages[-1]]))
    events: list[dict[str, typing.Any]] = []
    moment = start

    def add(type: str, path: str, **fields: typing.Any) -> None:
        context: dict[str, typing.Any] = {
            "sessionId": session,
            "page": {"url": SITE + path + (query if path == landing else ""), "path": path,
                     "referrer": referrer or ""},
            "sessionEntry": entry,
            "userAgent": bot or CHROME,
        }  # fmt: skip
        if campaign:
            context["campaign"] = campaign
        if automation:
            context["automation"] = True
        message = {"type": type, "messageId": str(uuid.UUID(int=rng.getrandbits(128))), "anonymousId": anonymous_id,
                   "timestamp": _iso(min(moment, now)), "context": context, **fields}  # fmt: skip
        if user_id is not None and type != "page":
            message["userId"] = user_id
        events.append(message)

    for n, path in enumerate(pages):
        add("page", path, name=path)
        if n == 0 and user_id is not None:
            moment += datetime.timedelta(seconds=4)
            add("identify", path, traits=traits or {})
        if bot:
            continue
        engaged = _engaged(rng) if (n or len(pages) > 1 or rng.random() < 0.55) else rng.randint(800, 9000)
        moment += datetime.timedelta(milliseconds=engaged * rng.uniform(1.05, 1.6))
        if moment > now:
            break
        add("track", path, event="Page Left", properties={"engagedMs": engaged, "scrollDepth": rng.randint(10, 100),
                                                          "path": path, "url": SITE + path})  # fmt: skip
        if path == "/signup" and user_id is None and rng.random() < 0.5:
            add("track", path, event="Signed Up")
    return events


def demo_traffic(now: datetime.datetime, seed: int = 18) -> list[dict[str, typing.Any]]:
    """DAYS days of a small product site's visits up to `now`, growing slowly, quieter at weekends,
    with a launch spike, returning visitors, identified users on two devices and a few bots."""
    rng = random.Random(seed)
    today = datetime.datetime(now.year, now.month, now.day, tzinfo=datetime.UTC)
    visitors = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(2500)]
    users: dict[str, tuple[str, dict[str, typing.Any]]] = {}  # anonymousId: (userId, traits)
    names = ["ana", "ben", "chidi", "dana", "emil", "farah", "goran", "hana", "ivo", "jun", "kira", "lev"]
    for n, anonymous_id in enumerate(rng.sample(visitors, 160)):
        name = names[n % len(names)] + ("" if n < len(names) else str(n))
        plan = rng.choice(["free", "free", "team", "pro"])
        users[anonymous_id] = (f"{name}@shop.example", {"email": f"{name}@shop.example", "plan": plan})
    # The star's phone and laptop: two anonymous IDs, one person (not in the pool: her visits are hers).
    star_devices = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(2)]
    for anonymous_id in star_devices:
        users[anonymous_id] = (STAR, {"email": STAR, "name": "Ana Lima", "plan": "team"})
    messages: list[dict[str, typing.Any]] = []
    for back in range(DAYS - 1, -1, -1):
        day = today - datetime.timedelta(days=back)
        weekday = day.weekday()
        base = 34 + 0.5 * (DAYS - back)  # a site that grows
        count = int(base * (0.62 if weekday >= 5 else 1.0) * rng.uniform(0.85, 1.15))
        if back == 9:
            count *= 3  # the launch day
        for _ in range(count):
            start = day + datetime.timedelta(seconds=rng.uniform(0, 86_400) if back else rng.uniform(0, 1) * (
                now - today).total_seconds())  # fmt: skip
            if start > now:
                continue
            if rng.random() < 0.04:
                bot = rng.choice(BOTS)
                messages += _session(rng, start, str(uuid.UUID(int=rng.getrandbits(128))), bot=bot, now=now)
                continue
            # Returning visitors: the first IDs of the pool come back most often.
            anonymous_id = visitors[min(int(rng.paretovariate(0.9)) - 1 + rng.randrange(40), len(visitors) - 1)]
            anonymous_id = anonymous_id if rng.random() < 0.45 else rng.choice(visitors)
            user_id, traits = users.get(anonymous_id, (None, None))
            messages += _session(rng, start, anonymous_id, user_id=user_id, traits=traits, now=now)
    # The star's own visits, a few days apart: first from the newsletter (her first-touch traits),
    # then search, Hacker News, direct; once her laptop ran a browser test (a bot's session).
    visits = [(0, 27, 7, None), (1, 20, 0, None), (0, 14, 2, None), (1, 9, 1, None), (0, 6, 0, None),
              (0, 3, 3, "automation"), (1, 1, 0, None), (0, 0, 0, None)]  # fmt: skip
    for device, back, source, flag in visits:
        start = today - datetime.timedelta(days=back) + datetime.timedelta(hours=8 + 4 * device, minutes=13 * back)
        start = min(start, now - datetime.timedelta(minutes=20))
        traits = users[star_devices[device]][1]
        messages += _session(rng, start, star_devices[device], user_id=STAR, traits=traits, source=source,
                             automation=flag is not None, now=now)  # fmt: skip
    return messages


def send(url: str, messages: list[dict[str, typing.Any]]) -> None:
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    with httpx.Client(base_url=url, headers={"Authorization": auth}, timeout=60) as http:
        for start in range(0, len(messages), 500):
            response = http.post("/v1/batch", json={"batch": messages[start : start + 500]})
            response.raise_for_status()


def photograph(url: str, token: str, out: pathlib.Path) -> list[pathlib.Path]:
    from playwright.sync_api import FloatRect, sync_playwright

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        star = http.get("/api/profiles/lookup", params={"userId": STAR}).raise_for_status().json()
    shots = [(out / "overview.png", "/?range=30d", None), (out / "profile.png", f"/profiles/{star['profileId']}", 1280)]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_args())
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900}, device_scale_factor=1)
            page.goto(url + "/login")
            page.fill("#login input[name=token]", token)
            page.click("#login button[type=submit]")
            page.wait_for_selector("#totals")
            for path, where, most in shots:
                page.goto(url + where)
                height = page.evaluate("document.documentElement.scrollHeight")
                clip: FloatRect = {"x": 0, "y": 0, "width": WIDTH, "height": min(height, most or height)}
                page.screenshot(path=str(path), full_page=True, clip=clip)
        finally:
            browser.close()
    return [path for path, _, _ in shots]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m visitrail.dev.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("outdir", type=pathlib.Path, help="where to write overview.png and profile.png")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)  # hex: a token starting with "-" would read as an option
    with tempfile.TemporaryDirectory() as tmp:
        collector = CollectorProcess(
            f"sqlite:///{tmp}/screenshots.db", token, SITE, write_key=WRITE_KEY, extra_args=["--rate-limit", "0"]
        )
        url = collector.start()
        try:
            now = datetime.datetime.now(datetime.UTC)
            send(url, demo_traffic(now))
            for path in photograph(url, token, args.outdir):
                print(path)
        finally:
            collector.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
