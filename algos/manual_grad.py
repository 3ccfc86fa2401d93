"""Hand-derived gradients for the minibatch steps PPO and the critic take hundreds of times.

A 64-sample step of a 64x64 MLP through autograd is mostly per-node bookkeeping rather
than arithmetic, and PPO takes 320 policy steps and 320 critic steps per 2048-step batch.
The same maths written out as a few dozen tensor ops under no_grad skips that bookkeeping
(benchmarks/ and README measure by how much). Each function here is tested equal to autograd in float64
(tests/test_manual_grad.py); TRPO, whose Fisher-vector products need double backprop,
and PG, which takes one step per batch, keep autograd.
"""

import torch


def clip_coefficient(norm: torch.Tensor, max_norm: torch.Tensor) -> torch.Tensor:
    """What a gradient of global L2 norm `norm` is scaled by so that its norm is at most
    `max_norm`: torch.nn.utils.clip_grad_norm_'s rule, max_norm / (norm + 1e-6), at most 1
    (an infinite `max_norm`, no clip, scales by exactly 1)."""
    return torch.clamp(max_norm / (norm + 1e-6), max=1.0)


def clipped_flat_grads(
    grads: list[torch.Tensor], max_norm: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked members' gradients as one (members, parameters) tensor, each row scaled by
    `clip_coefficient` of its own global L2 norm and its own `max_norm` (members, 1), and
    those norms before clipping: a global-norm clip is two ops for the whole population."""
    flat = torch.cat([g.reshape(g.shape[0], -1) for g in grads], dim=1)
    norm = torch.linalg.vector_norm(flat, dim=1, keepdim=True)
    return flat * clip_coefficient(norm, max_norm), norm


def tanh_mlp_forward(layers: list[torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
    """The input and every layer's output of stacked tanh MLPs (`algos.policy.mlp`), whose
    parameters are `layers` = [weight0, bias0, weight1, bias1, ...] (their `parameters()`)
    stacked along a first, member axis, on `x` (members, samples, in). A run alone is a
    stack of one.

    The last entry is the networks' output; the others are what the backward pass needs.
    Each member's activations are bit for bit those of a stack of that member alone:
    baddbmm runs one kernel per slice, except for a layer one unit wide, where the slice
    would take a matrix-vector kernel; that layer is taken member by member."""
    activations = [x]
    last = len(layers) // 2 - 1
    for i in range(last + 1):
        weight, bias, inputs = layers[2 * i], layers[2 * i + 1], activations[-1]
        if weight.shape[1] == 1:
            out = torch.stack(
                [torch.addmm(b, h, w.t()) for w, b, h in zip(weight, bias, inputs, strict=True)]
            )
        else:
            out = torch.baddbmm(bias.unsqueeze(1), inputs, weight.transpose(1, 2))
        activations.append(out if i == last else torch.tanh(out))
    return activations


def tanh_mlp_backward(
    layers: list[torch.Tensor], activations: list[torch.Tensor], grad_out: torch.Tensor
) -> list[torch.Tensor]:
    """d(loss)/d(parameter) for each of the stacked `layers` (same order), given
    d(loss)/d(output) (members, samples, out); see `tanh_mlp_forward`. The weight gradient
    of a layer one unit wide is a vector–matrix product, for which a slice may take another
    kernel (MKL on some CPUs does): that one is taken member by member."""
    grads: list[torch.Tensor] = []
    grad = grad_out
    for i in range(len(layers) // 2 - 1, -1, -1):
        inputs = activations[i]
        if grad.shape[2] == 1:
            weight_grad = torch.stack([g.t().mm(h) for g, h in zip(grad, inputs, strict=True)])
        else:
            weight_grad = torch.bmm(grad.transpose(1, 2), inputs)
        grads[:0] = [weight_grad, grad.sum(dim=1)]
        if i > 0:
            grad = torch.bmm(grad, layers[2 * i]) * (1.0 - inputs * inputs)  # tanh' = 1 − tanh²
    return grads


def gaussian_logp_grads(
    z: torch.Tensor, inv_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """d log N(a; μ, σ²)/dμ and /d(log σ) per sample and action dim, where z = (a − μ)/σ."""
    return z * inv_std, z * z - 1.0


def gaussian_kl_grads(
    mean_old: torch.Tensor, log_std_old: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """d KL(π_old‖π_θ)/dμ and /d(log σ) per sample and action dim (see algos.kl.gaussian_kl)."""
    inv_var = torch.exp(-2.0 * log_std)
    diff = mean - mean_old
    return diff * inv_var, 1.0 - (torch.exp(2.0 * log_std_old) + diff * diff) * inv_var
