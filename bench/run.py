"""``make bench``: our validator against a bare csv.reader, frictionless and pandera.

Generates a deterministic 1,000,000-row roster (cached under bench/.data), runs every tool on it
in a process of its own, and prints one line per tool: rows, verdict, wall-clock and CPU seconds
of work, and peak memory (the process's maximum resident set size, read from the operating
system when it ends). csv.reader and ours run in five interleaved pairs and report medians: on a
shared machine the load shifts between runs, and a pair sees about the same load. Then ours runs
on a 5,000,000-row roster to show that its memory stays flat (that file is over the
1,000,000-row limit, so ours answers too-many-rows, after checking every row). The last line is
``validate_ratio=<ours / csv.reader>``, the median of the pairs' CPU-time ratios (the wall-clock
median ratio is printed before it).

Usage: python bench/run.py [--other-python PATH] [--rows N] [--big-rows N] [--skip-others]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from roster_gen import write_roster

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
FUNCTIONS = HERE.parent / "functions"
TOOLS = HERE / "tools.py"
INVALID_SAMPLE = HERE.parent / "local_stack" / "samples" / "invalid_roster.csv"
PAIRS = 5
PEAK_MEMORY_TARGET_MB = 100


def main(argv: list[str]) -> int:
    options = _options(argv)
    others = [] if options.skip_others else ["frictionless", "pandera"]
    _check_each_tool_rejects(["cers-groups"], sys.executable, INVALID_SAMPLE)
    _check_each_tool_rejects(others, options.other_python, INVALID_SAMPLE)
    roster = _roster(options.rows)

    baseline, ours, ratios = _pairs(roster)
    print(_line(baseline), flush=True)
    print(_line(ours), flush=True)
    for tool in others:
        print(_line(_run(tool, options.other_python, roster)), flush=True)

    big = _run("cers-groups", sys.executable, _roster(options.big_rows))
    flat = big["peak_mb"] <= max(ours["peak_mb"] * 1.1, ours["peak_mb"] + 5)
    print(_line(big), flush=True)
    print(
        f"memory_flat={'yes' if flat else 'no'} rows={options.rows:,}:{ours['peak_mb']:.0f}MB "
        f"rows={options.big_rows:,}:{big['peak_mb']:.0f}MB target=<{PEAK_MEMORY_TARGET_MB}MB"
    )
    print(f"wall_ratio={statistics.median(wall for wall, _ in ratios):.2f}")
    print(f"validate_ratio={statistics.median(cpu for _, cpu in ratios):.2f}")
    return 0


def _pairs(roster: Path) -> tuple[dict, dict, list[tuple[float, float]]]:
    """csv.reader and ours, one after the other, PAIRS times: medians and per-pair ratios."""
    runs: dict[str, list[dict]] = {"csv.reader": [], "cers-groups": []}
    ratios = []
    for _ in range(PAIRS):
        baseline = _run("csv.reader", sys.executable, roster)
        ours = _run("cers-groups", sys.executable, roster)
        runs["csv.reader"].append(baseline)
        runs["cers-groups"].append(ours)
        ratios.append(
            (
                ours["seconds"] / baseline["seconds"],
                ours["cpu_seconds"] / baseline["cpu_seconds"],
            )
        )
    return _median(runs["csv.reader"]), _median(runs["cers-groups"]), ratios


def _median(runs: list[dict]) -> dict:
    return {
        **runs[0],
        "seconds": statistics.median(run["seconds"] for run in runs),
        "cpu_seconds": statistics.median(run["cpu_seconds"] for run in runs),
        "peak_mb": max(run["peak_mb"] for run in runs),
        "runs": len(runs),
    }


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other-python", default=sys.executable, help="has frictionless, pandera")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--skip-others", action="store_true", help="only csv.reader and ours")
    return parser.parse_args(argv)


def _check_each_tool_rejects(tools: list[str], python: str, invalid: Path) -> None:
    """Each validator must reject a roster that breaks the core rules, or timing it is moot."""
    for tool in tools:
        if _run(tool, python, invalid)["valid"]:
            raise SystemExit(f"{tool} accepted {invalid.name}: its rules are not set up")
        print(f"{tool} rejects {invalid.name}", flush=True)


def _roster(rows: int) -> Path:
    DATA.mkdir(exist_ok=True)
    path = DATA / f"roster-{rows}.csv"
    if not path.exists():
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        partial = path.with_suffix(".partial")
        write_roster(partial, rows)
        partial.replace(path)
    return path


def _run(tool: str, python: str, roster: Path) -> dict:
    """Runs one tool in a child process; its JSON line plus the child's own peak memory."""
    environment = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
    child = subprocess.Popen(  # noqa: S603 - our own fixed argv
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


def _line(result: dict) -> str:
    verdict = "valid" if result["valid"] else "INVALID"
    if result.get("broken"):
        verdict += " (" + ", ".join(result["broken"]) + ")"
    return (
        f"tool={result['tool']:<12} rows={result['rows']:>9,} file={result['file_mb']:.0f}MB "
        f"{verdict:<7} seconds={result['seconds']:.2f} cpu_seconds={result['cpu_seconds']:.2f} "
        f"peak_memory={result['peak_mb']:.0f}MB"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
