"""collector/bots.py: crawlers by the maintained list, automation by its flag, and whose user agent
is judged."""

from hypothesis import given, settings
from hypothesis import strategies as st

from visitrail.collector import bots
from visitrail.collector.bots import MAX_USER_AGENT, is_bot, judged_user_agent

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CRAWLERS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "curl/8.5.0",
]


def test_people_browsers_are_not_bots_and_crawlers_are():
    assert not any(is_bot(ua) for ua in (CHROME, SAFARI_IOS, FIREFOX))
    assert all(is_bot(ua) for ua in CRAWLERS)
    assert not is_bot(None) and not is_bot("")


def test_a_browser_driven_by_automation_is_a_bot_whatever_it_claims():
    assert is_bot(CHROME, automation=True)
    assert is_bot(None, automation=True)


def test_the_events_user_agent_wins_and_a_server_is_not_judged_by_its_own():
    assert judged_user_agent({"userAgent": CHROME}, "python-requests/2.32", None) == CHROME
    # A browser's request (it carries an Origin) is judged by its User-Agent header.
    assert judged_user_agent({}, CRAWLERS[0], "https://site.example") == CRAWLERS[0]
    # A server's request (no Origin) by nothing: curl and python-requests are on the crawler list.
    assert judged_user_agent({}, "python-requests/2.32", None) is None
    assert judged_user_agent({"userAgent": 12}, None, "https://site.example") is None


def test_only_the_start_of_a_huge_user_agent_is_matched(monkeypatch):
    # The work per event is bounded: the list's patterns see at most MAX_USER_AGENT characters.
    assert not is_bot("x" * MAX_USER_AGENT + " Googlebot/2.1")
    seen = []
    monkeypatch.setattr(bots.crawleruseragents, "is_crawler", lambda ua: seen.append(len(ua)) or False)
    bots._crawler.cache_clear()
    assert not is_bot("Mozilla/5.0 " + "(" * 100_000)
    assert seen == [MAX_USER_AGENT]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000), st.booleans())
def test_any_text_is_answered(user_agent, automation):
    assert is_bot(user_agent, automation) in (True, False)
