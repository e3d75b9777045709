"""A page's own PyScript config -> the Client's options (core/page_config.py): the "visitrail"
section, snake_case keys, for a page without the tag. Plain asserts: these run on MicroPython too."""

from support import MINUTE, deliver

from visitrail.core.client import Client
from visitrail.core.page_config import KEYS, from_config
from visitrail.memory import MemoryPlatform, World

FULL = {
    "write_key": "wk",
    "endpoint": "https://collect.example.com/",
    "id_storage": "cookie",
    "domain": ".example.com",
    "consent": "pending",
    "identity_token": "a.b.c",
    "session_timeout": 45,
    "session_max_hours": 12,
    "engagement": False,
    "flush_at": 5,
    "flush_interval": 250,
    "persist_user": False,
    "debug": True,
    "auto_page": "false",
    "respect_dnt": True,
}


def test_every_key_maps_to_the_tags_option_name():
    opts, warnings, error = from_config({"packages": ["visitrail-sdk"], "visitrail": FULL})
    assert error is None and warnings == []
    assert opts == {
        "writeKey": "wk",
        "endpoint": "https://collect.example.com",  # no trailing slash
        "idStorage": "cookie",
        "domain": ".example.com",
        "consent": "pending",
        "identityToken": "a.b.c",
        "sessionTimeout": 45,
        "sessionMaxHours": 12,
        "engagement": False,
        "flushAt": 5,
        "flushInterval": 250,
        "persistUser": False,
        "debug": True,
        "autoPage": "false",
        "respectDnt": True,
    }
    assert sorted(KEYS) == sorted(FULL)


def test_the_options_are_the_ones_the_client_reads():
    opts, _, _ = from_config({"visitrail": {"write_key": "wk", "endpoint": "http://c.test", "auto_page": False,
                                            "flush_at": 1, "session_timeout": 1}})  # fmt: skip
    world = World()
    client = Client(MemoryPlatform(world), opts)
    client.start()
    assert client.write_key == "wk" and client.endpoint == "http://c.test" and not client.auto_page
    client.call("track", ["One"])
    (event,) = deliver(world)
    assert event["event"] == "One"
    assert client.sessions.timeout_ms == MINUTE


def test_a_missing_section_write_key_or_endpoint_is_one_error_and_no_options():
    for config in (None, {}, {"packages": []}, "not a dict"):
        opts, warnings, error = from_config(config)
        assert opts == {} and warnings == []
        assert error.startswith("the PyScript config has no 'visitrail' section: add \"visitrail\": {")
    opts, _, error = from_config({"visitrail": ["write_key", "wk"]})
    assert opts == {} and "is not a table of options" in error
    opts, _, error = from_config({"visitrail": {"endpoint": "http://c.test"}})
    assert opts == {} and error.startswith("the PyScript config's 'visitrail' section has no write_key: ")
    opts, _, error = from_config({"visitrail": {"write_key": "", "endpoint": " / "}})
    assert opts == {} and "has no write_key and no endpoint" in error


def test_wrong_kinds_and_unknown_keys_are_left_out_with_a_warning():
    opts, warnings, error = from_config(
        {
            "visitrail": {
                "write_key": "wk",
                "endpoint": "http://c.test",
                "writeKey": "x",
                "colour": "red",
                "id_storage": 3,
                "flush_at": [20],
                "debug": None,
            }
        }  # fmt: skip
    )
    assert error is None
    assert opts == {"writeKey": "wk", "endpoint": "http://c.test"}
    assert warnings == [
        "the PyScript config's visitrail.colour is not an option (ignored)",
        "the PyScript config's visitrail.debug must be a string, number or boolean, not NoneType (ignored)",
        "the PyScript config's visitrail.flush_at must be a string, number or boolean, not list (ignored)",
        "the PyScript config's visitrail.id_storage must be a string, not int (ignored)",
        "the PyScript config's visitrail.writeKey is not an option (ignored; did you mean write_key?)",
    ]


def test_a_wrong_write_key_kind_is_a_warning_and_then_the_missing_key_error():
    opts, warnings, error = from_config({"visitrail": {"write_key": 42, "endpoint": "http://c.test"}})
    assert opts == {} and len(warnings) == 1 and "write_key must be a string, not int" in warnings[0]
    assert "has no write_key" in error
