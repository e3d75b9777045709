"""Which events come from bots: crawlers by their user agent (the crawler-user-agents list, kept by
its community, not a hand-written regex), and browsers that say they are driven by automation
(navigator.webdriver, which the SDK sends as context.automation: Playwright, Selenium, Puppeteer).

Whose user agent is judged: the event's context.userAgent when it has one (a server sending for its
users should pass theirs), else the request's User-Agent when a browser made the request (it carried
an Origin header, as every browser's cross-origin POST and beacon does). A server's own request
(curl, python-requests: both on the list) is not judged by its own user agent.
"""

from __future__ import annotations

import functools
import typing

import crawleruseragents

__all__ = ["is_bot", "judged_user_agent"]

# Longer user agents are cut before matching: the list's patterns look at names near the start,
# and the work per event stays bounded whatever a client sends.
MAX_USER_AGENT = 512


@functools.lru_cache(maxsize=4096)  # a site sees few distinct user agents; matching one costs ~0.3 ms
def _crawler(user_agent: str) -> bool:
    return bool(crawleruseragents.is_crawler(user_agent))


def judged_user_agent(context: typing.Mapping[str, typing.Any], header: str | None, origin: str | None) -> str | None:
    """The user agent an event is judged by (see the module's docstring), or None."""
    given = context.get("userAgent")
    if isinstance(given, str) and given:
        return given
    return header if header and origin else None


def is_bot(user_agent: str | None, automation: bool = False) -> bool:
    """True for a known crawler's user agent, or a browser driven by automation."""
    if automation:
        return True
    return bool(user_agent) and _crawler(typing.cast(str, user_agent)[:MAX_USER_AGENT])
