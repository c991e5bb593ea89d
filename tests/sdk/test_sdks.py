"""The Segment-compatible tracking API, driven by the real Segment and RudderStack Python SDKs against a running
server, and checked by what intentlab stored (profiles, timelines, counters) — not by status codes alone.

Run through `make test-sdk` (scripts/with-server.sh provides BASE_URL and the admin's credentials).

What the SDKs send, read from their source (segment/analytics/{client,request,consumer}.py and
rudderstack/analytics/{client,request,consumer}.py) and checked on the wire by the first two tests:

* segment-analytics-python 2.4.0 posts `{"batch": [...], "sentAt", "writeKey"}` to `{host}/v1/batch` with the write
  key as HTTP Basic user name (`Authorization: Basic base64("key:")`), gzip only with `gzip=True`. Every message
  gets `messageId` (uuid4 unless given), `timestamp` (the device clock, milliseconds), `anonymousId`/`userId`,
  `context.library = {"name": "analytics-python", "version": "2.4.0"}`; `sentAt` is per request, not per message.
  Limits: 32 KB per message, batches closed once they pass 475,000 bytes. Error bodies are read as top-level
  `{"code", "message"}`; 4xx other than 408/410/429/460 are not retried. With `sync_mode=True` each call is one
  request and errors raise `APIError`; otherwise a consumer thread batches and reports errors to `on_error`.
* rudder-sdk-python 2.1.9 is a fork of the same client: same endpoint, HTTP Basic auth (requests' HTTPBasicAuth),
  no `writeKey` in the body, gzip *on by default*, identify traits only in `context.traits`, a top-level
  `"channel": "server"`, `integrations = {"All": true}`, and the same library name "analytics-python" (its own
  version). It reads error bodies as top-level `{"code", "message"}` too, and treats anything but an `APIError`
  with a 4xx as retryable.
"""

import base64
import contextlib
import gzip
import json
import os
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
import requests
import rudderstack.analytics as rudder_analytics
import rudderstack.analytics.client as rudder_client_module
import rudderstack.analytics.request as rudder_request
import segment.analytics as segment_analytics
import segment.analytics.client as segment_client_module
import segment.analytics.consumer as segment_consumer
import segment.analytics.request as segment_request
from rudderstack.analytics.version import VERSION as RUDDER_VERSION
from segment.analytics.version import VERSION as SEGMENT_VERSION

BASE_URL = os.environ["BASE_URL"]


# --- fixtures and helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin():
    session = requests.Session()
    response = session.post(
        f"{BASE_URL}/api/v1/auth/login",
        json={"email": os.environ["E2E_ADMIN_EMAIL"], "password": os.environ["E2E_ADMIN_PASSWORD"]},
    )
    response.raise_for_status()
    return session


def new_key(admin, name):
    response = admin.post(f"{BASE_URL}/api/v1/api-keys", json={"name": name, "scopes": ["ingest", "read"]})
    response.raise_for_status()
    return response.json()["secret"]


@pytest.fixture(scope="module")
def write_key(admin):
    return new_key(admin, "sdk-tests")


@pytest.fixture(scope="module")
def reader(write_key):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {write_key}"
    return session


class Wire:
    """Every request either SDK makes, as it went out (the prepared request: final headers and body bytes) and
    what came back."""

    def __init__(self):
        self.requests = []

    def of(self, sdk):
        return [r for r in self.requests if r["sdk"] == sdk]

    def wrap(self, sdk, session):
        original = session.post

        def post(url, **kwargs):
            response = original(url, **kwargs)
            sent = response.request
            body = sent.body if isinstance(sent.body, bytes) else (sent.body or "").encode()
            self.requests.append(
                {
                    "sdk": sdk,
                    "url": url,
                    "headers": dict(sent.headers),
                    "raw": body,
                    "json": json.loads(gzip.decompress(body) if sent.headers.get("Content-Encoding") == "gzip" else body),
                    "status": response.status_code,
                }
            )
            return response

        return post


@pytest.fixture
def wire(monkeypatch):
    spy = Wire()
    monkeypatch.setattr(segment_request._session, "post", spy.wrap("segment", segment_request._session))
    monkeypatch.setattr(rudder_request._session, "post", spy.wrap("rudder", rudder_request._session))
    return spy


def segment_sync(key, **options):
    return segment_analytics.Client(key, host=BASE_URL, sync_mode=True, max_retries=0, **options)


@contextlib.contextmanager
def segment_async(key, **options):
    """The SDK's default mode: a consumer thread batches the queue and reports errors to on_error. The consumer is
    started when the block ends, so that what the block queued leaves together (one batch, when it fits) however the
    thread happens to be scheduled; then the client is flushed and stopped."""
    errors = []
    options.setdefault("upload_interval", 0.2)
    with mock.patch.object(segment_consumer.Consumer, "start", lambda self: None):
        client = segment_analytics.Client(key, host=BASE_URL, on_error=lambda e, batch: errors.append(e), **options)
    try:
        yield client, errors
    finally:
        for consumer in client.consumers:
            threading.Thread.start(consumer)
        client.shutdown()


def rudder_sync(key, **options):
    return rudder_analytics.Client(key, host=BASE_URL, sync_mode=True, gzip=True, max_retries=0, **options)


def timeline(reader, unit):
    response = reader.get(f"{BASE_URL}/api/v1/profiles/{unit}/events", params={"limit": 100})
    response.raise_for_status()
    return response.json()["events"]


def profile(reader, unit):
    response = reader.get(f"{BASE_URL}/api/v1/profiles/{unit}")
    response.raise_for_status()
    return response.json()


def is_unknown(reader, unit):
    return reader.get(f"{BASE_URL}/api/v1/profiles/{unit}").status_code == 404


def totals(reader):
    response = reader.get(f"{BASE_URL}/api/v1/ingest/stats")
    response.raise_for_status()
    return response.json()["totals"]


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def parse_time(text):
    """RFC 3339 as intentlab writes it (`Z`, nanoseconds) or as the SDKs do (`+00:00`), also before Python 3.11."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


def near(text, expected, tolerance=timedelta(seconds=30)):
    return abs(parse_time(text) - expected) < tolerance


def basic(key):
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


# --- what the SDKs send ------------------------------------------------------------------------------------------


def test_segment_sdk_posts_basic_authenticated_batches_to_v1_batch(write_key, reader, wire):
    anonymous = unique("anon")
    segment_sync(write_key).track(anonymous_id=anonymous, event="Product Viewed", properties={"sku": "W-1"})

    [request] = wire.of("segment")
    assert request["url"] == f"{BASE_URL}/v1/batch"
    assert request["headers"]["Authorization"] == basic(write_key)
    assert "Content-Encoding" not in request["headers"], "the Segment SDK compresses only with gzip=True"
    body = request["json"]
    assert set(body) == {"batch", "sentAt", "writeKey"} and body["writeKey"] == write_key
    [message] = body["batch"]
    assert message["anonymousId"] == anonymous and message["type"] == "track"
    assert message["context"]["library"] == {"name": "analytics-python", "version": SEGMENT_VERSION}
    assert {"messageId", "timestamp"} <= set(message) and "sentAt" not in message
    assert request["status"] == 200

    [stored] = timeline(reader, anonymous)
    assert stored["message_id"] == message["messageId"]
    assert stored["properties"] == {"sku": "W-1"}


def test_rudderstack_sdk_posts_gzip_batches_with_basic_auth(write_key, reader, wire):
    # gzip=True is the SDK's default (Client.DefaultConfig.gzip); request.post then sets Content-Encoding: gzip and
    # sends GzipFile output. Checked here on the bytes that actually went out.
    client = rudder_analytics.Client(write_key, host=BASE_URL, sync_mode=True, max_retries=0)
    anonymous = unique("anon")
    client.identify(anonymous_id=anonymous, traits={"tier": "bronze"})

    [request] = wire.of("rudder")
    assert request["url"] == f"{BASE_URL}/v1/batch"
    assert request["headers"]["Content-Encoding"] == "gzip"
    assert request["raw"][:2] == b"\x1f\x8b", "the body really is gzip"
    assert request["headers"]["Authorization"] == basic(write_key)
    body = request["json"]
    assert set(body) == {"batch", "sentAt"}, "no writeKey in the body: the key travels only as HTTP Basic"
    [message] = body["batch"]
    assert "traits" not in message and message["context"]["traits"] == {"tier": "bronze"}
    assert message["context"]["library"] == {"name": "analytics-python", "version": RUDDER_VERSION}
    assert message["channel"] == "server"
    assert request["status"] == 200

    assert profile(reader, anonymous)["traits"]["tier"] == "bronze", "identify traits are read from context.traits"
    [stored] = timeline(reader, anonymous)
    assert stored["type"] == "identify" and stored["message_id"] == message["messageId"]


# --- what intentlab stores ----------------------------------------------------------------------------------------


def test_segment_sdk_events_are_stored_with_their_properties_context_and_time(write_key, reader):
    client = segment_sync(write_key)
    anonymous = unique("anon")
    browser = {
        "ip": "203.0.113.77",
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "locale": "de-DE",
    }
    client.page(
        anonymous_id=anonymous,
        name="Product",
        properties={"path": "/p/42", "url": "https://shop.example/p/42?utm_medium=cpc&utm_source=google"},
        context=dict(browser),
    )
    client.track(anonymous_id=anonymous, event="Video Watched", properties={"percent": 90, "sku": "SKU-42"})
    client.track(anonymous_id=anonymous, event="Product Added", properties={"sku": "SKU-42", "price": 59.0})

    events = timeline(reader, anonymous)
    assert [e["event"] for e in events] == ["Product Added", "Video Watched", "Product"]
    added, video, page = events
    assert added["properties"] == {"sku": "SKU-42", "price": 59.0}
    assert video["type"] == "track"
    assert video["properties"] == {"percent": 90, "sku": "SKU-42"}
    assert video["context"]["library"] == {"name": "analytics-python", "version": SEGMENT_VERSION}
    assert page["type"] == "page"
    assert page["channel"] == "ads", "utm_medium=cpc in the page URL makes it paid traffic"
    assert page["context"]["platform"] == "web"
    assert page["context"]["page"]["path"] == "/p/42"
    assert page["context"]["campaign"] == {"medium": "cpc", "source": "google"}
    assert page["context"]["locale"] == "de-DE"
    assert "203.0.113.77" not in json.dumps(events), "the IP is never stored"
    now = datetime.now(timezone.utc)
    for event in events:
        assert near(event["timestamp"], now), event["timestamp"]
        assert near(event["received_at"], now), event["received_at"]

    intent = reader.get(f"{BASE_URL}/api/v1/units/{anonymous}/intent").json()
    assert intent["known"] is True
    assert {s["signal"] for s in intent["top_signals"]} >= {"product-added", "video-watched-75"}


def fast_clock(monkeypatch, modules, skew):
    """Makes the SDK's clock (its `datetime.now`, used for `timestamp` and `sentAt`) run `skew` ahead, as on a
    device whose clock is wrong."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz=None):
            return cls.fromtimestamp(time.time() + skew.total_seconds(), tz)

    for module in modules:
        monkeypatch.setattr(module, "datetime", Skewed)
    return Skewed


@pytest.mark.parametrize("sdk", ["segment", "rudder"])
def test_timestamps_are_corrected_for_a_device_clock_that_is_hours_off(sdk, write_key, reader, monkeypatch, wire):
    skew = timedelta(hours=3)
    if sdk == "segment":
        clock = fast_clock(monkeypatch, [segment_client_module, segment_request], skew)
        client = segment_sync(write_key)
    else:
        clock = fast_clock(monkeypatch, [rudder_client_module, rudder_request], skew)
        client = rudder_sync(write_key)
    anonymous = unique("anon")
    client.track(anonymous_id=anonymous, event="Cart Viewed")
    # An event the device recorded 10 minutes before sending it (e.g. queued while offline).
    client.track(anonymous_id=anonymous, event="Product Viewed", timestamp=clock.now(timezone.utc) - timedelta(minutes=10))

    sent = [m for r in wire.of(sdk) for m in r["json"]["batch"]]
    assert parse_time(sent[0]["timestamp"]) > datetime.now(timezone.utc) + timedelta(hours=2), "the SDK sent skewed times"
    assert parse_time(wire.of(sdk)[0]["json"]["sentAt"]) > datetime.now(timezone.utc) + timedelta(hours=2)

    now = datetime.now(timezone.utc)
    stored = {e["event"]: e for e in timeline(reader, anonymous)}
    assert near(stored["Cart Viewed"]["timestamp"], now), stored["Cart Viewed"]
    assert near(stored["Product Viewed"]["timestamp"], now - timedelta(minutes=10)), stored["Product Viewed"]
    assert near(stored["Product Viewed"]["received_at"], now)


def test_identify_and_alias_stitch_anonymous_history_to_the_user(write_key, reader):
    client = segment_sync(write_key)
    anonymous, user = unique("anon"), unique("user")
    client.track(anonymous_id=anonymous, event="Product Viewed", properties={"sku": "A"})
    client.identify(user_id=user, anonymous_id=anonymous, traits={"email": f"{user}@shop.example", "plan": "gold"})
    client.track(user_id=user, event="Checkout Started", properties={"value": 80})
    other_device = unique("device")
    client.track(anonymous_id=other_device, event="Product Added to Wishlist", properties={"sku": "B"})
    client.alias(previous_id=other_device, user_id=user)

    person = profile(reader, user)
    assert {anonymous, user, other_device} <= {i["id"] for i in person["ids"]}
    assert person["traits"]["plan"] == "gold" and person["traits"]["email"] == f"{user}@shop.example"
    assert profile(reader, anonymous)["id"] == profile(reader, other_device)["id"] == person["id"]
    for unit in (user, anonymous, other_device):
        names = sorted(e["event"] for e in timeline(reader, unit) if e["type"] == "track")
        assert names == ["Checkout Started", "Product Added to Wishlist", "Product Viewed"], unit
    types = [e["type"] for e in timeline(reader, user)]
    assert types.count("identify") == 1 and types.count("alias") == 1


def test_a_batch_with_anonymous_browsing_then_login_is_attributed_to_the_user(write_key, reader, wire):
    anonymous, user = unique("anon"), unique("user")
    # A minute of browsing, one second apart (queued at once, the SDK's own times would tie to the millisecond).
    at = [datetime.now(timezone.utc) - timedelta(seconds=60 - i) for i in range(4)]
    with segment_async(write_key) as (client, errors):
        client.page(anonymous_id=anonymous, name="Home", properties={"path": "/"}, timestamp=at[0])
        client.track(anonymous_id=anonymous, event="Product Viewed", properties={"sku": "C"}, timestamp=at[1])
        client.identify(user_id=user, anonymous_id=anonymous, traits={"name": "Ada"}, timestamp=at[2])
        client.track(user_id=user, event="Order Completed", properties={"revenue": 120.0, "order_id": "o-1"}, timestamp=at[3])
    assert errors == []
    batches = [r["json"]["batch"] for r in wire.of("segment")]
    assert [len(b) for b in batches] == [4], "the consumer sent the session as one batch"

    events = timeline(reader, user)
    assert [e["type"] for e in events] == ["track", "identify", "track", "page"]
    assert all(near(e["timestamp"], t) for e, t in zip(events, reversed(at))), "times as the device recorded them"
    assert [e["event"] for e in events if e["type"] != "identify"] == ["Order Completed", "Product Viewed", "Home"]
    assert profile(reader, anonymous)["traits"]["name"] == "Ada"


def test_a_repeated_message_id_is_stored_once(write_key, reader):
    client = segment_sync(write_key)
    anonymous, message = unique("anon"), unique("msg")
    before = totals(reader)
    for _ in range(3):  # as a retry after a lost response would
        client.track(anonymous_id=anonymous, event="Size Guide Viewed", message_id=message)
    assert [e["message_id"] for e in timeline(reader, anonymous)] == [message]
    after = totals(reader)
    assert after.get("accepted", 0) - before.get("accepted", 0) == 1
    assert after.get("duplicates", 0) - before.get("duplicates", 0) == 2


def test_a_message_id_repeated_within_one_batch_is_stored_once(write_key, reader, wire):
    anonymous, message = unique("anon"), unique("msg")
    with segment_async(write_key) as (client, errors):
        client.track(anonymous_id=anonymous, event="Store Locator Used", message_id=message)
        client.track(anonymous_id=anonymous, event="Store Locator Used", message_id=message)
        client.track(anonymous_id=anonymous, event="Store Selected")
    assert errors == []
    assert [len(r["json"]["batch"]) for r in wire.of("segment")] == [3]
    events = timeline(reader, anonymous)
    assert sorted(e["event"] for e in events) == ["Store Locator Used", "Store Selected"]


def test_withheld_analytics_consent_is_counted_not_stored(admin, reader):
    name = unique("consent")
    key = new_key(admin, name)
    declined, allowed = unique("anon"), unique("anon")
    before = totals(reader)
    with segment_async(key) as (client, errors):
        no = {"consent": {"categoryPreferences": {"Analytics": False, "Advertising": True}}}
        yes = {"consent": {"categoryPreferences": {"Analytics": True, "Advertising": False}}}
        client.track(anonymous_id=declined, event="Product Viewed", context=no)
        client.page(anonymous_id=declined, name="Product", context={"consent": {"categoryPreferences": {"Analytics": False}}})
        client.track(anonymous_id=allowed, event="Product Viewed", context=yes)
    assert errors == []

    assert is_unknown(reader, declined)
    assert [e["event"] for e in timeline(reader, allowed)] == ["Product Viewed"]
    after = totals(reader)
    assert after.get("consent_dropped", 0) - before.get("consent_dropped", 0) == 2
    assert after.get("accepted", 0) - before.get("accepted", 0) == 1
    sources = reader.get(f"{BASE_URL}/api/v1/ingest/stats").json()["sources"]
    [by_key] = [counts for source, counts in sources.items() if source.startswith(f"{name} (")]
    assert by_key == {"accepted": 1, "consent_dropped": 2}


def test_gzip_bodies_from_the_segment_sdk_are_understood(write_key, reader, wire):
    anonymous = unique("anon")
    segment_sync(write_key, gzip=True).track(anonymous_id=anonymous, event="Price Alert Subscribed", properties={"sku": "G"})
    [request] = wire.of("segment")
    assert request["headers"]["Content-Encoding"] == "gzip" and request["raw"][:2] == b"\x1f\x8b"
    [stored] = timeline(reader, anonymous)
    assert (stored["event"], stored["properties"]) == ("Price Alert Subscribed", {"sku": "G"})


def test_rudderstack_sdk_track_identify_screen_page_and_alias_are_stored(write_key, reader, wire):
    client = rudder_sync(write_key)
    anonymous, user, device = unique("anon"), unique("user"), unique("device")
    client.page(anonymous_id=anonymous, name="Cart", category="Checkout", properties={"path": "/cart"})
    client.track(anonymous_id=anonymous, event="Cart Viewed", properties={"items": 2})
    client.identify(user_id=user, anonymous_id=anonymous, traits={"loyalty": "silver"})
    client.screen(user_id=user, name="Cart", properties={"items": 2})
    client.track(anonymous_id=device, event="Product Viewed", properties={"sku": "R"})
    client.alias(previous_id=device, user_id=user)
    assert wire.of("rudder") and all(r["headers"].get("Content-Encoding") == "gzip" for r in wire.of("rudder"))

    events = timeline(reader, user)
    assert [e["type"] for e in events] == ["alias", "track", "screen", "identify", "track", "page"]
    screen, page = events[2], events[5]
    assert (screen["event"], screen["channel"], screen["context"]["platform"]) == ("Cart", "app", "app")
    assert (page["event"], page["context"]["page"]["path"]) == ("Cart", "/cart")
    assert events[4]["properties"] == {"items": 2}
    assert all(e["context"]["library"] == {"name": "analytics-python", "version": RUDDER_VERSION} for e in events)
    person = profile(reader, device)
    assert person["traits"]["loyalty"] == "silver"
    assert {anonymous, user, device} <= {i["id"] for i in person["ids"]}


def test_rudderstack_module_level_setup_with_data_plane_url(write_key, reader, wire, monkeypatch):
    # The SDK's documented set-up: module attributes, a default client created on first use, asynchronous.
    monkeypatch.setattr(rudder_analytics, "default_client", None)
    monkeypatch.setattr(rudder_analytics, "write_key", write_key)
    monkeypatch.setattr(rudder_analytics, "dataPlaneUrl", BASE_URL, raising=False)
    errors = []
    monkeypatch.setattr(rudder_analytics, "on_error", lambda e, batch: errors.append(e))
    anonymous = unique("anon")
    try:
        rudder_analytics.track(anonymous_id=anonymous, event="Wishlist Viewed", properties={"count": 3})
        rudder_analytics.identify(user_id=unique("user"), anonymous_id=anonymous, traits={"newsletter": True})
        rudder_analytics.flush()
    finally:
        if rudder_analytics.default_client is not None:
            rudder_analytics.default_client.join()
    assert errors == []
    assert wire.of("rudder") and all(r["headers"]["Content-Encoding"] == "gzip" for r in wire.of("rudder"))
    assert sorted(e["type"] for e in timeline(reader, anonymous)) == ["identify", "track"]
    assert profile(reader, anonymous)["traits"]["newsletter"] is True


# --- limits --------------------------------------------------------------------------------------------------------


def padded_properties(client, size, **fields):
    """Properties that make a message exactly `size` bytes as the SDK measures it (json.dumps of the message)."""
    _, probe = client.track(**fields, properties={"blob": ""})
    base = len(json.dumps(probe).encode())
    return {"blob": "x" * (size - base)}


def test_the_largest_events_and_batches_the_segment_sdk_sends_are_accepted(write_key, reader, wire):
    # The SDK allows 32 KB (32,768 bytes) per message and closes a batch once it has passed 475,000 bytes; the worst
    # case is a batch just under that plus one more maximal message, which must still fit intentlab's 500 KB.
    dry = segment_analytics.Client(write_key, host=BASE_URL, send=False)
    anonymous = unique("anon")
    ids = [f"big-{uuid.uuid4().hex}" for _ in range(17)]
    fields = {"anonymous_id": anonymous, "event": "Review Written", "message_id": ids[0], "timestamp": datetime.now(timezone.utc)}
    largest = padded_properties(dry, 32 * 1024 - 1, **fields)  # one byte under the SDK's own limit
    filler = padded_properties(dry, 475_000 // 15, **fields)  # 15 of these stay just under 475,000
    with segment_async(write_key) as (client, errors):
        for i, message_id in enumerate(ids):
            properties = largest if i >= 15 else filler
            client.track(anonymous_id=anonymous, event="Review Written", message_id=message_id, properties=properties,
                         timestamp=fields["timestamp"])
    assert errors == []
    sizes = [len(r["raw"]) for r in wire.of("segment")]
    assert len(sizes) == 2 and sizes[0] > 500_000, f"the first request carries the SDK's largest batch: {sizes}"
    assert sorted(e["message_id"] for e in timeline(reader, anonymous)) == sorted(ids)


def test_oversized_batches_are_refused_with_413(write_key):
    events = [
        {"type": "track", "messageId": unique("m"), "anonymousId": "big", "event": "X", "properties": {"blob": "x" * 20_000}}
        for _ in range(30)
    ]
    body = gzip.compress(json.dumps({"batch": events}).encode())
    response = requests.post(
        f"{BASE_URL}/v1/batch",
        data=body,
        auth=(write_key, ""),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


# --- refused write keys ------------------------------------------------------------------------------------------


def test_an_invalid_write_key_is_refused_by_segment_and_nothing_is_stored(reader, wire):
    anonymous = unique("anon")
    before = totals(reader)
    with pytest.raises(segment_request.APIError) as refused:
        segment_sync("il_not-a-real-key").track(anonymous_id=anonymous, event="Product Viewed")
    assert refused.value.status == 401

    with segment_async("il_not-a-real-key", max_retries=3) as (client, errors):
        client.track(anonymous_id=anonymous, event="Product Viewed")
    assert [getattr(e, "status", e) for e in errors] == [401], "reported to on_error"
    assert len(wire.of("segment")) == 2, "a 401 is not retried"
    assert is_unknown(reader, anonymous)
    assert totals(reader).get("accepted", 0) == before.get("accepted", 0)


def test_an_invalid_write_key_is_refused_by_rudderstack_and_nothing_is_stored(reader, wire):
    anonymous = unique("anon")
    before = totals(reader)
    with pytest.raises(Exception):
        rudder_sync("il_not-a-real-key").track(anonymous_id=anonymous, event="Product Viewed")
    assert [r["status"] for r in wire.of("rudder")] == [401]
    assert is_unknown(reader, anonymous)
    assert totals(reader).get("accepted", 0) == before.get("accepted", 0)


def test_rudderstack_sdk_reports_an_invalid_write_key_as_a_401_without_retrying(reader, wire):
    errors = []
    client = rudder_analytics.Client(
        "il_not-a-real-key", host=BASE_URL, max_retries=2, on_error=lambda e, batch: errors.append(e)
    )
    client.track(anonymous_id=unique("anon"), event="Product Viewed")
    client.flush()
    client.join()
    assert [type(e).__name__ for e in errors] == ["APIError"], errors
    assert errors[0].status == 401
    assert len(wire.of("rudder")) == 1, "a 401 is not retried"
