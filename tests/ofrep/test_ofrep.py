"""OFREP conformance, checked with the real OpenFeature Python SDK and its OFREP provider against a running server.

Run through `make test-ofrep` (scripts/with-server.sh provides BASE_URL and the admin's credentials).
"""

import os
import uuid

import pytest
import requests
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

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
def experiment(admin):
    key = f"ofrep-{uuid.uuid4().hex[:8]}"
    body = {
        "key": key,
        "name": "Price-drop alert placement",
        "hypothesis": {"primary_metric": "conversion", "direction": "increase"},
        "variations": [
            {"key": "below-price", "weight": 0.5, "payload": {"placement": "below"}},
            {"key": "beside-cart", "weight": 0.5, "payload": {"placement": "beside"}},
        ],
        "targeting": {"country": {"$in": ["DE", "AT"]}},
    }
    admin.post(f"{BASE_URL}/api/v1/experiments", json=body).raise_for_status()
    admin.post(f"{BASE_URL}/api/v1/experiments/{key}/start").raise_for_status()
    return key


@pytest.fixture(scope="module")
def assign_key(admin):
    response = admin.post(f"{BASE_URL}/api/v1/api-keys", json={"name": "ofrep-test", "scopes": ["assign"]})
    response.raise_for_status()
    return response.json()["secret"]


@pytest.fixture(scope="module")
def client(assign_key):
    api.set_provider(OFREPProvider(BASE_URL, headers_factory=lambda: {"Authorization": f"Bearer {assign_key}"}))
    return api.get_client()


@pytest.fixture(scope="module")
def reference(assign_key):
    """intentlab's own assignment API, asked with the same key: what the OFREP answers must agree with."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {assign_key}"
    return session


def expected_variation(reference, key, unit, country):
    response = reference.get(f"{BASE_URL}/api/v1/experiments/{key}/assignment", params={"unit_id": unit, "country": country})
    response.raise_for_status()
    return response.json()


def test_a_targeted_unit_gets_its_variation_as_a_split(client, reference, experiment):
    context = EvaluationContext(targeting_key="shopper-17", attributes={"country": "DE"})
    details = client.get_string_details(experiment, "fallback", context)
    expected = expected_variation(reference, experiment, "shopper-17", "DE")
    assert details.error_code is None, details.error_message
    assert details.value == expected["variation"]
    assert details.variant == expected["variation"]
    assert details.reason == Reason.SPLIT
    assert details.flag_metadata["inExperiment"] is True


def test_the_payload_is_an_object_flag(client, reference, experiment):
    context = EvaluationContext(targeting_key="shopper-17", attributes={"country": "DE"})
    value = client.get_object_value(f"{experiment}.payload", {"placement": "fallback"}, context)
    expected = expected_variation(reference, experiment, "shopper-17", "DE")
    assert value == {"placement": "below" if expected["variation"] == "below-price" else "beside"}


def test_untargeted_units_get_the_control_as_default(client, experiment):
    context = EvaluationContext(targeting_key="shopper-17", attributes={"country": "FR"})
    details = client.get_string_details(experiment, "fallback", context)
    assert details.value == "below-price"
    assert details.reason == Reason.DEFAULT
    assert details.flag_metadata["assignmentReason"] == "not_targeted"


def test_unknown_flags_are_flag_not_found(client):
    details = client.get_string_details("no-such-experiment", "fallback", EvaluationContext(targeting_key="u"))
    assert details.value == "fallback"
    assert details.error_code == ErrorCode.FLAG_NOT_FOUND


def test_a_missing_targeting_key_is_reported(client, experiment):
    details = client.get_string_details(experiment, "fallback", EvaluationContext(attributes={"country": "DE"}))
    assert details.value == "fallback"
    assert details.error_code == ErrorCode.TARGETING_KEY_MISSING


def test_asking_for_the_wrong_type_is_a_type_mismatch(client, experiment):
    details = client.get_boolean_details(experiment, False, EvaluationContext(targeting_key="u", attributes={"country": "DE"}))
    assert details.value is False
    assert details.error_code == ErrorCode.TYPE_MISMATCH


def test_without_a_key_the_provider_reports_the_refusal(experiment):
    api.set_provider(OFREPProvider(BASE_URL), domain="anonymous")
    details = api.get_client("anonymous").get_string_details(experiment, "fallback", EvaluationContext(targeting_key="u"))
    assert details.value == "fallback"
    assert details.error_code == ErrorCode.GENERAL
    assert "unauthorized" in details.error_message


def test_bulk_evaluation_has_an_etag_and_cors(admin, experiment):
    secret = admin.post(f"{BASE_URL}/api/v1/api-keys", json={"name": "bulk", "scopes": ["assign"]}).json()["secret"]
    headers = {"X-API-Key": secret, "Origin": "https://shop.example"}
    body = {"context": {"targetingKey": "shopper-17", "country": "AT"}}
    first = requests.post(f"{BASE_URL}/ofrep/v1/evaluate/flags", json=body, headers=headers)
    assert first.status_code == 200
    assert "ETag" in first.headers.get("Access-Control-Expose-Headers", "").replace("etag", "ETag")
    flags = {flag["key"]: flag for flag in first.json()["flags"]}
    assert flags[experiment]["reason"] == "SPLIT"
    assert isinstance(flags[f"{experiment}.payload"]["value"], dict)

    etag = first.headers["ETag"]
    again = requests.post(f"{BASE_URL}/ofrep/v1/evaluate/flags", json=body, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304

    other = requests.post(
        f"{BASE_URL}/ofrep/v1/evaluate/flags",
        json={"context": {"targetingKey": "someone-else", "country": "AT"}},
        headers={**headers, "If-None-Match": etag},
    )
    assert other.status_code == 200, "the ETag depends on the context"

    missing = requests.post(f"{BASE_URL}/ofrep/v1/evaluate/flags", json={"context": {}}, headers=headers)
    assert missing.status_code == 400
    assert missing.json()["errorCode"] == "TARGETING_KEY_MISSING"

    garbage = requests.post(f"{BASE_URL}/ofrep/v1/evaluate/flags", data="{not json", headers=headers)
    assert garbage.status_code == 400
    assert garbage.json()["errorCode"] == "PARSE_ERROR"

    preflight = requests.options(
        f"{BASE_URL}/ofrep/v1/evaluate/flags",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-api-key,content-type,if-none-match"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_the_configuration_endpoint_describes_the_server():
    config = requests.get(f"{BASE_URL}/ofrep/v1/configuration").json()
    assert config["name"] == "intentlab"
    assert "string" in config["capabilities"]["flagEvaluation"]["supportedTypes"]
