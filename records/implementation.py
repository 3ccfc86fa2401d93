"""Which code-level optimisations a run had (conf/impl/: modern, paper), as a label: the
preset whose switches it has exactly, else the nearest preset with what differs, e.g.
`modern − normalize_obs`, `paper − lr_anneal`. PPO's global gradient-norm clip counts as a switch: on (0.5) in
`modern` (conf/algo/ppo.yaml), off in `paper` (Baselines ppo1 clips no gradient)."""

import functools

import yaml

from records.paths import CONF_DIR

PAPER_GRAD_CLIP = None  # ppo1 has no gradient clipping (conf/impl/paper.yaml says so)


@functools.cache
def presets() -> dict[str, dict]:
    """Each preset's switches, PPO's gradient clip among them."""
    modern_clip = yaml.safe_load((CONF_DIR / "algo" / "ppo.yaml").read_text())["max_grad_norm"]
    clips = {"modern": modern_clip, "paper": PAPER_GRAD_CLIP}
    return {
        p.stem: yaml.safe_load(p.read_text()) | {"max_grad_norm": clips.get(p.stem)}
        for p in sorted((CONF_DIR / "impl").glob("*.yaml"))
    }


def switches(train: dict, algo: dict) -> dict:
    """A run's switches; a record made before a switch existed had it as `modern` has it."""
    modern = presets()["modern"]
    values = {k: train.get(k, modern[k]) for k in modern if k != "max_grad_norm"}
    if algo.get("name") == "ppo":
        values["max_grad_norm"] = algo.get("max_grad_norm", modern["max_grad_norm"])
    return values


def implementation(train: dict, algo: dict) -> str:
    """The preset the run's switches match, else the nearest preset (fewest switches apart;
    modern on a tie) with what differs: `paper − lr_anneal`, `modern with adam_eps=1e-08`."""
    values = switches(train, algo)
    apart = {
        name: [k for k in values if values[k] != preset[k]] for name, preset in presets().items()
    }
    base = min(apart, key=lambda name: (len(apart[name]), name != "modern"))
    preset = presets()[base]
    off = [
        k for k in apart[base] if preset[k] is True or (k == "max_grad_norm" and values[k] is None)
    ]
    changed = [f"{k}={values[k]}" for k in apart[base] if k not in off]
    return " ".join([base, *(["− " + ", ".join(off)] if off else []),
                     *(["with " + ", ".join(changed)] if changed else [])])  # fmt: skip


def base_preset(label: str) -> str:
    """The preset a label is read against: its own first word (`paper − lr_anneal` → paper);
    a preset itself is read against modern, the defaults."""
    first = label.split(" ", 1)[0]
    return "modern" if label == first else first
