"""``ReuseConfig``: one frozen value of every composition setting."""

from __future__ import annotations

import json

import pytest

from lever_gym.errors import ConfigError
from lever_gym.reuse.config import PAPER, ReuseConfig, flag_fields


def test_defaults_round_trip_and_options_replace_by_flat_name():
    config = ReuseConfig()
    assert config.compose.operator == "gpi" and config.pool == "layout"
    assert config.improve.rounds == 10 and config.improve.guard
    data = json.loads(json.dumps(config.to_dict()))
    assert ReuseConfig.from_dict(data) == config
    other = config.with_options(operator="sum", rounds=0, k=6, n_starts=16, seed=3)
    assert (other.compose.operator, other.improve.rounds, other.retrieval.k) == ("sum", 0, 6)
    assert other.scoring.n_starts == 16 and other.seed == 3 and other.pool == "parts"
    assert (
        PAPER.label == "sum h3" and config.label == "gpi exhaustive pool=layout +improve10 +guard"
    )
    names = [f.name for _, f in flag_fields()]
    assert len(names) == len(set(names))  # flat names are unique across sections


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"operator": "sum", "pool": "layout"}, "pool='layout' composes by successor"),
        ({"strategy": "best"}, "strategy must be one of"),
        ({"k": 0}, "k must be a positive integer"),
        ({"gamma": 1.0}, r"gamma must be a number in \[0, 1\)"),
        ({"rounds": -1}, "improvement rounds must be"),
        ({"guard": "yes"}, "guard must be True or False"),
        ({"strategi": "hybrid"}, "unknown option.*Did you mean 'strategy'"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*63\)"),
    ],
)
def test_bad_settings_are_refused_naming_them(options, message):
    with pytest.raises(ConfigError, match=message):
        ReuseConfig().with_options(**options)


def test_from_dict_refuses_unknown_sections_and_fields():
    with pytest.raises(ConfigError, match="sections"):
        ReuseConfig.from_dict({"retrieve": {}})
    with pytest.raises(ConfigError, match="retrieval takes the fields"):
        ReuseConfig.from_dict({"retrieval": {"top": 3}})
