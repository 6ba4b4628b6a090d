"""The protocol: units, tasks, headroom weights, validation."""

from __future__ import annotations

import pytest

from lever_gym.errors import ConfigError
from lever_gym.experiments.protocol import HELDOUT_LAYOUTS, ProtocolConfig, headroom_tasks


def test_units_separate_tuning_from_heldout_layouts():
    config = ProtocolConfig()
    tuning, heldout = config.units("tuning"), config.units("heldout")
    assert {u.layout_seed for u in tuning}.isdisjoint({u.layout_seed for u in heldout})
    assert len(heldout) == 2 * len(HELDOUT_LAYOUTS) * 3 and len(HELDOUT_LAYOUTS) == 20
    assert {u.library_seed for u in tuning} == {0}


def test_headroom_tasks_are_signed_non_unit_and_fixed_in_advance():
    a, b = headroom_tasks(8, 1000, 10), headroom_tasks(8, 1000, 10)
    assert [t.objective for t in a] == [t.objective for t in b]
    assert headroom_tasks(8, 1001, 10)[0].objective != a[0].objective
    assert any(min(t.objective.weights) < 0 for t in a)
    assert not any(t.objective.is_unit for t in a)
    for t in a:
        assert t.parts == "+".join(t.objective.letters) and t.kind == "headroom"


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
