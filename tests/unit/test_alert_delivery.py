import json
import shlex

from cers_groups.alert_delivery import (
    Undelivered,
    alert_addresses,
    compose_subscription_alert,
    undelivered_addresses,
)
from cers_groups.tenants import Tenants

TOPIC = "arn:aws:sns:us-west-2:123456789012:alerts"
TENANTS = Tenants.model_validate(
    {
        "operator_emails": ["ops@vendor.example.org"],
        "districts": [
            {"id": "north-usd", "alert_emails": ["it@north.example.org", "ops@vendor.example.org"]},
            {"id": "south-usd", "alert_emails": ["it@south.example.org", "it@north.example.org"]},
        ],
    }
)


def subscription(endpoint: str, arn: str = f"{TOPIC}:0d6f", protocol: str = "email") -> dict:
    return {"Endpoint": endpoint, "Protocol": protocol, "SubscriptionArn": arn, "TopicArn": TOPIC}


def test_alert_addresses_name_the_districts_each_address_hears_about():
    assert alert_addresses(TENANTS) == {
        "ops@vendor.example.org": None,
        "it@north.example.org": ("north-usd", "south-usd"),
        "it@south.example.org": ("south-usd",),
    }


def test_undelivered_addresses_are_pending_or_missing_ones():
    subscriptions = [
        subscription("ops@vendor.example.org"),
        subscription("IT@north.example.org", arn="PendingConfirmation"),
        subscription(f"{TOPIC}-mailbox", protocol="sqs"),
        subscription("old-it@north.example.org", arn="PendingConfirmation"),
    ]

    assert undelivered_addresses(subscriptions, TENANTS) == [
        Undelivered("it@north.example.org", True, ("north-usd", "south-usd")),
        Undelivered("it@south.example.org", False, ("south-usd",)),
        Undelivered("old-it@north.example.org", True, ()),
    ]


def test_undelivered_addresses_none_when_every_address_confirmed():
    confirmed = [subscription(address) for address in alert_addresses(TENANTS)]

    assert undelivered_addresses(confirmed, TENANTS) == []


def test_subscription_alert_says_who_misses_what_and_how_to_resubscribe():
    alert = compose_subscription_alert(
        [
            Undelivered("it@north.example.org", True, ("north-usd",)),
            Undelivered("ops@vendor.example.org", False, None),
        ],
        TOPIC,
    )

    assert alert.subject == "CERS groups [operators] 2 alert addresses not receiving alerts"
    assert "Waiting for confirmation" in alert.body
    assert "  - it@north.example.org (alerts of north-usd)" in alert.body
    assert "Not subscribed at all" in alert.body
    assert "  - ops@vendor.example.org (operator: every alert)" in alert.body
    [district_command] = [line for line in alert.body.splitlines() if "it@north" in line][-1:]
    words = shlex.split(district_command)
    assert words[:9] == [
        "aws", "sns", "subscribe", "--topic-arn", TOPIC, "--protocol", "email",
        "--notification-endpoint", "it@north.example.org",
    ]  # fmt: skip
    assert words[9] == "--attributes"
    policy = json.loads(json.loads(words[10])["FilterPolicy"])
    assert policy == {"district": ["north-usd"]}
    assert (
        f"  aws sns subscribe --topic-arn {TOPIC} --protocol email --notification-endpoint"
        " ops@vendor.example.org\n"
    ) in alert.body
