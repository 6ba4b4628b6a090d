"""The lever-gym command line."""

from __future__ import annotations

import pytest

from lever_gym.cli import main
from lever_gym.library.shards import ShardedLibrary
from lever_gym.library.store import Library


def test_envs_lists_every_id(capsys):
    assert main(["envs"]) == 0
    assert len(capsys.readouterr().out.split()) == 135


def test_solve_prints_the_optimum(capsys):
    assert main(["solve", "LeverGrid-8x8-PathGold-v0", "--gamma", "0.9"]) == 0
    assert "optimal return from the start" in capsys.readouterr().out


def test_build_library_writes_a_verified_library(tmp_path, capsys):
    out = tmp_path / "lib"
    args = ["build-library", "--out", str(out), "--sizes", "8", "--layout-seeds", "1"]
    args += ["--objectives", "Path", "Lever", "--gammas", "0", "--budgets", "400"]
    args += ["--episodes", "3", "--workers", "1"]
    assert main(args) == 0
    assert "library verified" in capsys.readouterr().out
    lib = Library.load(out)
    assert len(lib) == 2 * lib.config.replicas and lib.config.budgets == (400,)
    assert (out / "README.md").read_text().count("lever/8x8-s1/") == len(lib)


def test_build_library_sharded_over_a_range_of_layouts(tmp_path, capsys):
    out = tmp_path / "lib"
    args = ["build-library", "--out", str(out), "--sizes", "8", "--layout-seeds", "3:5", "10"]
    args += ["--objectives", "Path", "Lever", "--gammas", "0", "--budgets", "400"]
    args += ["--replicas", "1", "--episodes", "3", "--workers", "1", "--sharded"]
    assert main(args) == 0
    assert "library verified: every shard" in capsys.readouterr().out
    lib = ShardedLibrary.load(out)
    assert lib.layouts() == [(8, 3), (8, 4), (8, 10)] and len(lib) == 3 * 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["solve", "LeverGrid-8x8-Pathh-v0"], "doesn't exist"),
        (["build-library", "--objectives", "PathGoldHazardLever"], "never a library"),
        (
            ["build-library", "--budgets", "0"],
            "budgets (episode counts) must be a positive integer",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(args, message, capsys, tmp_path):
    if args[0] == "build-library":
        args = [*args, "--out", str(tmp_path / "x")]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_unknown_budget_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["build-library", "--budgets", "X7"])
    assert "budget must be an episode count or one of" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", ["5:5", "a:3", "1.5"])
def test_bad_layout_seed_ranges_are_usage_errors(seeds, capsys):
    with pytest.raises(SystemExit):
        main(["build-library", "--layout-seeds", seeds])
    assert "layout seeds must be integers or a range START:STOP" in capsys.readouterr().err


def test_compose_prints_choice_and_evaluation(capsys, tmp_path):
    args = ["compose", "--objective", "path+gold+hazard", "--size", "8x8", "--layout-seed", "1"]
    args += ["--episodes", "5", "--save", str(tmp_path / "p")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "chosen" in out and "evaluation in LeverGrid-8x8-PathGoldHazard-v0" in out
    assert (tmp_path / "p" / "policy.npz").is_file()


def test_compose_neural_members_on_an_unseen_layout(capsys, tmp_path, tiny_neural_library):
    args = ["compose", "--members", "dqn", "--library", str(tiny_neural_library)]
    args += ["--objective", "PathGold", "--layout-seed", "5000", "--support", "neighbour"]
    assert main([*args, "--episodes", "2", "--save", str(tmp_path / "p.npz")]) == 0
    out = capsys.readouterr().out
    assert "neural member(s)" in out and "layout 5000" in out and "normalised" in out
    assert (tmp_path / "p.npz").is_file()
    assert main([*args, "--strategy", "hybrid"]) == 2
    assert "--members dqn takes --k, --operator and --support" in capsys.readouterr().err
    assert main([*args[:5], "--objective", "PathGold"]) == 2
    assert "--layout-seed N" in capsys.readouterr().err
    assert main(["compose", "--objective", "PathGold", "--support", "neighbour"]) == 2
    assert "add --members dqn" in capsys.readouterr().err


def test_compose_unknown_layout_is_a_clear_error(capsys):
    args = ["compose", "--objective", "path+gold", "--size", "16x16", "--layout-seed", "3"]
    assert main(args) == 2
    assert "has no 16x16 layout 3" in capsys.readouterr().err


def test_bad_paths_and_values_print_one_line_and_exit_2(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [
        (["build-library", "--out", str(blocker / "lib")], "cannot create the library folder"),
        (["compose", "--objective", "PathGold", "--size", "8", "--seed", "-1"], "seed must be"),
        (
            ["compose", "--objective", "PathGold", "--size", "8", "--layout-seed", "0",
             "--episodes", "1", "--save", str(blocker / "p")],
            "cannot save the policy",
        ),
        (["compose", "--objective", "path but not gold"], "contains a negation"),
    ]  # fmt: skip
    for args, message in cases:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_build_library_refuses_another_config_unless_forced(capsys, tmp_path):
    out = tmp_path / "lib"
    args = ["build-library", "--out", str(out), "--sizes", "8", "--layout-seeds", "1"]
    args += ["--objectives", "Path", "Lever", "--gammas", "0", "--budgets", "100", "--workers", "1"]
    assert main([*args, "--episodes", "2"]) == 0
    assert main([*args, "--episodes", "3"]) == 2
    assert "data.episodes: 2 -> 3" in capsys.readouterr().err
    assert main([*args, "--episodes", "3", "--force"]) == 0
    assert Library.load(out).config.data.episodes == 3


def test_build_library_of_dqn_members_over_a_range_of_layouts(tmp_path, capsys):
    from lever_gym.library.neural_store import NeuralLibrary

    out = tmp_path / "neural"
    args = ["build-library", "--members", "dqn", "--out", str(out), "--sizes", "8"]
    args += ["--layout-seeds", "0:4", "--objectives", "Path", "Gold", "--env-steps", "600"]
    args += ["--view-size", "3", "--episodes", "2", "--workers", "1", "--replicas", "1"]
    args += ["--head-steps", "50"]
    assert main(args) == 0
    assert "2 neural members" in capsys.readouterr().out
    lib = NeuralLibrary.load(out)
    assert lib.worlds.layout_seeds == (0, 4) and lib.worlds.view_size == 3
    assert lib.config.dqn.env_steps == 600


def test_dqn_members_need_one_range_of_layouts(tmp_path, capsys):
    args = ["build-library", "--members", "dqn", "--out", str(tmp_path / "x"), "--sizes", "8"]
    assert main([*args, "--layout-seeds", "1", "5"]) == 2
    assert "--layout-seeds START:STOP" in capsys.readouterr().err
