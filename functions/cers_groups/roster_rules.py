"""The roster rules: one entry per rule, with its stable id, severity, source and message.

Ids never change (alerts, reports, tests and SIS vendors rely on them). A message says what is
wrong and what to do, and is filled in only with numbers, column names and the district's own
settings: never with a value from the file, because messages go into e-mails and logs.

Sources:
- ``cers``: the CERS import service enforces it (or its loader breaks on it).
- ``california``: California's integration guide for student groups asks for it.
- ``derived``: needed so that what CERS validates is what CERS loads, or so that the file says
  what the district meant; CERS itself may accept such a file and store something else.
"""

from dataclasses import dataclass
from enum import StrEnum

HEADER = (
    "group_name",
    "school_natural_id",
    "school_year",
    "subject_code",
    "student_ssid",
    "group_user_login",
)
HEADER_LINE = ",".join(HEADER)

MAX_STUDENTS_PER_GROUP = 200
MAX_GROUP_NAME_LENGTH = 100
MAX_SCHOOL_ID_LENGTH = 40
MAX_SUBJECT_LENGTH = 10
MAX_SSID_LENGTH = 65
MAX_LOGIN_LENGTH = 255
MAX_FILE_NAME_LENGTH = 250
MAX_FILE_BYTES = 500 * 1024 * 1024
MAX_LINE_CHARS = 65_536
SSID_DIGITS = 10
CDS_DIGITS = 14


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Source(StrEnum):
    CERS = "cers"
    CALIFORNIA = "california"
    DERIVED = "derived"


SOURCE_LABELS = {
    Source.CERS: "CERS server rule",
    Source.CALIFORNIA: "California guide",
    Source.DERIVED: "derived: CERS accepts it but stores something else or breaks later",
}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    sources: tuple[Source, ...]
    message: str

    @property
    def source_label(self) -> str:
        return "; ".join(SOURCE_LABELS[source] for source in self.sources)


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule. ``row`` is the N-th data record after the header; None for the file."""

    rule: str
    row: int | None
    message: str
    severity: Severity = Severity.ERROR


_E, _W = Severity.ERROR, Severity.WARNING
_CERS, _CA, _DERIVED = (Source.CERS,), (Source.CALIFORNIA,), (Source.DERIVED,)
_SAVE_AS_CSV = "Open it in Excel and use Save As, type 'CSV UTF-8 (Comma delimited) (*.csv)'."

_RULE_LIST = (
    # --- the file as a whole ------------------------------------------------------------------
    Rule(
        "empty-file",
        _E,
        _CERS,
        "The file is empty. Export the roster again: the first line must be the header "
        f"{HEADER_LINE} and each further line one student or teacher of a group.",
    ),
    Rule(
        "no-data-rows",
        _E,
        _CERS,
        "The file has a header but no data rows (CERS answers 'Empty file'). Add one line per "
        "student or teacher of each group below the header.",
    ),
    Rule(
        "spreadsheet-file",
        _E,
        _DERIVED,
        "This is an Excel workbook (or another zip archive) with a .csv name, not a CSV text "
        f"file. {_SAVE_AS_CSV}",
    ),
    Rule(
        "binary-file",
        _E,
        _DERIVED,
        "This is not a text file (it holds binary data). Export the roster as a CSV text file.",
    ),
    Rule(
        "utf16",
        _E,
        _DERIVED,
        "The file is saved as UTF-16 ('Unicode Text'); CERS reads only UTF-8 and would see "
        f"neither the header nor the rows. {_SAVE_AS_CSV}",
    ),
    Rule(
        "not-utf8",
        _E,
        _DERIVED,
        "The file is not valid UTF-8 from this row on; CERS would silently replace the "
        "characters it cannot read. {hint}",
    ),
    Rule(
        "delimiter-not-comma",
        _E,
        _CERS,
        "The columns are separated by {delimiter}, but CERS reads only commas: it would see the "
        "whole line as one column. Export the roster as comma-separated values.",
    ),
    Rule(
        "header-mismatch",
        _E,
        _CERS,
        f"The first line must be exactly {HEADER_LINE}: six column names in this order, "
        "separated by commas, with no spaces and no extra columns. {hint}",
    ),
    Rule(
        "header-not-canonical",
        _W,
        _DERIVED,
        "The header names are right but written {how}. CERS accepts it; write the header exactly "
        f"as {HEADER_LINE} (lower case, no quotes). 'cers-groups fix' rewrites it.",
    ),
    Rule(
        "line-too-long",
        _E,
        _DERIVED,
        f"This line is longer than {MAX_LINE_CHARS:,} characters, so the file was not read "
        "further. A roster line is a few hundred characters at most: check that the file is a "
        "roster CSV with a line break after every row.",
    ),
    Rule(
        "line-endings-mixed",
        _E,
        _DERIVED,
        "Line endings change here: the header ends with {header_eol} but {count:,} later lines "
        "end with another kind. CERS's loader splits lines only on the first kind, so it "
        "would merge or break rows. Use one kind throughout (CRLF is safest); 'cers-groups fix' "
        "does that.",
    ),
    Rule(
        "too-many-rows",
        _E,
        (Source.CALIFORNIA, Source.CERS),
        "The file has {rows:,} data rows; this district sends at most {row_limit:,} per file "
        "(CERS accepts at most 1,000,000). The pipeline splits such a file at school "
        "boundaries into parts it sends in order; by hand, use 'cers-groups split'.",
    ),
    Rule(
        "file-too-large",
        _E,
        _CERS,
        "The file is {size_mb:,} MB; CERS accepts at most 500 MB per upload. Split it into "
        "several files at school boundaries ('cers-groups split').",
    ),
    Rule(
        "file-over-size-limit",
        _E,
        _CERS,
        "The file is {size}; this district's files may be at most {limit}, so the file was "
        "not read. Split it into several files at school boundaries and send the parts "
        "('cers-groups split' does that).",
    ),
    Rule(
        "file-name-too-long",
        _E,
        _CERS,
        f"The file name has {{length}} characters; CERS stores at most {MAX_FILE_NAME_LENGTH} "
        "(it becomes the import's batch name). Use a shorter file name.",
    ),
    # --- characters and fields ------------------------------------------------------------------
    Rule(
        "blank-line",
        _E,
        _DERIVED,
        "A blank line follows {where}. CERS's validator skips it, but its loader turns it into "
        "an empty row: delete every blank line.",
    ),
    Rule(
        "field-count",
        _E,
        _CERS,
        "This row has {fields} fields; every row needs exactly six, separated by commas, even "
        "when some are blank (a student row without a login still ends with a comma).",
    ),
    Rule(
        "quote-character",
        _E,
        _DERIVED,
        'This row contains a double quote ("). CERS cannot read stray quotes, and its loader '
        "reads quoted values differently from its validator. Export without quotes (no 'text "
        "qualifier'); 'cers-groups fix' removes quotes that only wrap a value.",
    ),
    Rule(
        "field-comma",
        _E,
        _DERIVED,
        "A value in this row ({column}) contains a comma inside quotes. The roster format has no "
        "quoting: remove the comma from the value.",
    ),
    Rule(
        "field-line-break",
        _E,
        _DERIVED,
        "A value in this row ({column}) contains a line break inside quotes. Remove the line "
        "break from the value: every row must be one line.",
    ),
    Rule(
        "backslash",
        _E,
        _DERIVED,
        "This row contains a backslash (\\) in {column}. CERS's loader treats a backslash as an "
        "escape (\\N becomes empty, \\t a tab), so the stored value would differ. Remove it.",
    ),
    Rule(
        "nul-byte",
        _E,
        _DERIVED,
        "This row contains a NUL character (byte 0) in {column}: the export is damaged or not "
        "plain text. Export the roster again as CSV UTF-8.",
    ),
    Rule(
        "control-character",
        _E,
        _DERIVED,
        "This row contains an invisible control character (such as a tab) in {column}. Remove "
        "it: values hold only visible characters.",
    ),
    Rule(
        "non-bmp-character",
        _E,
        _DERIVED,
        "This row contains a character CERS's database cannot store (outside the Basic "
        "Multilingual Plane, such as an emoji) in {column}. Remove it.",
    ),
    Rule(
        "whitespace-around-value",
        _E,
        (Source.CERS, Source.DERIVED),
        "{column} has spaces before or after the value. CERS does not trim group_name, "
        "school_natural_id or school_year (the school is then 'not found'), and trims the "
        "others only when loading. Trim every value; 'cers-groups fix' does that.",
    ),
    # --- the key columns: group, school, year ---------------------------------------------------
    Rule(
        "group-name-blank",
        _E,
        _CERS,
        "group_name is blank. Every row needs the name of its student group.",
    ),
    Rule(
        "school-id-blank",
        _E,
        _CERS,
        "school_natural_id is blank. Every row needs the school's 14-digit CDS code.",
    ),
    Rule(
        "school-year-blank",
        _E,
        _CERS,
        "school_year is blank. Every row needs the school year as four digits, e.g. 2027 for "
        "the 2026-27 school year.",
    ),
    Rule(
        "group-name-characters",
        _E,
        _CA,
        "group_name may contain only letters A-Z and a-z, digits, '_' and '-' (no spaces or "
        "other characters). Rename the group, e.g. Gr5_Math_Rm12. Reported at the first row of "
        "each run of rows with the same group.",
    ),
    Rule(
        "group-name-too-long",
        _E,
        _CA,
        f"group_name is longer than {MAX_GROUP_NAME_LENGTH} characters. Shorten the group name.",
    ),
    Rule(
        "group-name-case",
        _E,
        _DERIVED,
        "This group name differs only in upper/lower case from a group of the same school and "
        "year that starts at row {first_row}. CERS treats them as one group. Spell each group "
        "name the same way on every row.",
    ),
    Rule(
        "school-id-too-long",
        _E,
        _CERS,
        f"school_natural_id is longer than {MAX_SCHOOL_ID_LENGTH} characters, more than CERS "
        "stores. Use the school's 14-digit CDS code.",
    ),
    Rule(
        "school-id-not-cds",
        _W,
        _CA,
        f"school_natural_id is not a {CDS_DIGITS}-digit CDS code. California schools are "
        "known to CERS by their CDS code; check the id with CDE if CERS answers 'School can "
        "not be found'.",
    ),
    Rule(
        "school-not-allowed",
        _E,
        _CERS,
        "school_natural_id is not one of the schools this district's CERS account may write "
        "(the district's allowed_schools setting); CERS would fail the whole file with 'School "
        "can not be found'. Check the id, or ask the operators to add the school.",
    ),
    Rule(
        "school-year-format",
        _E,
        _CERS,
        "school_year must be exactly four digits, e.g. 2027 for the 2026-27 school year.",
    ),
    Rule(
        "school-year-not-accepted",
        _E,
        _CERS,
        "school_year is not a school year this district sends ({years}; 2027 means 2026-27). "
        "CERS rejects years it does not know with 'Invalid school year'.",
    ),
    Rule(
        "excel-scientific-notation",
        _E,
        _DERIVED,
        "{column} looks like a number Excel rewrote in scientific notation (such as 1.2E+13): "
        "the digits are lost. Export the roster directly from the SIS, or format the column as "
        "Text in Excel before typing or pasting. It is never repaired by guessing.",
    ),
    Rule(
        "excel-decimal-suffix",
        _E,
        _DERIVED,
        "{column} ends in '.0', as when Excel stores an id as a number. Export it as text "
        "without decimals.",
    ),
    Rule(
        "excel-leading-zeros",
        _E,
        _DERIVED,
        "{column} has {digits} digits where {expected} are expected: Excel probably dropped "
        "its leading zero. Export it as text (CDS codes of counties 01-09 start with 0).",
    ),
    # --- subject ---------------------------------------------------------------------------------
    Rule(
        "subject-code-unknown",
        _E,
        _CERS,
        "subject_code must be blank, All, or one of {subjects} (any case, no spaces).",
    ),
    Rule(
        "group-subject-changes",
        _E,
        _CERS,
        "subject_code differs from the subject given earlier to this group (the group starts "
        "at row {first_row}). Use the same subject_code on every row of a group; All and a "
        "subject count as different.",
    ),
    Rule(
        "group-subject-not-repeated",
        _W,
        _DERIVED,
        "This group has a subject_code on some rows but none on this one (and maybe others). "
        "When CERS creates the group it may take the subject from a blank row (meaning All). "
        "Repeat the subject on every row; 'cers-groups fix' does that.",
    ),
    # --- members: student and teacher ------------------------------------------------------------
    Rule(
        "ssid-too-long",
        _E,
        _CERS,
        f"student_ssid is longer than {MAX_SSID_LENGTH} characters, more than CERS stores.",
    ),
    Rule(
        "ssid-format",
        _W,
        _CA,
        f"student_ssid is not a {SSID_DIGITS}-digit California SSID{{hint}}. CERS creates a new "
        "student for an SSID it does not know.",
    ),
    Rule(
        "login-too-long",
        _E,
        _CERS,
        f"group_user_login is longer than {MAX_LOGIN_LENGTH} characters, more than CERS stores.",
    ),
    Rule(
        "login-format",
        _W,
        _CA,
        "group_user_login is not an e-mail address; CERS logins are the teachers' e-mail "
        "addresses, and a login that matches no teacher gives nobody the group. Reported at "
        "the first row of the group that has it.",
    ),
    Rule(
        "duplicate-row",
        _E,
        _CERS,
        "This row lists only a student and/or teacher already listed in this group (first at "
        "row {first_row}). CERS counts a repeated student twice toward the 200 limit. Delete "
        "the repeated row; 'cers-groups fix' does that.",
    ),
    Rule(
        "duplicate-student",
        _E,
        _CERS,
        "This row repeats a student_ssid already listed in this group at row {first_row} (with "
        "another login). CERS counts it twice toward the 200 limit. List each student once per "
        "group, on a row of its own or with one teacher.",
    ),
    # --- groups and schools ----------------------------------------------------------------------
    Rule(
        "group-too-large",
        _E,
        _CERS,
        "The group that starts at this row has {students:,} rows with a student_ssid; at most "
        f"{MAX_STUDENTS_PER_GROUP} students are allowed per group. Split it into smaller groups.",
    ),
    Rule(
        "school-not-contiguous",
        _E,
        (Source.CERS, Source.CALIFORNIA),
        "This school already appeared earlier in the file (from row {first_row}), with another "
        "school in between. Keep all rows of a school together; 'cers-groups fix' does that.",
    ),
    Rule(
        "group-not-contiguous",
        _E,
        _CERS,
        "This group and school year already appeared earlier in this school's rows (from row "
        "{first_row}), with another group in between (group names are compared ignoring case). "
        "Keep all rows of a group together; 'cers-groups fix' does that.",
    ),
    Rule(
        "school-over-row-limit",
        _E,
        (Source.CALIFORNIA, Source.DERIVED),
        "The school whose rows start here has {rows:,} rows, more than the {row_limit:,} rows "
        "one file may have, so the file cannot be split at school boundaries. Send this "
        "school's groups in several files by hand.",
    ),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULE_LIST}

# Rules whose severity a district chooses (``ssid_check``, ``login_check``: error, warning, off).
CONFIGURABLE = {"ssid-format": "ssid_check", "login-format": "login_check"}

# Errors that splitting the file into parts cures.
SIZE_RULES = frozenset({"too-many-rows", "file-too-large"})

# Rules that stop the rows from being read, so nothing else is said about the file.
WHOLE_FILE_ANSWERS = frozenset(
    {
        "empty-file",
        "spreadsheet-file",
        "binary-file",
        "utf16",
        "line-too-long",
        "file-over-size-limit",
    }
)
