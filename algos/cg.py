"""Conjugate gradient: solves H x = g using only products H v (H symmetric positive definite)."""

from collections.abc import Callable

import torch


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int, residual_tol: float
) -> tuple[torch.Tensor, float]:
    """Approximate x = H⁻¹ b in at most `iters` iterations; returns x and the final ‖r‖²."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = torch.dot(r, r)
    for _ in range(iters):
        if rr.item() < residual_tol:
            break
        hp = matvec(p)
        alpha = rr / torch.dot(p, hp)
        x += alpha * p
        r -= alpha * hp
        rr_new = torch.dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, rr.item()
