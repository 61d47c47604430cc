"""The golden replay: the app's command log and metrics row on the bundled sample week.

A refactor must not change what the app commands. `python tools/golden.py` replays the sample
(reference plant, app controller only) and prints how the result differs from tests/golden/;
`--write` rewrites the golden files, for a commit that changes behaviour on purpose (say so in it).
tests/test_golden.py runs the same comparison.
"""
from __future__ import annotations

import difflib
import os
import sys
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.plant import PlantParams  # noqa: E402
from tools.replay_run import replay_trace  # noqa: E402
from tools.traces import SAMPLE, load_csv  # noqa: E402

GOLDEN_DIR = os.path.join(REPO, "tests", "golden")
COMMANDS = os.path.join(GOLDEN_DIR, "sample_week_commands.csv")
TABLE = os.path.join(GOLDEN_DIR, "sample_week_table.md")


def replay_sample() -> dict[str, str]:
    """{golden path: its expected text} from a fresh replay."""
    errors: dict = {}
    runs, rows = replay_trace(load_csv(SAMPLE), PlantParams(), ("app",), progress=False, errors=errors)
    run, m = runs[0], rows[0]
    lines = ["time,kind,value,status"]
    for t, kind, value, status in run.writes:
        when = datetime.fromtimestamp(t, timezone.utc).isoformat()
        lines.append(f"{when},{kind},{'' if value is None else value},{status}")
    table = ["| peak with EV kW | EV kWh | writes | 429s | pauses | ERROR lines |",
             "|---|---|---|---|---|---|",
             f"| {m.peak_ev_w / 1000:.2f} | {m.ev_kwh:.1f} | {m.writes} | {m.rejected_429} "
             f"| {m.pauses} | {len(errors.get('app', []))} |"]
    return {COMMANDS: "\n".join(lines) + "\n", TABLE: "\n".join(table) + "\n"}


def diff(expected: dict[str, str]) -> str:
    """Unified diff of the golden files against `expected` ('' when equal)."""
    out = []
    for path, text in expected.items():
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
        rel = os.path.relpath(path, REPO)
        out.extend(difflib.unified_diff(old.splitlines(True), text.splitlines(True), rel, "replay"))
    return "".join(out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    expected = replay_sample()
    if "--write" in argv:
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        for path, text in expected.items():
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        print("golden: rewritten", ", ".join(os.path.relpath(p, REPO) for p in expected))
        return 0
    text = diff(expected)
    print(text or "golden: the replay matches")
    return 1 if text else 0


if __name__ == "__main__":
    sys.exit(main())
