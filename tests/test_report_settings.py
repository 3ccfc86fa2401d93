"""The report's update-count settings are named updates_ahead (train.horizon is env steps
per batch): an old name given on the command line is the one-line unknown-key error."""

import subprocess
import sys

import pytest

from analysis.settings import REPORT_KEYS, check_command_line
from tests.conftest import ROOT

OLD_NAMES = {
    "update_collapse.horizon=3": "update_collapse.updates_ahead",
    "warning.horizon=5": "warning.updates_ahead",
    "multiverse.horizons=[1,3]": "multiverse.updates_ahead",
    "kl_vs_return_horizon=5": "kl_vs_return",
}


@pytest.mark.parametrize(("old", "new"), OLD_NAMES.items())
def test_an_old_name_is_an_unknown_key_beside_the_new_one(old, new, capsys):
    with pytest.raises(SystemExit) as stopped:
        check_command_line([old], "report", REPORT_KEYS)
    error = capsys.readouterr().err
    key = old.partition("=")[0]
    assert stopped.value.code == 2 and error.count("\n") == 1
    assert error.startswith(f"error: unknown key '{key}'; allowed: ") and new in error


def test_the_new_names_pass():
    check_command_line(["update_collapse.updates_ahead=2", "warning.updates_ahead=4",
                        "multiverse.updates_ahead=[2]", "kl_vs_return.updates_ahead=3"],
                       "report", REPORT_KEYS)  # fmt: skip


def test_the_report_stops_on_an_old_name_with_exit_2_before_writing(tmp_path):
    command = [sys.executable, "-m", "analysis.report", "update_collapse.horizon=3",
               f"report_dir={tmp_path / 'r'}", f"out_dir={tmp_path / 'no_records'}"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr == (
        "error: unknown key 'update_collapse.horizon'; allowed: update_collapse.rule, "
        "update_collapse.drop_frac, update_collapse.updates_ahead\n"
    )
    assert not (tmp_path / "r").exists()
