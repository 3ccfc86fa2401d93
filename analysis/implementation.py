"""Which code-level optimisations a run had (conf/impl/: modern, paper), as a label: the
preset whose switches it has exactly, else `modern` with what differs, e.g.
`modern − normalize_obs`. PPO's global gradient-norm clip counts as a switch: on (0.5) in
`modern` (conf/algo/ppo.yaml), off in `paper` (Baselines ppo1 clips no gradient)."""

import functools
from pathlib import Path

import yaml

CONF = Path(__file__).resolve().parent.parent / "conf"
PAPER_GRAD_CLIP = None  # ppo1 has no gradient clipping (conf/impl/paper.yaml says so)


@functools.cache
def presets() -> dict[str, dict]:
    """Each preset's switches, PPO's gradient clip among them."""
    modern_clip = yaml.safe_load((CONF / "algo" / "ppo.yaml").read_text())["max_grad_norm"]
    clips = {"modern": modern_clip, "paper": PAPER_GRAD_CLIP}
    return {
        p.stem: yaml.safe_load(p.read_text()) | {"max_grad_norm": clips.get(p.stem)}
        for p in sorted((CONF / "impl").glob("*.yaml"))
    }


def switches(train: dict, algo: dict) -> dict:
    """A run's switches; a record made before a switch existed had it as `modern` has it."""
    modern = presets()["modern"]
    values = {k: train.get(k, modern[k]) for k in modern if k != "max_grad_norm"}
    if algo.get("name") == "ppo":
        values["max_grad_norm"] = algo.get("max_grad_norm", modern["max_grad_norm"])
    return values


def implementation(train: dict, algo: dict) -> str:
    values = switches(train, algo)
    for name, preset in presets().items():
        if all(preset[k] == v for k, v in values.items()):
            return name
    modern = presets()["modern"]
    differ = [k for k in values if values[k] != modern[k]]
    off = [k for k in differ if modern[k] is True or (k == "max_grad_norm" and values[k] is None)]
    changed = [f"{k}={values[k]}" for k in differ if k not in off]
    return " ".join(["modern", *(["− " + ", ".join(off)] if off else []),
                     *(["with " + ", ".join(changed)] if changed else [])])  # fmt: skip
