"""The event shape: Segment's HTTP tracking API, as a collector receives it."""

from support import deliver, tab

from visitrail.core.events import build
from visitrail.core.ids import iso_utc, uuid4

UUID_CHARS = "0123456789abcdef-"


def is_uuid4(s):
    return (
        isinstance(s, str)
        and len(s) == 36
        and s[14] == "4"
        and s[19] in "89ab"
        and all(c in UUID_CHARS for c in s)
        and [len(p) for p in s.split("-")] == [8, 4, 4, 4, 12]
    )


def is_iso_utc(s):
    return isinstance(s, str) and len(s) == 24 and s[4] == "-" and s[10] == "T" and s.endswith("Z") and s[19] == "."


def test_uuid4_shape():
    assert uuid4(bytes(range(16))) == "00010203-0405-4607-8809-0a0b0c0d0e0f"
    assert is_uuid4(uuid4(b"\xff" * 16))


def test_iso_utc_known_instants():
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(951782400000) == "2000-02-29T00:00:00.000Z"
    assert iso_utc(1764039320123) == "2025-11-25T02:55:20.123Z"


def test_every_event_has_segment_fields():
    c, p, w = tab()
    c.call("identify", ["u1", {"plan": "pro"}])
    c.call("track", ["Clicked", {"button": "buy"}])
    c.call("page", ["Home", {"x": 1}])
    c.call("group", ["g1", {"name": "Acme"}])
    c.call("alias", ["u2"])
    stored = deliver(w)
    assert [m["type"] for m in stored] == ["identify", "track", "page", "group", "alias"]
    ids = set()
    for m in stored:
        assert is_uuid4(m["messageId"])
        ids.add(m["messageId"])
        assert is_iso_utc(m["timestamp"])
        assert is_uuid4(m["anonymousId"])
        assert m["context"]["library"] == {"name": "visitrail", "version": "0.1.0"}
        assert m["context"]["page"]["url"] == "http://127.0.0.1:8000/"
        assert "userAgent" not in m["context"] and "ip" not in m["context"]
    assert len(ids) == 5
    identify, track, page, group, alias = stored
    assert identify["traits"] == {"plan": "pro"} and identify["userId"] == "u1"
    assert track["event"] == "Clicked" and track["properties"] == {"button": "buy"}
    assert page["name"] == "Home"
    assert page["properties"]["path"] == "/" and page["properties"]["x"] == 1 and page["properties"]["name"] == "Home"
    assert group["groupId"] == "g1" and group["traits"] == {"name": "Acme"}
    assert alias["userId"] == "u2" and alias["previousId"] == "u1"


def test_batch_body_carries_write_key_and_sent_at():
    c, p, w = tab()
    c.call("track", ["A"])
    deliver(w)
    body, status = w.sent[0]
    assert body["writeKey"] == "wk" and is_iso_utc(body["sentAt"]) and status == 200


def test_options_context_and_integrations_are_merged():
    msg = build(
        "track",
        {
            "event": "E",
            "properties": {},
            "options": {"context": {"campaign": {"name": "x"}}, "integrations": {"All": False}},
        },
        {"anonymousId": "a"},
        0,
        "m1",
        None,
        {"id": "s", "startedAt": 5, "sequence": 2},
    )
    assert msg["context"]["campaign"] == {"name": "x"} and msg["context"]["library"]["name"] == "visitrail"
    assert msg["integrations"] == {"Actions Amplitude": {"session_id": 5}, "All": False}
    assert msg["context"]["sessionId"] == "s" and msg["context"]["sessionSequence"] == 2
    assert "userId" not in msg
