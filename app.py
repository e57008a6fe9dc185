"""CDK entry point: `npx aws-cdk@2 synth` (see cdk.json) or `.venv/bin/python app.py`."""

import os

from aws_cdk import App

from cers_groups.errors import ConfigurationError
from infra.nag import add_checks
from infra.stack import stack_from_context


def main() -> None:
    # The CDK CLI passes its output directory in CDK_OUTDIR; run by hand, write to cdk.out.
    app = App(outdir=None if "CDK_OUTDIR" in os.environ else "cdk.out")
    try:
        stack = stack_from_context(app)
    except ConfigurationError as error:
        # A broken tenants file: its message says what to fix, a traceback would only bury it.
        raise SystemExit(f"cers-groups: {error}") from None
    # cdk-nag's AWS Solutions checks: an unsuppressed finding fails `cdk synth`.
    add_checks(stack)
    app.synth()


if __name__ == "__main__":
    main()
