"""Layouts: ASCII round trip, the seeded generator, and layout errors."""

from __future__ import annotations

import pytest

from lever_gym.envs.layout import PRESETS, Layout
from lever_gym.errors import ConfigError, LayoutError
from tests.conftest import TINY_LAYOUTS


@pytest.mark.parametrize("name", sorted(TINY_LAYOUTS))
def test_ascii_round_trip(name):
    layout = Layout.from_ascii(TINY_LAYOUTS[name])
    assert Layout.from_ascii(layout.to_ascii()) == layout


@pytest.mark.parametrize("size", sorted(PRESETS))
def test_generator_is_seeded_connected_and_follows_presets(size):
    a, b, c = Layout.generate(size, 3), Layout.generate(size, 3), Layout.generate(size, 4)
    assert a == b and a != c
    counts = PRESETS[size]
    assert (len(a.walls), len(a.hazards), len(a.gold)) == (
        counts.walls,
        counts.hazards,
        counts.gold,
    )
    free = a.n_cells - len(a.walls) - len(a.hazards)
    assert len(a._reachable_from_start()) == free - 1  # every free cell but the exit
    assert Layout.from_ascii(a.to_ascii()) == a


def test_distances_treat_hazards_as_far():
    layout = Layout.from_ascii(TINY_LAYOUTS["corridor"])
    d = layout.distances([layout.exit])
    assert d[layout.exit] == 0
    assert d[layout.start] == 4
    for h in layout.hazards:
        assert d[h] == layout.n_cells


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("S.E\n...\n", "between 3 and 64 rows"),
        ("S.E\n..\n.L.\n", "must be square (3x3): row 1 has 2"),
        ("S.E\n.X.\n.L.\n", "unknown character 'X' at row 1, col 1"),
        ("S.E\n...\n...\n", "exactly one lever 'L'; found 0"),
        ("SSE\n...\n.L.\n", "exactly one start 'S'; found 2"),
        ("S#E\n##.\n.#L\n", "the lever at row 2, col 2 cannot be reached"),
        ("S.L\n.H#\n.#E\n", "the exit at row 2, col 2 cannot be reached"),
        ("S.$\nHH.\nE.L\n", None),
        (42, "must be an ASCII map (str); got int"),
    ],
)
def test_layout_errors_name_the_problem(text, message):
    if message is None:
        Layout.from_ascii(text)  # gold, lever and exit reachable: valid
        return
    with pytest.raises(LayoutError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Layout.from_ascii(text)


def test_too_much_gold_is_refused():
    row = "$" * 13 + "..."
    text = "\n".join(["S" + "." * 14 + "E", row, "L" + "." * 15] + ["." * 16] * 13)
    with pytest.raises(LayoutError, match="13 gold; at most 12"):
        Layout.from_ascii(text)


@pytest.mark.parametrize(("size", "seed"), [(10, 0), (True, 0), ("8", 0), (8, -1), (8, 1.5)])
def test_generator_rejects_bad_size_or_seed(size, seed):
    with pytest.raises(
        ConfigError, match=r"size must be one of \[8, 16, 32, 64\]|layout_seed must be"
    ):
        Layout.generate(size, seed)
