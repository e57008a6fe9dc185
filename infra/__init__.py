"""CDK infrastructure for cers-groups."""
