"""The HTML report as a person sees it: rendered by headless Chromium (Debian's `chromium`).

`make test` installs Chromium when it is missing. The page is loaded from a file with a probe
script added at its end, which copies the rendered text (`innerText`: only what is displayed)
into the DOM that `--dump-dom` prints.
"""

import html
import re
import shutil
import struct
import subprocess
from pathlib import Path

import boto3
import pytest

from cers_groups.reports import report_keys
from local_stack.stack import local_stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROBE = (
    "<script>const shown = document.body.innerText; const out = document.createElement('pre');"
    " out.id = 'visible-text'; out.textContent = shown; document.body.appendChild(out);</script>"
)
SAMPLES = Path(__file__).parents[2] / "local_stack" / "samples"
HEADER = "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login"
SCREEN = (1100, 1400)


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Chromium is not installed: `make test` installs it, or run apt-get install -y chromium"
        )
    return CHROMIUM


def run_chromium(chromium: str, workdir: Path, *args: str) -> str:
    command = [chromium, *FLAGS, f"--user-data-dir={workdir / 'profile'}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def visible_text(chromium: str, page: str, workdir: Path) -> str:
    probed = workdir / "probed.html"
    probed.write_text(page.replace("</body>", f"{PROBE}</body>"), encoding="utf-8")
    dom = run_chromium(chromium, workdir, "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="visible-text">(.*?)</pre>', dom, re.DOTALL)
    assert found, "Chromium did not run the probe"
    return html.unescape(found.group(1))


def shown_lines(text: str) -> list[str]:
    """The visible text's non-empty lines; table cells are separated by tabs."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def screenshot_size(chromium: str, page: str, workdir: Path) -> tuple[int, int]:
    source, image = workdir / "report.html", workdir / "report.png"
    source.write_text(page, encoding="utf-8")
    size = f"--window-size={SCREEN[0]},{SCREEN[1]}"
    run_chromium(chromium, workdir, size, f"--screenshot={image}", source.as_uri())
    data = image.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def broken_roster(path: Path, rows: int) -> Path:
    """Every row is a group of its own that breaks two rules: a two-digit school year and an
    unknown subject."""
    lines = [HEADER]
    lines += [f"Gr5_{row},99123450111111,27,Science,{4000000000 + row}," for row in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def report_page(stack, submission: dict) -> str:
    key = report_keys(submission["submission_id"]).page
    response = boto3.client("s3").get_object(Bucket=stack.resources.bucket, Key=key)
    return response["Body"].read().decode()


def test_report_page_shows_status_rules_counts_and_rows_in_chromium(chromium, tmp_path):
    roster = broken_roster(tmp_path / "fall_rosters.csv", rows=30)
    with local_stack() as stack:
        stack.drop(roster)
        stack.run()
        [submission] = stack.submissions()
        page = report_page(stack, submission)

    assert "<script" not in page.lower() and not re.search(r"(src|href)=|url\(|@import", page)
    text = visible_text(chromium, page, tmp_path)
    lines = shown_lines(text)

    assert lines[1] == "fall_rosters.csv"
    assert lines[2].startswith("INVALID: The roster file failed validation at ")
    for heading in ("File", "Problems", "CERS", "History"):
        assert heading in lines
    assert "Data rows\t30" in lines
    rows_listed = "Rows: " + ", ".join(str(row) for row in range(1, 21))
    for rule in ("school-year-format", "subject-code-unknown"):
        count_line = lines[lines.index(rule) + 1]
        assert " listed. " in count_line and rows_listed in count_line
    assert "1\tschool_year must be exactly four digits, e.g. 2027 for the 2026-27 school year." in (
        lines
    )
    assert "Nothing was sent to CERS." in lines
    assert f"Submission {submission['submission_id']}" in text
    assert "4000000000" not in text
    assert screenshot_size(chromium, page, tmp_path) == SCREEN


def test_report_page_shows_what_cers_answered_and_when_in_chromium(chromium, tmp_path):
    with local_stack() as stack:
        stack.standin.validator.schools = frozenset({"99123450111111"})
        stack.drop(SAMPLES / "valid_roster.csv")
        stack.run()
        [submission] = stack.submissions()
        page = report_page(stack, submission)

    lines = shown_lines(visible_text(chromium, page, tmp_path))

    assert lines[lines.index("valid_roster.csv") + 1].startswith(
        "BAD_DATA: The roster file was rejected by CERS at "
    )
    assert "No problems: the file meets every rule." in lines
    assert f"Import id\t{submission['cers_import_id']}" in lines
    assert any(line.startswith("Answered at\t2") for line in lines)
    assert "Same bytes as validated\tyes" in lines
    assert "Row: 34 Failure: School [99123450122222] can not be found" in lines
    history = [line.split("\t")[0] for line in lines[lines.index("History") + 2 :] if "\t" in line]
    assert history == ["RECEIVED", "VALIDATED", "UPLOADING", "BAD_DATA"]
