"""The product's error vocabulary. Adapters wrap library errors in these, chained with ``from``."""


class CersGroupsError(Exception):
    """Base of every error this product raises on purpose."""


class ConfigurationError(CersGroupsError):
    """The deployment or the district's secret is set up wrongly; a person must fix it."""
