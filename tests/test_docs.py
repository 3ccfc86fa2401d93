"""The guide's worked example runs as written: its update rule, registered, trains."""

import re

import torch

from algos import registry
from algos.train import TrainConfig, make_learner, train
from tests.conftest import ROOT


def guide_code(name: str) -> str:
    text = (ROOT / "docs" / name).read_text()
    return "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))


def test_the_update_rule_guides_example_trains_and_never_moves_the_policy(monkeypatch):
    example: dict = {}
    exec(guide_code("adding-an-update-rule.md"), example)
    monkeypatch.setitem(registry.ALGOS, "hold", example["HOLD"])
    config = TrainConfig(env_id="InvertedPendulum-v5", total_steps=256, horizon=64, hidden=(8,),
                         value_epochs=1, algo="hold", algo_params={"lr": 0.0})  # fmt: skip
    rows, saved = [], {}
    train(config, rows.append, checkpoints=1, on_checkpoint=lambda k, s: saved.update(s))
    assert len(rows) == 4 and all(row["kl_mean"] == 0.0 for row in rows)
    initial = make_learner(config).actor.state_dict()
    assert all(torch.equal(saved["actor"][k], v) for k, v in initial.items())
