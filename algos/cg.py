"""Conjugate gradient: solves H x = b using only products H v (H symmetric positive
definite), for stacked systems, one a row; a single system is a row of one."""

from collections.abc import Callable

import torch


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iters: list[int],
    residual_tols: list[float],
) -> tuple[torch.Tensor, list[float]]:
    """Approximate x = H⁻¹ b for each row of `b` (systems, n), whose products `matvec`
    takes for all rows at once; returns x and each row's final ‖r‖².

    A row stops at its own `iters` or once its own ‖r‖² is below its tolerance, and its
    x, r and p stay as they were from then on: each row is bit for bit its solve as a row
    of one. The dot products are taken row by row: torch.dot's kernel sums in an order no
    batched reduction reproduces.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = row_dots(r, r)
    for it in range(max(iters)):
        norms = rr.tolist()
        going = [m for m, (n, tol) in enumerate(zip(norms, residual_tols, strict=True))
                 if it < iters[m] and not n < tol]  # fmt: skip
        if not going:
            break
        rows = slice(None) if len(going) == len(iters) else torch.tensor(going)
        hp = matvec(p)[rows]
        p_going, rr_going = p[rows], rr[rows]
        alpha = (rr_going / row_dots(p_going, hp)).unsqueeze(1)
        x[rows] += alpha * p_going
        r[rows] -= alpha * hp
        r_going = r[rows]
        rr_new = row_dots(r_going, r_going)
        p[rows] = r_going + (rr_new / rr_going).unsqueeze(1) * p_going
        rr[rows] = rr_new
    return x, rr.tolist()


def row_dots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.dot of each row of `a` with the same row of `b`."""
    return torch.stack([torch.dot(x, y) for x, y in zip(a, b, strict=True)])
