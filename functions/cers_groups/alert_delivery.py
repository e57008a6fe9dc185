"""Alert delivery, watched: which alert addresses would not receive an alert today.

An e-mail subscription receives nothing until its address follows the link in the confirmation
e-mail SNS sends; AWS lists it as ``PendingConfirmation`` meanwhile and deletes it after three
days unconfirmed, after which the address is not subscribed at all (a redeploy does not bring
it back). A scheduled check lists the alert topic's subscriptions, compares them with the
tenants file, and tells the operators about both cases.
"""

import json
from dataclasses import dataclass

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from cers_groups.alerts import Alert, counted, fit_subject, publish_alert
from cers_groups.observability import logger, metrics
from cers_groups.resources import ALERT_DISTRICT_ATTRIBUTE, OPERATORS_AUDIENCE
from cers_groups.settings import Settings
from cers_groups.tenants import Tenants

PENDING_CONFIRMATION = "PendingConfirmation"
EVERY_ALERT = None  # an operator's address: no filter


@dataclass(frozen=True)
class Undelivered:
    """An address that alerts do not reach, and the districts whose alerts it should get."""

    address: str
    pending: bool  # True: waiting for confirmation; False: not subscribed at all
    districts: tuple[str, ...] | None  # None: every alert (an operator)


def check_alert_subscriptions(settings: Settings) -> list[Undelivered]:
    """Report unconfirmed and missing alert subscriptions to the operators, and as metrics."""
    undelivered = undelivered_addresses(
        list_subscriptions(settings.alert_topic_arn), settings.tenants
    )
    pending = sum(1 for item in undelivered if item.pending)
    metrics.add_metric(name="AlertSubscriptionsPending", unit=MetricUnit.Count, value=pending)
    metrics.add_metric(
        name="AlertSubscriptionsMissing", unit=MetricUnit.Count, value=len(undelivered) - pending
    )
    if undelivered:
        alert = compose_subscription_alert(undelivered, settings.alert_topic_arn)
        publish_alert(settings.alert_topic_arn, alert, audience=OPERATORS_AUDIENCE)
        logger.warning(
            "Alert subscriptions not confirmed", pending=pending, missing=len(undelivered) - pending
        )
    return undelivered


def list_subscriptions(topic_arn: str) -> list[dict]:
    paginator = boto3.client("sns").get_paginator("list_subscriptions_by_topic")
    return [
        subscription
        for page in paginator.paginate(TopicArn=topic_arn)
        for subscription in page["Subscriptions"]
    ]


def alert_addresses(tenants: Tenants) -> dict[str, tuple[str, ...] | None]:
    """Every alert address of the tenants file and the districts it hears about (None: all)."""
    addresses: dict[str, tuple[str, ...] | None] = dict.fromkeys(tenants.operator_emails)
    for district in tenants.districts:
        for address in district.alert_emails:
            if address in addresses and addresses[address] is EVERY_ALERT:
                continue
            addresses[address] = (*(addresses.get(address) or ()), district.id)
    return addresses


def undelivered_addresses(subscriptions: list[dict], tenants: Tenants) -> list[Undelivered]:
    """Tenants-file addresses whose e-mail subscription is pending or missing, and any other
    subscription of the topic still pending confirmation."""
    emails = [item for item in subscriptions if item["Protocol"] == "email"]
    pending = {item["Endpoint"].lower() for item in emails if _pending(item)}
    confirmed = {item["Endpoint"].lower() for item in emails if not _pending(item)}
    expected = alert_addresses(tenants)
    found = [
        Undelivered(address, address.lower() in pending, districts)
        for address, districts in expected.items()
        if address.lower() not in confirmed
    ]
    known = {address.lower() for address in expected}
    found += [
        Undelivered(item["Endpoint"], True, ())
        for item in subscriptions
        if _pending(item) and item["Endpoint"].lower() not in known
    ]
    return found


def compose_subscription_alert(undelivered: list[Undelivered], topic_arn: str) -> Alert:
    pending = [item for item in undelivered if item.pending]
    missing = [item for item in undelivered if not item.pending]
    addresses = counted(len(undelivered), "alert address", "alert addresses")
    subject = f"CERS groups [{OPERATORS_AUDIENCE}] {addresses} not receiving alerts"
    sections = [
        "Alert e-mails do not reach these addresses, so they will not hear about failed files.",
        _addresses(
            "Waiting for confirmation (SNS sent them an e-mail titled 'AWS Notification -"
            " Subscription Confirmation'; nothing arrives until its link is followed)",
            pending,
        ),
        _addresses(
            "Not subscribed at all (an unconfirmed subscription is deleted after three days, and"
            " deploying the stack again does not bring it back)",
            missing,
        ),
        "What to do next:\nAsk each address to follow the link in its confirmation e-mail. To"
        " send a new confirmation e-mail, subscribe the address again:\n"
        + "\n".join(
            f"  {_subscribe_command(item, topic_arn)}"
            for item in undelivered
            if item.districts != ()
        ),
        "This check runs every day until every address is confirmed.",
    ]
    return Alert(
        subject=fit_subject(subject), body="\n\n".join(part for part in sections if part) + "\n"
    )


def _pending(subscription: dict) -> bool:
    return subscription["SubscriptionArn"] == PENDING_CONFIRMATION


def _addresses(title: str, items: list[Undelivered]) -> str:
    if not items:
        return ""
    return "\n".join([f"{title}:", *(f"  - {item.address} ({_hears(item)})" for item in items)])


def _hears(item: Undelivered) -> str:
    if item.districts is EVERY_ALERT:
        return "operator: every alert"
    if not item.districts:
        return "not in the tenants file"
    return f"alerts of {', '.join(item.districts)}"


def _subscribe_command(item: Undelivered, topic_arn: str) -> str:
    command = (
        f"aws sns subscribe --topic-arn {topic_arn} --protocol email"
        f" --notification-endpoint {item.address}"
    )
    if item.districts:
        policy = json.dumps({ALERT_DISTRICT_ATTRIBUTE: list(item.districts)}, separators=(",", ":"))
        command += f" --attributes '{{\"FilterPolicy\":{json.dumps(policy)}}}'"
    return command
