"""Property tests (CPython only: hypothesis) for the rules that must hold for every input."""

import datetime
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from support import MINUTE, deliver, tab

from visitrail.core import backoff
from visitrail.core.arguments import clean
from visitrail.core.identity import merge_traits
from visitrail.core.ids import iso_utc

keys = st.text(min_size=1, max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
traits = st.dictionaries(keys, json_values, max_size=6)


@given(traits, traits, traits)
def test_trait_merge_is_associative_last_write_wins_and_loses_no_key(a, b, c):
    left = merge_traits(merge_traits(a, b), c)
    assert left == merge_traits(a, merge_traits(b, c))
    assert set(left) == set(a) | set(b) | set(c)
    for k in left:
        assert left[k] == (c[k] if k in c else b[k] if k in b else a[k])


@given(traits)
@settings(max_examples=50, deadline=None)
def test_any_json_traits_arrive_unchanged(t):
    c, p, w = tab()
    c.call("identify", ["u1", t])
    sent = deliver(w)[0]["traits"]
    assert json.loads(json.dumps(sent)) == json.loads(json.dumps(t))
    assert p.errors() == []


@given(json_values)
def test_clean_keeps_json_values_as_they_are(v):
    warnings = []
    assert clean(v, "x", warnings) == v and warnings == []


@given(st.lists(st.integers(0, 90 * MINUTE), min_size=1, max_size=12), st.integers(1, 60))
@settings(max_examples=60, deadline=None)
def test_a_new_session_starts_exactly_when_the_gap_reaches_the_timeout(gaps, timeout_min):
    c, p, w = tab(sessionTimeout=str(timeout_min))
    for g in gaps:
        w.advance(g)
        c.call("track", ["e"])
    sessions = [m["context"]["sessionId"] for m in deliver(w)]
    for i in range(1, len(gaps)):
        new = sessions[i] != sessions[i - 1]
        assert new == (gaps[i] >= timeout_min * MINUTE)


@given(st.integers(1, 40), st.floats(0, 0.999999), st.none() | st.integers(0, 10000))
def test_backoff_stays_within_bounds(attempt, unit, retry_after):
    d = backoff.delay(attempt, unit, retry_after)
    assert d >= backoff.FLOOR_MS
    assert d <= max(backoff.ceiling(attempt), min(backoff.RETRY_AFTER_CAP_MS, (retry_after or 0) * 1000))
    if retry_after is not None:
        assert d >= min(backoff.RETRY_AFTER_CAP_MS, retry_after * 1000)


@given(st.integers(1, 40))
def test_backoff_ceiling_grows_until_the_cap(attempt):
    assert backoff.ceiling(attempt) <= backoff.ceiling(attempt + 1) <= backoff.CAP_MS
    assert backoff.ceiling(attempt) == min(backoff.CAP_MS, backoff.BASE_MS * 2 ** (attempt - 1))


@given(st.integers(-(2**41), 2**42))
def test_iso_utc_matches_datetime(ms):
    expected = (datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(milliseconds=ms)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )[:-3] + "Z"
    assert iso_utc(ms) == expected


@given(st.lists(st.tuples(traits, traits), min_size=1, max_size=6))
@settings(max_examples=50, deadline=None)
def test_a_set_once_key_keeps_the_first_value_it_was_given_over_any_regular_value(calls):
    c, p, w = tab()
    regular, once = {}, {}
    for n, (t, first) in enumerate(calls):
        c.call("identify", ["u1", t, {"setOnce": first}], {"messageId": "m" + str(n)})
        regular = merge_traits(regular, t)
        once = merge_traits(first, once)
    assert c.call("user.traits") == json.loads(json.dumps(merge_traits(regular, once)))
    for m in deliver(w):  # each identify sent carries its own call's set-once traits
        assert m["context"].get("traitsOnce") == (json.loads(json.dumps(calls[int(m["messageId"][1:])][1])) or None)
