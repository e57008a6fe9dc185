"""The submission report as one self-contained HTML page: no scripts, no links to load.

Built from the JSON report (see ``cers_groups.reports``): the file's facts, its status and what to
do, the problems grouped by rule with their counts and rows, the normalization changes, what CERS
answered and when, and the history. Every value is HTML-escaped.
"""

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from string import Template
from typing import Any

from cers_groups.alerts import counted, next_step, outcome, readable_time, status_time
from cers_groups.events import file_name
from cers_groups.submissions import FAILURES, Status

GOOD = frozenset({Status.VALIDATED, Status.ACCEPTED, Status.PROCESSED})
# Not failures, but waiting for a person.
NEEDS_A_PERSON = frozenset({Status.ON_HOLD})

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
  padding: 0 1rem; color: #1d232b; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccd3da; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; font-family: ui-monospace, monospace; }
.district { color: #56606b; margin: 0; }
.status { padding: .6rem .8rem; border-radius: 4px; background: #eef1f4; }
.status.bad { background: #fde8e8; border-left: 4px solid #b42318; }
.status.good { background: #e7f6ec; border-left: 4px solid #1a7f37; }
table { border-collapse: collapse; margin: .3rem 0; }
th, td { text-align: left; vertical-align: top; padding: .25rem .7rem .25rem 0; }
td { border-top: 1px solid #e3e7eb; }
.facts th { font-weight: 600; white-space: nowrap; }
td.row { font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f4f6f8; padding: .7rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.note, footer { color: #56606b; }
footer { margin-top: 2.5rem; font-size: .85rem; }
</style>
</head>
<body>
<header>
<p class="district">CERS groups report · district $district</p>
<h1>$file</h1>
<p class="status $tone"><strong>$status</strong>: $headline</p>
$failure
<p><strong>What to do next:</strong> $next_step</p>
</header>
<section id="file">
<h2>File</h2>
$facts
</section>
$problems
$changes
<section id="cers">
<h2>CERS</h2>
$cers
</section>
<section id="history">
<h2>History</h2>
$history
</section>
<footer>Submission $submission_id · page written $written</footer>
</body>
</html>
"""
)


def render_report_page(document: dict[str, Any], now: datetime | None = None) -> str:
    status = document.get("status", "")
    name = file_name(document["file"])
    return PAGE.substitute(
        title=_e(f"{name}: {status} · CERS groups report"),
        district=_e(document.get("district", "")),
        file=_e(name),
        tone="bad" if status in FAILURES else "good" if status in GOOD else "",
        status=_e(status),
        headline=_e(f"The roster file {outcome(status)}{_at(status_time(document, status))}."),
        failure=f'<p class="failure">{_e(document["failure"])}</p>'
        if document.get("failure")
        else "",
        next_step=_e(next_step(status)) if status in FAILURES | NEEDS_A_PERSON else "Nothing.",
        facts=_facts(document),
        problems=_problems(document),
        changes=_changes(document.get("changes")),
        cers=_cers(document),
        history=_history(document.get("history", [])),
        submission_id=_e(document.get("submission_id", "")),
        written=_e((now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")),
    )


def _facts(document: dict[str, Any]) -> str:
    valid = {True: "yes", False: "no", None: "not validated"}[document.get("valid")]
    facts = [
        ("Object", f"s3://{document.get('bucket', '')}/{document['file']}"),
        ("Object version", document.get("version_id") or "(unversioned)"),
        ("Dropped at", readable_time(document.get("dropped_at", ""))),
        ("Size", _maybe(document.get("size"), lambda size: counted(size, "byte"))),
        ("Data rows", _maybe(document.get("rows"), lambda rows: f"{rows:,}")),
        ("MD5 digest", document.get("digest") or "not computed"),
        ("Valid", valid),
        ("Submission id", document.get("submission_id", "")),
    ]
    return _table(None, facts, css="facts", header_column=True)


def _problems(document: dict[str, Any]) -> str:
    if document.get("valid") is None:
        return ""
    errors, warnings = document.get("errors", []), document.get("warnings", [])
    counts = {rule: int(count) for rule, count in (document.get("rule_counts") or {}).items()}
    total = document.get("problem_count")
    if total is None:
        total = sum(counts.values()) if counts else len(errors) + len(warnings)
    parts = ['<section id="problems">', "<h2>Problems</h2>"]
    if not errors and not warnings:
        parts.append("<p>No problems: the file meets every rule.</p>")
    else:
        rules = {problem["rule"] for problem in (*errors, *warnings)} | set(counts)
        parts.append(
            f"<p>{_e(counted(int(total), 'problem'))} in total, "
            f"{_e(counted(len(rules), 'rule'))} broken. Row N is the N-th data row after the "
            "header, which is line N+1 of the file.</p>"
        )
        parts += _rule_groups(errors, counts)
    parts.append("</section>")
    if warnings:
        parts += ['<section id="warnings">', "<h2>Warnings</h2>"]
        parts += _rule_groups(warnings, counts)
        parts.append("</section>")
    return "\n".join(parts)


def _rule_groups(problems: list[dict], counts: dict[str, int]) -> list[str]:
    """One heading per rule, most often broken first, with its count and the rows listed."""
    by_rule: dict[str, list[dict]] = {}
    for problem in problems:
        by_rule.setdefault(problem["rule"], []).append(problem)
    ordered = sorted(by_rule, key=lambda rule: (-counts.get(rule, len(by_rule[rule])), rule))
    parts = []
    for rule in ordered:
        listed = by_rule[rule]
        count = counts.get(rule)
        summary = (
            f"Broken {counted(count, 'time')}; {len(listed):,} listed."
            if count is not None
            else f"{counted(len(listed), 'problem')} listed."
        )
        rows = ", ".join(_where(problem) for problem in listed)
        parts += [
            f'<h3 class="rule" id="rule-{_e(rule)}">{_e(rule)}</h3>',
            f'<p class="rule-count">{_e(summary)} Rows: {_e(rows)}.</p>',
            _table(("Row", "Problem"), [(_where(p), p["message"]) for p in listed], row_cells=1),
        ]
    return parts


def _changes(changes: Any) -> str:
    if not changes:
        return ""
    parts = ['<section id="changes">', "<h2>Normalization changes</h2>"]
    parts.append("<p>What was changed in the roster before it was sent.</p>")
    if isinstance(changes, dict):
        parts.append(_table(("Change", "Count"), sorted(changes.items())))
    elif isinstance(changes, list) and all(isinstance(item, dict) for item in changes):
        columns = list(dict.fromkeys(key for item in changes for key in item))
        rows = [tuple(item.get(column, "") for column in columns) for item in changes]
        parts.append(_table(tuple(columns), rows))
    elif isinstance(changes, list):
        parts.append("<ul>" + "".join(f"<li>{_e(item)}</li>" for item in changes) + "</ul>")
    else:
        parts.append(f"<pre>{_e(json.dumps(changes, indent=2, default=str))}</pre>")
    parts.append("</section>")
    return "\n".join(parts)


def _cers(document: dict[str, Any]) -> str:
    cers = document.get("cers")
    if not cers:
        sent = any(step["status"] == Status.UPLOADING for step in document.get("history", []))
        text = "No answer from CERS is recorded." if sent else "Nothing was sent to CERS."
        return f"<p>{_e(text)}</p>"
    answered = readable_time(status_time(document, cers.get("status", "")) or "")
    digest = cers.get("digest")
    facts = [
        ("Import id", cers.get("import_id", "")),
        ("Status", cers.get("status", "")),
        ("Answered at", answered),
        ("Digest CERS computed", digest or "(none)"),
    ]
    if digest and document.get("digest"):
        same = "yes" if digest == document["digest"] else "NO: CERS received other bytes"
        facts.append(("Same bytes as validated", same))
    parts = [_table(None, facts, css="facts", header_column=True)]
    if cers.get("message"):
        parts += [
            "<p>CERS's message, in full (this report lives only in the encrypted bucket):</p>",
            f'<pre class="cers-message">{_e(cers["message"])}</pre>',
        ]
    return "\n".join(parts)


def _history(history: list[dict]) -> str:
    rows = [(step["status"], readable_time(step["at"])) for step in history]
    return _table(("Status", "At"), rows)


def _table(
    header: tuple[str, ...] | None,
    rows: Iterable[tuple[Any, ...]],
    *,
    css: str = "",
    header_column: bool = False,
    row_cells: int = 0,
) -> str:
    """A table; ``header_column`` makes each row's first cell a heading, ``row_cells`` marks the
    first cells as row numbers."""
    lines = [f'<table class="{css}">' if css else "<table>"]
    if header:
        lines.append("<tr>" + "".join(f"<th>{_e(cell)}</th>" for cell in header) + "</tr>")
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            if header_column and index == 0:
                cells.append(f'<th scope="row">{_e(cell)}</th>')
            elif index < row_cells:
                cells.append(f'<td class="row">{_e(cell)}</td>')
            else:
                cells.append(f"<td>{_e(cell)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _where(problem: dict) -> str:
    return "whole file" if problem.get("row") is None else f"{problem['row']:,}"


def _at(stamp: str | None) -> str:
    return f" at {readable_time(stamp)}" if stamp else ""


def _maybe(value: Any, show) -> str:
    return "not read" if value is None else show(value)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)
