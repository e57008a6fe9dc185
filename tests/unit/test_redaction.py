import pytest
from hypothesis import given
from hypothesis import strategies as st

from cers_groups.redaction import redact_cers_message
from cers_groups.roster import HEADER

HEADER_LINE = ",".join(HEADER)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Row: 3 Failure: School [99123450122222] can not be found",
            "Row: 3 Failure: School [...] can not be found",
        ),
        ("Row: 9 Failure: Invalid subject: Science", "Row: 9 Failure: Invalid subject: ..."),
        ("Row: 4 Failure: Invalid school year: 1718", "Row: 4 Failure: Invalid school year: ..."),
        (
            "Row: 7 Failure: Record is attempting to re-define group subject from [Math] to [ELA]",
            "Row: 7 Failure: Record is attempting to re-define group subject from [...] to [...]",
        ),
        (
            "Row: 1000000 Failure: School [99123450133333] is out-of-order: sort CSV by school,"
            " group, year",
            "Row: 1000000 Failure: School [...] is out-of-order: sort CSV by school, group, year",
        ),
        (
            "Duplicate entry '8977605235-Gr5_Math-2027' for key 'PRIMARY'",
            "Duplicate entry '...' for key '...'",
        ),
        (
            "Duplicate entry 'o'brien@northusd.example.org-12' for key 'uk_user_group'",
            "Duplicate entry '...' for key '...'",
        ),
        (
            "Data too long for column 'group_name' at row 1",
            "Data too long for column 'group_name' at row 1",
        ),
        (
            "Incorrect integer value: 'twenty' for column 'school_year' at row 2",
            "Incorrect integer value: '...' for column 'school_year' at row 2",
        ),
        ('Field "Gr5 Math" is not valid', 'Field "..." is not valid'),
        ("Error reading file [Invalid char [x] between tokens]", "Error reading file [...]"),
        ("Row: 2 Failure: School [99123450122222 can not be found", "Row: 2 Failure: School [..."),
        ("Student 8977605235 could not be linked", "Student ... could not be linked"),
        ("No user jgarcia@sampleusd.example.org", "No user ..."),
        (f"Invalid headers. Headers must be in order: [{HEADER_LINE}]", None),
        ("With 12 additional validation failures", None),
        ("Unable to locate GROUPS/ab/cd/0A1B via the archive service", None),
        ("Empty file", None),
        ("2 groups accepted for school 7.", None),
    ],
)
def test_redact_cers_message_blanks_values_and_keeps_the_rest(message, expected):
    assert redact_cers_message(message) == (message if expected is None else expected)


def test_redact_cers_message_works_line_by_line():
    message = "Row: 1 Failure: School [1] can not be found\nRow: 2 Failure: Invalid subject: Art"

    assert redact_cers_message(message) == (
        "Row: 1 Failure: School [...] can not be found\nRow: 2 Failure: Invalid subject: ..."
    )


# Values as they can stand in a roster row: letters, digits, spaces and the punctuation that
# logins and names carry (apostrophes included), at least three characters long.
VALUES = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N"], include_characters=" ._-@'+"),
    min_size=3,
    max_size=30,
).filter(lambda value: value.strip(" ._-@'+") and "' for " not in value)

TEMPLATES = [
    "Row: 5 Failure: School [{}] can not be found",
    "Row: 5 Failure: School [{}] is out-of-order: sort CSV by school, group, year",
    "Row: 5 Failure: Invalid subject: {}",
    "Row: 5 Failure: Invalid school year: {}",
    "Duplicate entry '{}' for key 'PRIMARY'",
    "Incorrect string value: '{}' for column 'group_user_login' at row 5",
    'Field "{}" is not valid',
]


def shown(value: str, redacted: str, template: str) -> bool:
    """Whether the value is in the redacted text more often than the template's own words
    hold it (a value such as "200" or "for" can be part of the wording)."""
    value = value.strip()
    return redacted.count(value) > template.replace("{}", "\0").count(value)


@given(value=VALUES, template=st.sampled_from(TEMPLATES))
def test_redact_cers_message_never_shows_a_quoted_value(value, template):
    redacted = redact_cers_message(template.format(value))

    assert not shown(value, redacted, template)


@given(group=VALUES, school=VALUES)
def test_redact_cers_message_never_shows_either_value_of_the_group_size_failure(group, school):
    template = (
        "Row: 9 Failure: School [{}] Group [{}] contains 201 students.  "
        "Maximum students allowed per group is 200"
    )

    redacted = redact_cers_message(template.format(school, group))

    assert not shown(group, redacted, template) and not shown(school, redacted, template)
