"""cdk-nag: the AWS Solutions checks, and suppressions that each say why.

cdk-nag 2.x (pinned in requirements.txt) keeps the Aspects/NagSuppressions API; 3.x is a
rewrite around `Validations` that this project has not moved to.
"""

from collections.abc import Iterable

from aws_cdk import Aspects
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions
from constructs import IConstruct

# A suppression's reason must say something: cdk-nag itself asks for 10 characters.
MIN_REASON_LENGTH = 40


def add_checks(scope: IConstruct) -> None:
    """Run the AWS Solutions pack on everything under ``scope`` when it is synthesized.

    Findings become error and warning annotations: `cdk synth` fails on an unsuppressed
    error, and the tests assert that there are none of either.
    """
    Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))


def suppress(
    construct: IConstruct,
    rule: str,
    reason: str,
    applies_to: Iterable[str | dict[str, str]] = (),
    *,
    children: bool = True,
) -> None:
    """Accept one finding of ``rule`` on ``construct`` (and its children), for ``reason``.

    ``applies_to`` narrows a wildcard finding (IAM4, IAM5) to the exact actions or resources
    that were reviewed (``{"regex": ...}`` for a resource whose logical id CDK hashes);
    anything else the rule finds there still fails.
    """
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"a suppression of {rule} needs a real reason, not {reason!r}")
    suppression = NagPackSuppression(
        id=f"AwsSolutions-{rule}", reason=reason, applies_to=list(applies_to) or None
    )
    NagSuppressions.add_resource_suppressions(construct, [suppression], apply_to_children=children)
