"""The one check every entry point runs on its settings, and the one way it stops on a bad
one: each problem one line saying what is wrong and what is allowed, exit code 2."""

import pytest

from algos.allowed import (
    FLAG,
    ConfigError,
    Int,
    OneOf,
    check_settings,
    settings_problems,
    stop_on_bad_input,
)

KEYS = {"seed": Int(), "mode": OneOf("a", "b"), "train.horizon": Int(low=1),
        "train.normalize_obs": FLAG, "grids": None}  # fmt: skip


def test_a_tree_within_its_keys_has_no_problem():
    tree = {"seed": 0, "mode": "a", "train": {"horizon": 8}, "grids": {"pg": {"lr": [0.1]}}}
    assert settings_problems(tree, KEYS) == []


def test_a_key_the_tree_leaves_out_is_not_a_problem():
    assert settings_problems({"train": {"horizon": 8}}, KEYS) == []


def test_an_unknown_key_is_named_with_the_keys_beside_it_before_any_value():
    tree = {"seed": -1, "train": {"horizn": 8}, "extra": {"a": 1}}
    assert settings_problems(tree, KEYS) == [
        "unknown key 'train.horizn'; allowed: train.horizon, train.normalize_obs",
        "unknown key 'extra'; allowed: seed, mode, train, grids",
        "seed=-1 is out of range; allowed: seed >= 0",
    ]


def test_check_settings_raises_the_first_problem_alone():
    with pytest.raises(ConfigError, match=r"^seed=x must be an integer with seed >= 0$"):
        check_settings({"mode": "c", "seed": "x"}, KEYS)


def test_a_bad_input_stops_with_one_line_and_exit_code_2(capsys):
    with pytest.raises(SystemExit) as stop, stop_on_bad_input():
        raise ConfigError("train.horizon=0 is out of range;\n  allowed: horizon >= 1")
    assert stop.value.code == 2
    line = "error: train.horizon=0 is out of range; allowed: horizon >= 1\n"
    assert capsys.readouterr().err == line


def test_other_errors_pass_through():
    with pytest.raises(KeyError), stop_on_bad_input():
        raise KeyError("not a bad input")
