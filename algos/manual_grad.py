"""Hand-derived gradients for the minibatch steps PPO and the critic take hundreds of times.

A 64-sample step of a 64x64 MLP through autograd is mostly per-node bookkeeping rather
than arithmetic, and PPO takes 320 policy steps and 320 critic steps per 2048-step batch.
The same maths written out as a few dozen tensor ops under no_grad skips that bookkeeping
(benchmarks/ and README measure by how much). Each function here is tested equal to autograd in float64
(tests/test_manual_grad.py); TRPO, whose Fisher-vector products need double backprop,
and PG, which takes one step per batch, keep autograd.
"""

import torch
from torch import nn


def flat_grad_buffer(module: nn.Module) -> torch.Tensor:
    """One zeroed buffer holding every parameter's .grad as a view of it.

    A minibatch step writes its gradients into it with one `torch.cat(..., out=)`, so the
    global gradient norm and its clipping are one op each (`clip_flat_grad_`) rather than a
    Python loop over tensors, which for a 64-sample step costs more than the arithmetic.
    """
    params = list(module.parameters())
    flat = torch.zeros(sum(p.numel() for p in params), dtype=params[0].dtype)
    offset = 0
    for p in params:
        p.grad = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    return flat


def clip_coefficient(norm: torch.Tensor, max_norm: float) -> torch.Tensor:
    """What a gradient of global L2 norm `norm` is scaled by so that its norm is at most
    `max_norm`: torch.nn.utils.clip_grad_norm_'s rule, max_norm / (norm + 1e-6), at most 1."""
    return torch.clamp(max_norm / (norm + 1e-6), max=1.0)


def clip_flat_grad_(flat: torch.Tensor, max_norm: float | None) -> torch.Tensor:
    """The global L2 norm of `flat`, scaling it in place by `clip_coefficient` when
    `max_norm` is set."""
    norm = torch.linalg.vector_norm(flat)
    if max_norm is not None:
        flat.mul_(clip_coefficient(norm, max_norm))
    return norm


def tanh_mlp_forward(layers: list[torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
    """The input and every layer's output of a tanh MLP (`algos.policy.mlp`) whose
    parameters are `layers` = [weight0, bias0, weight1, bias1, ...], its `parameters()`.

    The last entry is the network's output; the others are what the backward pass needs.
    """
    activations = [x]
    last = len(layers) // 2 - 1
    for i in range(last + 1):
        out = torch.addmm(layers[2 * i + 1], activations[-1], layers[2 * i].t())
        activations.append(out if i == last else torch.tanh(out))
    return activations


def tanh_mlp_backward(
    layers: list[torch.Tensor], activations: list[torch.Tensor], grad_out: torch.Tensor
) -> list[torch.Tensor]:
    """d(loss)/d(parameter) for each of `layers` (same order), given d(loss)/d(output)."""
    grads: list[torch.Tensor] = []
    grad = grad_out
    for i in range(len(layers) // 2 - 1, -1, -1):
        inputs = activations[i]
        grads[:0] = [grad.t().mm(inputs), grad.sum(dim=0)]
        if i > 0:
            grad = grad.mm(layers[2 * i]) * (1.0 - inputs * inputs)  # tanh' = 1 − tanh²
    return grads


def stacked_tanh_mlp_forward(layers: list[torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
    """`tanh_mlp_forward` of several MLPs of one shape at once: `layers` stacked along a
    first, member axis and `x` (members, samples, in). Each member's activations are bit
    for bit its own `tanh_mlp_forward`'s: baddbmm runs addmm's kernel per slice, except for
    a layer one unit wide, where addmm takes a matrix-vector kernel; that layer is taken
    member by member."""
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


def stacked_tanh_mlp_backward(
    layers: list[torch.Tensor], activations: list[torch.Tensor], grad_out: torch.Tensor
) -> list[torch.Tensor]:
    """`tanh_mlp_backward` of stacked MLPs (see `stacked_tanh_mlp_forward`), bit for bit
    each member's own. The weight gradient of a layer one unit wide is a vector–matrix
    product, for which mm may take another kernel than bmm's slices (MKL on some CPUs
    does): that one is taken member by member."""
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
            grad = torch.bmm(grad, layers[2 * i]) * (1.0 - inputs * inputs)
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
