"""Settings every test needs before any library reads its environment."""

import os

# jsii prints a Node end-of-life banner on every start unless told the major version is known.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# X-Ray has no daemon here; Tracer still wraps the handlers but sends nothing.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")


def pytest_configure(config):
    """The privacy scan watches the whole session (tests/privacy.py)."""
    from tests.privacy import PrivacyPlugin

    config.pluginmanager.register(PrivacyPlugin(), "privacy-scan")
