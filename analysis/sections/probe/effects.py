"""What the one-update probe found, across the checkpoints it probed (experiments/probe.py
writes one CSV per run): how much of a policy's gain one update of a given KL destroys, per
direction; where the surrogate's prediction and the true change part; whether the
direction matters at equal KL; and what one update at each of the study's own settings does.

Only checkpoints whose policy had gained at least the env's `min_gain` over the untrained
return count (a policy with nothing to lose cannot collapse). A change is read as a
fraction of that gain: −1 is all of it lost, and an update *destroyed* the policy when it
lost more than `drop_frac` of it (the collapse rules' threshold). Per checkpoint, the
damage is *significant* when the paired 95% interval of the return change lies below 0,
and the surrogate and the truth have *parted* when the predicted change lies outside it.
Across checkpoints: counts with Wilson intervals, means with t intervals (scipy).
"""

from pathlib import Path

import pandas as pd

from analysis.intervals import wilson_interval
from records.record import Record
from records.t_interval import t_interval

KEYS = ["env_id", "arm", "target_kl"]
KNOB_KEYS = ["env_id", "arm", "knob_value"]
FRACTIONS = {"return_change": "change_frac", "return_change_ci_low": "change_frac_ci_low",
             "return_change_ci_high": "change_frac_ci_high", "predicted_change": "predicted_frac"}  # fmt: skip


def load_probe(files) -> pd.DataFrame:
    """The given probe.csv files that are complete (their probe.yaml, written last, exists)."""
    done = [Path(f) for f in files if Record(Path(f).parent.parent).probe_settings_path.exists()]
    frames = [pd.read_csv(f, dtype={"knob_value": str}) for f in done]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def ppo_epsilons(files) -> list[float]:
    """The ε of PPO's direction in the probe settings the given probe.csv files were made with."""
    settings = [Record(Path(f).parent.parent).probe_settings() for f in files]
    return sorted({s["ppo_epsilon"] for s in settings if "ppo_epsilon" in s})


def with_gain(probe: pd.DataFrame, min_gain: dict[str, float], drop_frac: float) -> pd.DataFrame:
    """The rows of checkpoints that had something to lose, with changes as fractions of the
    gain and each row's verdicts: destroyed, damage significant, parted from the prediction."""
    gain = probe["control_return"] - probe["baseline_return"]
    kept = probe[gain >= probe["env_id"].map(min_gain)].copy()
    kept["gain"] = gain[kept.index]
    for column, fraction in FRACTIONS.items():
        kept[fraction] = kept[column] / kept["gain"]
    measured = kept["return_change"].notna()
    kept["destroyed"] = measured & (kept["return_change"] <= -drop_frac * kept["gain"])
    kept["damaged"] = measured & (kept["return_change_ci_high"] < 0)
    predicted = kept["predicted_change"]
    kept["parted"] = measured & ((kept["return_change_ci_high"] < predicted)
                                 | (kept["return_change_ci_low"] > predicted))  # fmt: skip
    return kept


def summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per arm setting, across checkpoints: the achieved KL, the mean change (fraction of
    the gain) with its interval, the mean prediction, and how many checkpoints were
    destroyed (Wilson interval), significantly damaged, parted from the prediction."""
    rows = []
    for key, group in frame.groupby(keys, sort=True, dropna=False):
        measured = group[group["return_change"].notna()]
        n = len(measured)
        mean, low, high = t_interval(measured["change_frac"])
        destroyed = int(measured["destroyed"].sum())
        d_low, d_high = wilson_interval(destroyed, n)
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "checkpoints": n,
                "runs": measured["run_id"].nunique(),
                "unreached": len(group) - n,
                "kl_mean": measured["kl_mean"].median(),
                "change_frac": mean,
                "change_frac_ci_low": low,
                "change_frac_ci_high": high,
                "predicted_frac": measured["predicted_frac"].mean(),
                "damaged": int(measured["damaged"].sum()),
                "parted": int(measured["parted"].sum()),
                "destroyed": destroyed,
                "destroyed_ci_low": d_low,
                "destroyed_ci_high": d_high,
            }
        )
    return pd.DataFrame(rows)


def ladder_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The directions on the KL ladder, one row per env × direction × target KL."""
    return summarise(frame[frame["target_kl"].notna()], KEYS)


def knob_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One whole update at each of the update rules' own settings, in the probe's knob order."""
    knobs = frame[frame["knob_value"].notna()]
    table = summarise(knobs, KNOB_KEYS)
    order = knobs[KNOB_KEYS].drop_duplicates().reset_index(drop=True).reset_index()
    return table.merge(order, on=KNOB_KEYS).sort_values("index").drop(columns="index")


def control_band(frame: pd.DataFrame) -> tuple[float, float]:
    """The mean interval of the control (the unchanged policy on other episodes), as a
    fraction of the gain: the change evaluation noise alone produces without pairing."""
    control = frame[frame["arm"] == "control"]
    return control["change_frac_ci_low"].mean(), control["change_frac_ci_high"].mean()


def first_majority(ladder: pd.DataFrame, count: str) -> pd.DataFrame:
    """Per env × direction, the smallest target KL at which more than half the checkpoints
    have `count` (destroyed, damaged, parted), with the row there; none if no KL does."""
    hits = ladder[ladder[count] > ladder["checkpoints"] / 2]
    return hits.sort_values("target_kl").groupby(["env_id", "arm"], sort=False).head(1)


def direction_differences(frame: pd.DataFrame, reference: str = "vanilla") -> pd.DataFrame:
    """At equal target KL, each direction's change minus the reference's, paired by
    checkpoint (fractions of the gain), with t intervals: does the direction matter?"""
    ladder = frame[frame["target_kl"].notna()]
    wide = ladder.pivot_table(index=["env_id", "run_id", "checkpoint", "target_kl"],
                              columns="arm", values="change_frac")  # fmt: skip
    rows = []
    for arm in [a for a in wide.columns if a != reference]:
        diff = (wide[arm] - wide[reference]).dropna()
        for (env, target), values in diff.groupby(level=["env_id", "target_kl"]):
            mean, low, high = t_interval(values)
            rows.append({"env_id": env, "target_kl": target, "arm": arm, "reference": reference,
                         "checkpoints": len(values), "difference_frac": mean,
                         "difference_frac_ci_low": low, "difference_frac_ci_high": high})  # fmt: skip
    return pd.DataFrame(rows)
