"""Helpers shared by the core's unit tests; plain Python so the same tests run on MicroPython."""

from visitrail.core.client import Client
from visitrail.memory import MemoryPlatform, World

MINUTE = 60000
# No automatic page view and no Page Left unless a test asks: each test sees the events it makes.
OPTIONS = {"writeKey": "wk", "endpoint": "http://collector.test", "autoPage": False, "engagement": False}


def options(**extra):
    o = dict(OPTIONS)
    for k, v in extra.items():
        o[k] = v
    return o


def tab(world=None, local=None, cookies=True, **extra):
    """A started client in one tab of `world` (a new world if None): (client, platform, world)."""
    world = world or World()
    p = MemoryPlatform(world, local=local, cookies=cookies)
    c = Client(p, options(**extra))
    c.start()
    return c, p, world


def deliver(world):
    world.run_until_idle()
    return world.stored()


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    raise AssertionError("expected " + exc.__name__)
