"""``make bench``: our validator against a bare csv.reader, frictionless and pandera.

Generates a deterministic 1,000,000-row roster (cached under bench/.data), runs every tool on it
in a process of its own, and prints one line per tool: rows, verdict, seconds of work and peak
memory (the process's maximum resident set size, read from the operating system when it ends).
csv.reader and ours run three times and keep their best time, so a busy machine skews the
ratio less. Then ours runs on a 5,000,000-row roster to show that its memory stays flat. The
last line is ``validate_ratio=<our seconds / csv.reader seconds>``. (The 5,000,000-row file is
over the 1,000,000-row limit, so ours answers too-many-rows, after checking every row.)

Usage: python bench/run.py [--other-python PATH] [--rows N] [--big-rows N] [--skip-others]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from roster_gen import write_roster

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
FUNCTIONS = HERE.parent / "functions"
TOOLS = HERE / "tools.py"
INVALID_SAMPLE = HERE.parent / "local_stack" / "samples" / "invalid_roster.csv"
REPEATS = 3
PEAK_MEMORY_TARGET_MB = 100


def main(argv: list[str]) -> int:
    options = _options(argv)
    plan = _plan(options)
    _check_each_tool_rejects(plan, INVALID_SAMPLE)
    roster = _roster(options.rows)
    results = []
    for tool, python, repeats in plan:
        result = _best(tool, python, roster, repeats)
        results.append(result)
        print(_line(result), flush=True)

    big = _run("cers-groups", sys.executable, _roster(options.big_rows))
    ours = _result(results, "cers-groups")
    flat = big["peak_mb"] <= max(ours["peak_mb"] * 1.1, ours["peak_mb"] + 5)
    print(_line(big), flush=True)
    print(
        f"memory_flat={'yes' if flat else 'no'} rows={options.rows:,}:{ours['peak_mb']:.0f}MB "
        f"rows={options.big_rows:,}:{big['peak_mb']:.0f}MB target=<{PEAK_MEMORY_TARGET_MB}MB"
    )
    ratio = ours["seconds"] / _result(results, "csv.reader")["seconds"]
    print(f"validate_ratio={ratio:.2f}")
    return 0


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other-python", default=sys.executable, help="has frictionless, pandera")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--skip-others", action="store_true", help="only csv.reader and ours")
    return parser.parse_args(argv)


def _plan(options: argparse.Namespace) -> list[tuple[str, str, int]]:
    plan = [("csv.reader", sys.executable, REPEATS), ("cers-groups", sys.executable, REPEATS)]
    if not options.skip_others:
        plan += [("frictionless", options.other_python, 1), ("pandera", options.other_python, 1)]
    return plan


def _check_each_tool_rejects(plan: list[tuple[str, str, int]], invalid: Path) -> None:
    """Each validator must reject a roster that breaks the core rules, or timing it is moot."""
    for tool, python, _ in plan:
        if tool != "csv.reader" and _run(tool, python, invalid)["valid"]:
            raise SystemExit(f"{tool} accepted {invalid.name}: its rules are not set up")
    print(f"every validator rejects {invalid.name}", flush=True)


def _roster(rows: int) -> Path:
    DATA.mkdir(exist_ok=True)
    path = DATA / f"roster-{rows}.csv"
    if not path.exists():
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        partial = path.with_suffix(".partial")
        write_roster(partial, rows)
        partial.replace(path)
    return path


def _best(tool: str, python: str, roster: Path, repeats: int) -> dict:
    runs = [_run(tool, python, roster) for _ in range(repeats)]
    best = min(runs, key=lambda run: run["seconds"])
    return {**best, "peak_mb": max(run["peak_mb"] for run in runs), "runs": len(runs)}


def _run(tool: str, python: str, roster: Path) -> dict:
    """Runs one tool in a child process; its JSON line plus the child's own peak memory."""
    environment = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
    child = subprocess.Popen(
        [python, str(TOOLS), tool, str(roster)], stdout=subprocess.PIPE, env=environment
    )
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{tool} failed with exit status {child.returncode}")
    result = json.loads(output)
    result["peak_mb"] = usage.ru_maxrss / 1024  # Linux reports kilobytes
    result["file_mb"] = roster.stat().st_size / 1e6
    return result


def _result(results: list[dict], tool: str) -> dict:
    return next(result for result in results if result["tool"] == tool)


def _line(result: dict) -> str:
    verdict = "valid" if result["valid"] else "INVALID"
    if result.get("broken"):
        verdict += " (" + ", ".join(result["broken"]) + ")"
    return (
        f"tool={result['tool']:<12} rows={result['rows']:>9,} file={result['file_mb']:.0f}MB "
        f"{verdict:<7} seconds={result['seconds']:.2f} peak_memory={result['peak_mb']:.0f}MB"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
