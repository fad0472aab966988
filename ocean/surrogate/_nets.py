"""Small MLPs shared by the surrogates, and a fast forward pass of a deep ensemble of them.

Prediction of a deep ensemble member by member costs one ``torch.nn.Sequential`` call per
member, dominated by Python overhead for the few scenarios of a single call. The members'
weights are stacked once (:func:`stack_members`) and the whole ensemble runs with one batched
matrix product per layer (:func:`stacked_forward`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["mlp", "stack_members", "stacked_forward"]


def mlp(n_in: int, n_out: int, width: int, depth: int) -> Any:
    """``depth`` hidden ``Linear + SiLU`` layers of ``width`` units, then a linear output."""
    import torch

    layers: list[torch.nn.Module] = []
    d = n_in
    for _ in range(depth):
        layers += [torch.nn.Linear(d, width), torch.nn.SiLU()]
        d = width
    layers.append(torch.nn.Linear(d, n_out))
    return torch.nn.Sequential(*layers)


def stack_members(nets: Any) -> list[tuple[Any, Any]]:
    """Weights ``(M, in, out)`` and biases ``(M, 1, out)`` of every layer of ``M`` MLPs of :func:`mlp`.

    The tensors are detached copies: stack again after the weights change.
    """
    import torch

    linears = [[m for m in net if isinstance(m, torch.nn.Linear)] for net in nets]
    return [
        (
            torch.stack([lin[k].weight.detach().T for lin in linears]),
            torch.stack([lin[k].bias.detach()[None, :] for lin in linears]),
        )
        for k in range(len(linears[0]))
    ]


def stacked_forward(layers: list[tuple[Any, Any]], x: Any) -> Any:
    """Outputs ``(M, n, out)`` of all members on inputs ``x`` ``(n, in)``, without gradients."""
    import torch

    with torch.inference_mode():
        h = x.expand(layers[0][0].shape[0], *x.shape)
        for k, (w, b) in enumerate(layers):
            h = torch.baddbmm(b, h, w)
            if k < len(layers) - 1:
                h = torch.nn.functional.silu(h)
    return h
