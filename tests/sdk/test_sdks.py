"""The Segment-compatible tracking API, driven by the real Segment and RudderStack Python SDKs against a running
server, and checked by what intentlab stored (profiles, timelines, counters) — not by status codes alone.

Run through `make test-sdk` (scripts/with-server.sh provides BASE_URL and the admin's credentials).
What the SDKs send, from their source: segment-analytics-python posts `{"batch": [...], "sentAt", "writeKey"}` to
`/v1/batch` with the write key as HTTP Basic user name, optionally gzip; rudder-sdk-python does the same with gzip
on by default.
"""

import gzip
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
import rudderstack.analytics as rudder_analytics
import segment.analytics as segment_analytics

BASE_URL = os.environ["BASE_URL"]


@pytest.fixture(scope="module")
def admin():
    session = requests.Session()
    response = session.post(
        f"{BASE_URL}/api/v1/auth/login",
        json={"email": os.environ["E2E_ADMIN_EMAIL"], "password": os.environ["E2E_ADMIN_PASSWORD"]},
    )
    response.raise_for_status()
    return session


@pytest.fixture(scope="module")
def write_key(admin):
    response = admin.post(f"{BASE_URL}/api/v1/api-keys", json={"name": "sdk-tests", "scopes": ["ingest", "read"]})
    response.raise_for_status()
    return response.json()["secret"]


@pytest.fixture(scope="module")
def reader(write_key):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {write_key}"
    return session


def segment_client(key, **options):
    errors = []
    client = segment_analytics.Client(
        key, host=BASE_URL, sync_mode=True, max_retries=0, on_error=lambda e, batch: errors.append(e), **options
    )
    return client, errors


def rudder_client(key):
    return rudder_analytics.Client(key, host=BASE_URL, sync_mode=True, gzip=True, max_retries=0)


def timeline(reader, unit):
    response = reader.get(f"{BASE_URL}/api/v1/profiles/{unit}/events", params={"limit": 100})
    response.raise_for_status()
    return response.json()["events"]


def profile(reader, unit):
    response = reader.get(f"{BASE_URL}/api/v1/profiles/{unit}")
    response.raise_for_status()
    return response.json()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_segment_sdk_events_are_stored_with_their_properties_context_and_corrected_time(write_key, reader):
    client, errors = segment_client(write_key)
    anonymous = unique("anon")
    client.page(anonymous_id=anonymous, name="Product", properties={"path": "/p/42", "url": "https://shop.example/p/42?utm_medium=cpc&utm_source=google"})
    client.track(anonymous_id=anonymous, event="Video Watched", properties={"percent": 90, "sku": "SKU-42"})
    client.track(anonymous_id=anonymous, event="Product Added", properties={"sku": "SKU-42", "price": 59.0})
    assert errors == []

    events = timeline(reader, anonymous)
    assert [e["event"] for e in events] == ["Product Added", "Video Watched", "Product"]
    video = events[1]
    assert video["type"] == "track"
    assert video["properties"] == {"percent": 90, "sku": "SKU-42"}
    assert video["context"]["library"]["name"] == "analytics-python"
    page = events[2]
    assert page["type"] == "page"
    assert page["channel"] == "ads", "utm_medium=cpc in the page URL makes it paid traffic"
    assert page["context"]["page"]["path"] == "/p/42"
    now = datetime.now(timezone.utc)
    for event in events:
        at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        assert abs(now - at) < timedelta(minutes=2), event["timestamp"]

    intent = reader.get(f"{BASE_URL}/api/v1/units/{anonymous}/intent").json()
    assert intent["known"] is True
    assert {s["signal"] for s in intent["top_signals"]} >= {"product-added", "video-watched-75"}


def test_identify_and_alias_stitch_anonymous_history_to_the_user(write_key, reader):
    client, errors = segment_client(write_key)
    anonymous, user = unique("anon"), unique("user")
    client.track(anonymous_id=anonymous, event="Product Viewed", properties={"sku": "A"})
    client.identify(user_id=user, anonymous_id=anonymous, traits={"email": f"{user}@shop.example", "plan": "gold"})
    client.track(user_id=user, event="Checkout Started", properties={"value": 80})
    other_device = unique("device")
    client.track(anonymous_id=other_device, event="Product Added to Wishlist", properties={"sku": "B"})
    client.alias(previous_id=other_device, user_id=user)
    assert errors == []

    person = profile(reader, user)
    ids = {i["id"] for i in person["ids"]}
    assert {anonymous, user, other_device} <= ids
    assert person["traits"]["plan"] == "gold"
    names = [e["event"] for e in timeline(reader, other_device) if e["type"] == "track"]
    assert sorted(names) == ["Checkout Started", "Product Added to Wishlist", "Product Viewed"]


def test_a_repeated_message_id_is_stored_once(write_key, reader):
    client, errors = segment_client(write_key)
    anonymous, message = unique("anon"), unique("msg")
    for _ in range(3):
        client.track(anonymous_id=anonymous, event="Size Guide Viewed", message_id=message)
    assert errors == []
    assert [e["message_id"] for e in timeline(reader, anonymous)] == [message]


def test_withheld_analytics_consent_is_counted_not_stored(write_key, reader):
    client, errors = segment_client(write_key)
    anonymous = unique("anon")
    before = reader.get(f"{BASE_URL}/api/v1/ingest/stats").json()["totals"].get("consent_dropped", 0)
    consent = {"consent": {"categoryPreferences": {"Analytics": False, "Advertising": True}}}
    client.track(anonymous_id=anonymous, event="Product Viewed", context=consent)
    assert errors == []
    assert reader.get(f"{BASE_URL}/api/v1/profiles/{anonymous}").status_code == 404
    after = reader.get(f"{BASE_URL}/api/v1/ingest/stats").json()["totals"].get("consent_dropped", 0)
    assert after == before + 1


def test_gzip_bodies_from_the_segment_sdk_are_understood(write_key, reader):
    client, errors = segment_client(write_key, gzip=True)
    anonymous = unique("anon")
    client.track(anonymous_id=anonymous, event="Price Alert Subscribed", properties={"sku": "G"})
    assert errors == []
    assert [e["event"] for e in timeline(reader, anonymous)] == ["Price Alert Subscribed"]


def test_rudderstack_sdk_sends_gzip_batches_that_are_stored(write_key, reader, monkeypatch):
    # The SDK compresses by default; check that it really does, by watching its HTTP session.
    import rudderstack.analytics.request as rudder_request

    seen = []
    original_post = rudder_request._session.post

    def spy(url, **kwargs):
        seen.append(kwargs.get("headers", {}).get("Content-Encoding"))
        return original_post(url, **kwargs)

    monkeypatch.setattr(rudder_request._session, "post", spy)
    client = rudder_client(write_key)
    anonymous, user = unique("anon"), unique("user")
    client.track(anonymous_id=anonymous, event="Cart Viewed", properties={"items": 2})
    client.identify(user_id=user, anonymous_id=anonymous, traits={"loyalty": "silver"})
    client.screen(user_id=user, name="Cart", properties={"items": 2})
    assert seen and all(encoding == "gzip" for encoding in seen), seen

    events = timeline(reader, user)
    assert [e["type"] for e in events] == ["screen", "identify", "track"]
    assert events[0]["channel"] == "app", "screens come from apps"
    assert profile(reader, anonymous)["traits"]["loyalty"] == "silver"


def test_an_invalid_write_key_is_refused_and_nothing_is_stored(reader):
    client, errors = segment_client("il_not-a-real-key")
    anonymous = unique("anon")
    with pytest.raises(Exception) as refused:
        client.track(anonymous_id=anonymous, event="Product Viewed")
    assert "401" in str(refused.value) or "invalid" in str(refused.value).lower()
    assert reader.get(f"{BASE_URL}/api/v1/profiles/{anonymous}").status_code == 404


def test_oversized_batches_are_refused_with_413(write_key):
    events = [
        {"type": "track", "messageId": unique("m"), "anonymousId": "big", "event": "X", "properties": {"blob": "x" * 20_000}}
        for _ in range(30)
    ]
    body = gzip.compress(requests.models.complexjson.dumps({"batch": events}).encode())
    response = requests.post(
        f"{BASE_URL}/v1/batch",
        data=body,
        auth=(write_key, ""),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
