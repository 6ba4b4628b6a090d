"""The protocol: units, tasks of the declared distribution and their families, validation."""

from __future__ import annotations

import pytest

from lever_gym.errors import ConfigError
from lever_gym.experiments.protocol import (
    FAMILIES,
    HELDOUT_LAYOUTS,
    ProtocolConfig,
    family,
    signed_tasks,
)
from lever_gym.objective import Objective


def test_units_separate_tuning_from_heldout_layouts():
    config = ProtocolConfig()
    tuning, heldout = config.units("tuning"), config.units("heldout")
    assert {u.layout_seed for u in tuning}.isdisjoint({u.layout_seed for u in heldout})
    assert len(HELDOUT_LAYOUTS) == 12 and config.large_layouts == 4
    assert len(heldout) == (len(HELDOUT_LAYOUTS) + 4) * len(config.library_seeds)
    assert {u.library_seed for u in tuning} == {0}
    assert {u.layout_seed for u in heldout if u.size == 16} == set(HELDOUT_LAYOUTS[:4])
    offline = [u for u in heldout if config.offline(u, config.tasks(u)[0])]
    assert len(offline) == 12 and all(u.size == 8 for u in offline)
    tiers = config.units("coverage")
    assert len(tiers) == 4 * config.coverage_layouts and tiers[0].split == "coverage-expert"


def test_signed_tasks_follow_the_declared_distribution_and_are_fixed_in_advance():
    a, b = signed_tasks(8, 1000, 200), signed_tasks(8, 1000, 200)
    assert [t.objective for t in a] == [t.objective for t in b]
    assert signed_tasks(8, 1001, 1)[0].objective != a[0].objective
    w = [t.objective.weights for t in a]
    assert all(0 <= x[0] <= 2 and all(-2 <= y <= 2 for y in x[1:]) for x in w)
    assert min(x[2] for x in w) < -1.5 and max(x[3] for x in w) > 1.5  # every sign is drawn
    assert {t.kind for t in a} == set(FAMILIES[1:])  # every family occurs in 200 draws
    for t in a:
        assert t.parts == "+".join(t.objective.letters) and t.kind == family(t.objective)


def test_families_by_hand():
    assert family(Objective((1.0, 1.0, 1.0, 1.0))) == "goal-reaching"
    assert family(Objective((1.0, 0.0, -2.0, 0.0))) == "stalling pays"  # -0.1 + 0.2 > 0
    assert family(Objective((1.0, 0.0, -0.5, 0.0))) == "hazard bonus"  # steps still cost


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tuning_layouts": (1000,)}, "overlap"),
        ({"setups": ("P+Q",)}, "setup must be one of"),
        ({"sizes": (12,)}, "size must be one of"),
        ({"start_protocols": ("sideways",)}, "start protocol must be one of"),
        ({"library_seeds": ()}, "library_seeds must be a non-empty tuple"),
    ],
)
def test_bad_protocols_fail_before_any_work(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ProtocolConfig(**kwargs)
