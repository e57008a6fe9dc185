from datetime import date

import pytest

from cers_groups.errors import ConfigurationError
from cers_groups.tenants import RuleSettings, Tenants, load_tenants, school_year_of


def tenants(*districts: dict) -> Tenants:
    return Tenants.model_validate({"districts": list(districts)})


def test_district_for_key_matches_only_its_own_folder():
    config = tenants({"id": "sample-usd"}, {"id": "other-usd"})

    assert config.district_for_key("incoming/sample-usd/roster.csv").id == "sample-usd"
    assert config.district_for_key("incoming/other-usd/a/b.csv").id == "other-usd"
    assert config.district_for_key("incoming/sample-usd-2/roster.csv") is None
    assert config.district_for_key("incoming/roster.csv") is None
    assert config.district_for_key("reports/sample-usd/roster.csv") is None


def test_district_defaults_secret_name_and_prefix():
    [district] = tenants({"id": "sample-usd"}).districts

    assert district.secret_name == "cers-groups/sample-usd/cers-credentials"
    assert district.prefix == "incoming/sample-usd/"


@pytest.mark.parametrize(
    ("today", "expected"),
    [(date(2026, 12, 3), 2027), (date(2027, 6, 30), 2027), (date(2027, 7, 1), 2028)],
)
def test_school_year_of_turns_over_on_july_first(today, expected):
    assert school_year_of(today) == expected


def test_rule_settings_default_years_are_current_and_next():
    assert RuleSettings().accepted_school_years(date(2026, 12, 3)) == (2027, 2028)
    assert RuleSettings(school_years=(2026,)).accepted_school_years() == (2026,)


def test_plain_http_endpoint_needs_local_mark_and_loopback():
    local = {"cers_endpoint": "http://127.0.0.1:8080/groups/imports/"}

    assert tenants({"id": "d1", **local, "cers_endpoint_is_local": True})
    with pytest.raises(ValueError, match="https"):
        tenants({"id": "d1", **local})
    with pytest.raises(ValueError, match="https"):
        tenants(
            {
                "id": "d1",
                "cers_endpoint": "http://cers.example.org/groups/imports/",
                "cers_endpoint_is_local": True,
            }
        )


def test_load_tenants_names_the_broken_field(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text('{"districts": [{"id": "Bad District"}]}')

    with pytest.raises(ConfigurationError, match=r"districts\.0\.id"):
        load_tenants(path)


def test_load_tenants_refuses_duplicate_ids(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text('{"districts": [{"id": "d1"}, {"id": "d1"}]}')

    with pytest.raises(ConfigurationError, match="unique"):
        load_tenants(path)
