"""Attribution: the campaign of a session's entry page (utm_* and click IDs, Segment's
context.campaign), kept in the session record and carried by every event of the session; and
context.automation. Plain asserts: these run on MicroPython too."""

import json

from support import MINUTE, deliver, options, tab

from visitrail.core import attribution
from visitrail.core.client import Client
from visitrail.core.sessions import SESSION_KEY
from visitrail.memory import MemoryPlatform, World

SITE = "https://www.example.com"
LANDING = (
    SITE + "/pricing?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=a+b"
    "&utm_content=hero&gclid=G1&gbraid=GB&wbraid=WB&fbclid=F1&msclkid=M1&ttclid=T1&li_fat_id=L1&twclid=X1"
)
EXPECTED = {
    "name": "spring sale",
    "source": "news",
    "medium": "email",
    "term": "a b",
    "content": "hero",
    "gclid": "G1",
    "gbraid": "GB",
    "wbraid": "WB",
    "fbclid": "F1",
    "msclkid": "M1",
    "ttclid": "T1",
    "li_fat_id": "L1",
    "twclid": "X1",
}


def page(url, referrer=""):
    path = url.split("://", 1)[1].split("/", 1)[1] if "/" in url.split("://", 1)[1] else ""
    return {
        "path": "/" + path.split("?")[0],
        "url": url,
        "title": "T",
        "referrer": referrer,
        "search": ("?" + url.split("?", 1)[1]) if "?" in url else "",
    }


def visit(world=None, url=LANDING, referrer="https://news.example.org/", **extra):
    world = world or World()
    p = MemoryPlatform(world, page=page(url, referrer))
    c = Client(p, options(**extra))
    c.start()
    return c, p, world


def test_the_campaign_of_a_url_is_segments_with_the_click_ids_under_their_own_names():
    assert attribution.campaign(page(LANDING)) == EXPECTED
    assert attribution.campaign({"search": "?utm_source=only"}) == {"source": "only"}
    assert attribution.campaign(page(SITE + "/plain")) == {}


def test_odd_queries_give_what_can_be_read_and_never_fail():
    odd = page(
        SITE + "/?UTM_SOURCE=Upper&utm_medium=&utm_campaign=%E2%82%AC%20off&utm_term=%zz%&utm_content=%FF"
        "&gclid=first&gclid=second&&=x&utm_name=nope&fbclid=" + "f" * 900 + "#utm_source=fragment"
    )
    got = attribution.campaign(odd)
    assert got["source"] == "Upper"  # names in any case
    assert "medium" not in got  # empty: no value
    assert got["name"] == "\u20ac off"  # UTF-8, percent-encoded
    assert got["term"] == "%zz%"  # not an escape: kept as it is
    assert got["content"] == "%FF"  # not UTF-8 once decoded: kept as it is
    assert got["gclid"] == "first"  # the first occurrence wins
    assert len(got["fbclid"]) == attribution.MAX_VALUE_CHARS
    assert set(got) == {"source", "name", "term", "content", "gclid", "fbclid"}
    for bad in (None, 3, "text", {"url": 5}, {"url": "?"}, {"url": "http://x/?%"}, {"search": "?utm_source=%"}):
        assert attribution.campaign(bad) == ({"source": "%"} if isinstance(bad, dict) and "search" in bad else {})


def test_every_event_of_the_session_carries_the_entry_pages_campaign_and_entry():
    w = World()
    c, p, _ = visit(w)
    c.call("track", ["On the landing page"])
    # A later page of the same session, without the parameters.
    p.current_page = page(SITE + "/signup", LANDING)
    w.advance(5 * MINUTE)
    c.call("page", [])
    c.call("identify", ["u1"])
    c.call("track", ["Signed up"])
    events = deliver(w)
    assert len(events) == 4 and len({e["context"]["sessionId"] for e in events}) == 1
    for e in events:
        assert e["context"]["campaign"] == EXPECTED
        assert e["context"]["sessionEntry"] == {"url": LANDING, "referrer": "https://news.example.org/"}
    assert events[1]["context"]["page"]["url"] == SITE + "/signup"  # the page is the page's own
    record = json.loads(w.local[SESSION_KEY])
    assert record["v"] == 2
    assert record["entryUrl"] == LANDING and record["entryReferrer"] == "https://news.example.org/"
    assert record["campaign"] == EXPECTED


def test_a_new_session_has_the_entry_of_its_own_first_page():
    w = World()
    c, p, _ = visit(w)
    c.call("track", ["A"])
    p.current_page = page(SITE + "/docs?utm_source=docs-mail", "")
    w.advance(31 * MINUTE)  # the session expires
    c.call("track", ["B"])
    a, b = deliver(w)
    assert a["context"]["sessionId"] != b["context"]["sessionId"]
    assert b["context"]["campaign"] == {"source": "docs-mail"}
    assert b["context"]["sessionEntry"] == {"url": SITE + "/docs?utm_source=docs-mail", "referrer": ""}


def test_a_direct_visit_has_an_entry_and_no_campaign():
    c, p, w = visit(url=SITE + "/", referrer="")
    c.call("track", ["A"])
    (e,) = deliver(w)
    assert "campaign" not in e["context"]
    assert e["context"]["sessionEntry"] == {"url": SITE + "/", "referrer": ""}


def test_rotate_and_reset_give_the_next_event_its_page_as_the_entry():
    w = World()
    c, p, _ = visit(w)
    c.call("track", ["A"])
    p.current_page = page(SITE + "/after?utm_medium=rotated")
    c.call("rotate")
    c.call("track", ["B"])
    p.current_page = page(SITE + "/later?utm_medium=reset")
    c.call("reset")
    c.call("track", ["C"])
    a, b, cc = deliver(w)
    assert len({a["context"]["sessionId"], b["context"]["sessionId"], cc["context"]["sessionId"]}) == 3
    assert b["context"]["campaign"] == {"medium": "rotated"} and cc["context"]["campaign"] == {"medium": "reset"}
    assert b["context"]["sessionSequence"] == 1 and cc["context"]["sessionSequence"] == 1


def test_a_session_record_of_format_1_goes_on_without_an_entry():
    w = World()
    start = w.now - MINUTE
    w.local[SESSION_KEY] = json.dumps(
        {"v": 1, "id": "old-session", "startedAt": start, "lastActivity": start, "sequence": 4}
    )
    c, p, _ = visit(w)
    c.call("track", ["A"])
    (e,) = deliver(w)
    assert e["context"]["sessionId"] == "old-session" and e["context"]["sessionSequence"] == 5
    # Its entry is not known: the landing page now is not the session's entry.
    assert "campaign" not in e["context"] and "sessionEntry" not in e["context"]
    assert json.loads(w.local[SESSION_KEY])["v"] == 2


def test_a_hand_edited_entry_is_not_trusted():
    w = World()
    start = w.now - MINUTE
    w.local[SESSION_KEY] = json.dumps(
        {"v": 2, "id": "s", "startedAt": start, "lastActivity": start, "sequence": 1, "entryUrl": 7, "campaign": 3}
    )
    c, p, _ = visit(w)
    c.call("track", ["A"])
    w.local[SESSION_KEY] = json.dumps(
        {"v": 2, "id": "s", "startedAt": start, "lastActivity": w.now, "sequence": 2, "entryUrl": "u",
         "entryReferrer": None, "campaign": {"source": "ok", "bad": 5, "medium": ""}}
    )  # fmt: skip
    c.call("track", ["B"])
    a, b = deliver(w)
    assert a["context"]["sessionId"] == "s" and "sessionEntry" not in a["context"]
    assert b["context"]["sessionEntry"] == {"url": "u", "referrer": ""}
    assert b["context"]["campaign"] == {"source": "ok"}


def test_the_link_token_is_not_part_of_the_entry():
    c, p, w = visit(url=SITE + "/?utm_source=partner&vt_link=abc")
    c.call("track", ["A"])
    (e,) = deliver(w)
    assert e["context"]["sessionEntry"]["url"] == SITE + "/?utm_source=partner"
    assert e["context"]["campaign"] == {"source": "partner"}


def test_automation_is_a_hint_on_every_event_only_when_the_browser_says_so():
    w = World()
    c, p, _ = tab(w)
    c.call("track", ["Person"])
    p.webdriver = True
    c.call("track", ["Robot"])
    c.call("identify", ["u1"])
    person, robot, identify = deliver(w)
    assert "automation" not in person["context"]
    assert robot["context"]["automation"] is True and identify["context"]["automation"] is True
    assert robot["context"]["locale"] == "en-US"  # the rest of the environment as before
