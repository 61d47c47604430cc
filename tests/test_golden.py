"""The sample week's replay gives the golden command log and metrics row (tests/golden/).

The guard for refactors that must not change behaviour: a commit that changes what the app
commands on purpose regenerates the golden files with `python tools/golden.py --write` and says so.
"""

from tools import golden


def test_the_sample_week_replays_to_the_golden_commands_and_table():
    assert golden.diff(golden.replay_sample()) == "", "behaviour changed: see python tools/golden.py"
