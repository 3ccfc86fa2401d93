"""Natural policy gradient (Kakade 2001; as in Tianshou's MuJoCo benchmark): TRPO's full
step taken as it is, with no line search on the exact KL.

Δθ = sqrt(2δ / sᵀ(H + λI)s) · s,  s ≈ (H + λI)⁻¹g  (algos.natural_gradient)

Its δ sets the KL that the quadratic model predicts, not a bound on the exact KL: the
gap between the two is what the line search of TRPO guards against.
"""

from dataclasses import dataclass

import torch

from algos.natural_gradient import NaturalGradientConfig, NaturalGradientUpdate, NaturalSteps, Stack


@dataclass
class NPGConfig(NaturalGradientConfig):
    pass


class NPGUpdate(NaturalGradientUpdate):
    @staticmethod
    def follow(
        stack: Stack, proposed: NaturalSteps, configs: list[NPGConfig]
    ) -> tuple[torch.Tensor, list[dict[str, float]]]:
        """Each stacked member's full step taken as it is; its surrogate there is the one
        measured with `kl_full_step`."""
        theta, metrics = proposed.theta_old.clone(), proposed.metrics
        rows = [m for m, ok in enumerate(proposed.proposed) if ok]
        theta[rows] = proposed.theta_old[rows] + proposed.full_step[rows]
        for m in rows:
            metrics[m]["policy_loss"] = -proposed.surrogate_full[m]
        return theta, metrics
