"""The cross-domain linker: decorate on one domain, adopt on the other (one browser, two sites of
one owner: two tabs with their own storage on one clock)."""

from support import MINUTE, deliver, options

from visitrail.core import links
from visitrail.core.client import Client
from visitrail.memory import DictStore, MemoryPlatform, World

SHOP = "https://shop.example/cart?item=7#top"


def site(world, url="https://example.com/", **extra):
    p = MemoryPlatform(world, local=DictStore({}))
    p.current_page = dict(p.current_page, url=url, search="?" + url.split("?", 1)[1] if "?" in url else "")
    c = Client(p, options(**extra))
    return c, p


def landing(world, url, **extra):
    """A page opened at `url`, booted as boot.py does: the link first, then start()."""
    c, p = site(world, url, **extra)
    c.adopt_link(url)
    c.start()
    return c, p


def test_decorate_carries_the_visitor_and_session_and_the_landing_page_adopts_them():
    w = World()
    home, _ = site(w)
    home.call("track", ["Viewed"])
    url = home.call("decorate", [SHOP])
    assert url.startswith("https://shop.example/cart?item=7&vt_link=") and url.endswith("#top")
    w.advance(5000)
    shop, p = landing(w, url)
    assert shop.call("user.anonymousId") == home.call("user.anonymousId")
    assert shop.call("session.id") == home.call("session.id")
    assert p.replaced == ["https://shop.example/cart?item=7#top"]  # the token left the address bar
    shop.call("track", ["Added to cart"])
    events = deliver(w)
    added = [e for e in events if e.get("event") == "Added to cart"][0]
    assert added["anonymousId"] == home.call("user.anonymousId")
    assert "vt_link" not in str(added["context"]["page"])


def test_clicks_on_links_to_the_listed_domains_are_decorated_at_click_time():
    w = World()
    home, p = site(w, linkDomains="shop.example, checkout.example")
    home.start()
    assert "vt_link=" in p.follow("https://shop.example/a")
    assert "vt_link=" in p.follow("https://eu.checkout.example/pay")
    assert p.follow("https://elsewhere.example/") == "https://elsewhere.example/"
    assert p.follow("https://notshop.example/") == "https://notshop.example/"
    first = links.param(p.follow("https://shop.example/a"))
    w.advance(1000)
    assert links.param(p.follow("https://shop.example/a")) != first  # made at the click, with its time


def test_an_old_link_is_not_adopted_and_still_leaves_the_address_bar():
    w = World()
    home, _ = site(w)
    url = home.call("decorate", [SHOP])
    w.advance(2 * MINUTE + 1)
    shop, p = landing(w, url)
    assert shop.call("user.anonymousId") != home.call("user.anonymousId")
    assert p.replaced == ["https://shop.example/cart?item=7#top"]


def test_the_age_a_link_may_have_is_configurable():
    w = World()
    home, _ = site(w)
    url = home.call("decorate", [SHOP])
    w.advance(10 * MINUTE)
    shop, _ = landing(w, url, linkMaxAge="900")
    assert shop.call("user.anonymousId") == home.call("user.anonymousId")


def test_a_signed_in_browser_keeps_its_own_identity():
    w = World()
    home, _ = site(w)
    url = home.call("decorate", [SHOP])
    p = MemoryPlatform(w, local=DictStore({}))
    signed_in = Client(p, options())
    signed_in.call("identify", ["u-shop"])
    before = signed_in.call("user.anonymousId")
    assert signed_in.adopt_link(url) is False
    assert signed_in.call("user.anonymousId") == before and signed_in.call("user.id") == "u-shop"


def test_a_link_of_another_write_key_or_a_broken_one_is_refused():
    w = World()
    other, _ = site(w, writeKey="someone-else")
    plain = "https://shop.example/cart?item=7"
    for url in (other.call("decorate", [SHOP]), plain + "&vt_link=bm90IGEgdG9rZW4", plain + "&vt_link=%%%"):
        shop, p = landing(w, url)
        assert shop.call("user.anonymousId") != other.call("user.anonymousId")
        assert "vt_link" not in p.replaced[0]


def test_strip_and_decorate_keep_the_rest_of_the_url():
    token = "abc"
    assert links.without_token("https://a.test/p?x=1&vt_link=abc&y=2#f") == "https://a.test/p?x=1&y=2#f"
    assert links.without_token("https://a.test/p?vt_link=abc") == "https://a.test/p"
    assert links.without_token("https://a.test/p?vt_link_other=1") == "https://a.test/p?vt_link_other=1"
    assert links.decorate("https://a.test/p?vt_link=old", token) == "https://a.test/p?vt_link=abc"
    assert links.decorate("https://a.test/", token) == "https://a.test/?vt_link=abc"
    assert links.page_without_token({"url": "https://a.test/?vt_link=x", "search": "?vt_link=x", "referrer": ""}) == {
        "url": "https://a.test/", "search": "", "referrer": ""}  # fmt: skip


def test_decorate_before_consent_gives_the_url_back_as_it_is():
    w = World()
    home, _ = site(w, consent="pending")
    assert home.call("decorate", [SHOP]) == SHOP
