"""CERS messages with the roster values they quote blanked out, for e-mails and logs.

CERS quotes values from the file in its failure lines (``School [<id>] can not be found``,
``Invalid subject: <value>``) and, when its processor fails, passes on raw database errors
(``Duplicate entry '<values>' for key '<index>'``). Every bracketed or quoted value becomes
``...``, except where the text names a column of the roster (``for column 'group_name'``, the
header list), which says where to look and is not row data.
As a second net, e-mail addresses and long runs of digits (SSIDs are 10 digits, school codes 14)
are blanked wherever they stand.
"""

import re

from cers_groups.roster import HEADER

BLANK = "..."

# Enclosed text that is not a row value: a roster column named as a column, CERS's header list.
_HEADER_LIST = ",".join(HEADER)
_COLUMN_NAMES = frozenset(HEADER)

_QUOTES = "'\"`"
_FAILURE_LINE = re.compile(r"^(Row: \d+ Failure: )(.*)$")
# Messages that quote a value without brackets, up to the end of the line.
_VALUE_TAIL = re.compile(r"((?:Invalid school year|Invalid subject): ).*$")
# MySQL errors whose closing quote is known by what follows it, so a quote inside the value
# (a login such as o'brien@...) cannot end the value early.
_SQL_VALUE = re.compile(r"((?:Duplicate entry|Incorrect \w+ value:?) )'.*'( for (?:key|column) )")
_EMAIL = re.compile(r"[^\s'\"`\[\](),;:<>]+@[^\s'\"`\[\](),;:<>]+")
_LONG_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d{8,}(?![A-Za-z0-9])")


def redact_cers_message(message: str) -> str:
    """The message with every value it quotes from the roster replaced by ``...``.

    ``Row: N Failure:`` prefixes are kept, so row numbers survive.
    """
    return "\n".join(_redact_line(line) for line in message.splitlines())


def _redact_line(line: str) -> str:
    match = _FAILURE_LINE.match(line)
    if match:
        return match.group(1) + _redact_text(match.group(2))
    return _redact_text(line)


def _redact_text(text: str) -> str:
    text = _SQL_VALUE.sub(rf"\1'{BLANK}'\2", text)
    text = _blank_enclosed(text)
    text = _VALUE_TAIL.sub(rf"\1{BLANK}", text)
    text = _EMAIL.sub(BLANK, text)
    return _LONG_NUMBER.sub(BLANK, text)


def _blank_enclosed(text: str) -> str:
    """Every [bracketed] (nested too) or quoted part of ``text`` replaced by ``...``.

    A quote opens only at the start of a word and closes only at the end of one, so the
    apostrophe in a word does not pair with a real quote. An enclosed part never closed
    blanks the rest of the text.
    """
    pieces: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "[":
            end = _closing_bracket(text, index)
        elif char in _QUOTES and _opens_quote(text, index):
            end = _closing_quote(text, index)
        else:
            pieces.append(char)
            index += 1
            continue
        if end < 0:
            pieces.append(f"{char}{BLANK}")
            break
        kept = _names_columns(text[:index], text[index + 1 : end])
        pieces.append(text[index : end + 1] if kept else f"{char}{BLANK}{text[end]}")
        index = end + 1
    return "".join(pieces)


def _names_columns(before: str, inner: str) -> bool:
    if inner == _HEADER_LIST:
        return True
    return inner in _COLUMN_NAMES and before.endswith("column ")


def _closing_bracket(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "[":
            depth += 1
        elif text[index] == "]":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _opens_quote(text: str, index: int) -> bool:
    return index == 0 or not text[index - 1].isalnum()


def _closing_quote(text: str, start: int) -> int:
    quote = text[start]
    for index in range(start + 1, len(text)):
        at_word_end = index + 1 == len(text) or not text[index + 1].isalnum()
        if text[index] == quote and at_word_end:
            return index
    return -1
