"""Which part of the KL carries the risk: the part spent moving the action mean or the
part spent changing its spread (analysis.kl_parts). Only for records that log both."""

import numpy as np

from analysis import display
from analysis.display import interval
from analysis.kl_parts import part_odds_ratios, shift_share_summary
from analysis.section import Context, Finding, Part, Table, skipped

TITLE = "Which part of the KL carries the risk"


def build(ctx: Context) -> Part | None:
    odds = part_odds_ratios(ctx.at_risk)
    if odds.empty:
        return skipped(TITLE, "no fit: the updates at risk lack kl_shift and kl_scale, or "
                              "the dose–response could not be fitted")  # fmt: skip
    shares = shift_share_summary(ctx.at_risk)
    horizon = ctx.cfg.update_collapse.horizon
    return Part(
        TITLE,
        data={"kl_parts": odds, "kl_shift_share": shares},
        tables=[
            Table("kl_parts",
                  f"KL(π_old‖π_new) = kl_shift (moving the action mean) + kl_scale (changing its spread). "
                  f"Logistic regressions of 'a collapse follows within {horizon} updates' with the mechanism, "
                  "task and training progress: on both parts at once, and on the total with the share spent "
                  "on the shift (95% CIs clustered by run).",
                  display.kl_parts(odds)),
            Table("kl_shift_share", "Where each update rule spends its KL: the share of kl_mean that is kl_shift.",
                  display.shift_shares(shares)),
        ],
        findings=[parts_finding(odds, shares)],
    )  # fmt: skip


def parts_finding(odds, shares) -> Finding:
    terms = odds.set_index("term")
    if not np.isfinite(terms["odds_ratio"].astype(float)).all():
        return Finding(
            "The parts of the KL cannot be told apart in these data (no fit).", "kl_parts"
        )

    def text(term: str) -> str:
        r = terms.loc[term]
        return interval(r["odds_ratio"], r["ci_low"], r["ci_high"], ".3g")

    share = terms.loc["shift_share"]
    matters = share["ci_low"] > 1 or share["ci_high"] < 1
    where = ", ".join(f"{r.variant} {r.shift_share_median:.2f}" for r in shares.itertuples())
    return Finding(
        f"Per tenfold kl_shift the odds of a collapse change ×{text('log10_kl_shift')} and per tenfold "
        f"kl_scale ×{text('log10_kl_scale')}, each at the other fixed. At equal kl_mean, an update that "
        f"spends {share['share_to']:.2f} of its KL on the shift rather than {share['share_from']:.2f} (the "
        f"share's 95th and 5th percentiles) has its odds changed ×{text('shift_share')}: where the KL goes "
        f"{'matters' if matters else 'does not matter detectably'}. Median share on the shift: {where}.",
        "kl_parts",
    )  # fmt: skip
