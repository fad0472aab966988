"""A small CNN that turns a multi-band image patch into a fixed-size embedding.

Two or three ``3x3 conv -> activation`` blocks (a ``2x2`` max-pool between blocks while the patch
is still at least 4 pixels wide) and global average pooling, then a linear projection. A ``1x1``
patch has no spatial structure, so it falls back to an MLP over the bands.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ecocube.errors import InvalidInputError

__all__ = ["PatchEncoder"]


class PatchEncoder(torch.nn.Module):
    """Patch ``(sites, bands, P, P)`` → embedding ``(sites, embedding)``.

    Parameters
    ----------
    n_bands
        Input channels (bands of the patch).
    patch_size
        Side ``P`` of the square patch in pixels (>= 1); 1 gives an MLP over the bands.
    channels
        Output channels of the conv blocks (or hidden widths of the MLP when ``P == 1``).
    embedding
        Size of the output embedding.
    activation
        Activation module class (e.g. ``torch.nn.ReLU``).
    dropout
        Dropout rate on the embedding.
    """

    def __init__(
        self,
        n_bands: int,
        patch_size: int,
        *,
        channels: Sequence[int] = (16, 32),
        embedding: int = 16,
        activation: type[torch.nn.Module] = torch.nn.ReLU,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if n_bands < 1:
            raise InvalidInputError(f"n_bands must be >= 1, got {n_bands!r}")
        if patch_size < 1:
            raise InvalidInputError(f"patch_size must be >= 1, got {patch_size!r}")
        if not channels or any(int(c) < 1 for c in channels):
            raise InvalidInputError(f"channels must be positive widths, got {tuple(channels)!r}")
        self.n_bands, self.patch_size = int(n_bands), int(patch_size)
        layers: list[torch.nn.Module] = []
        width = self.n_bands
        if self.patch_size == 1:
            layers.append(torch.nn.Flatten())
            for c in channels:
                layers += [torch.nn.Linear(width, int(c)), activation()]
                width = int(c)
        else:
            side = self.patch_size
            for k, c in enumerate(channels):
                if k > 0 and side >= 4:
                    layers.append(torch.nn.MaxPool2d(2))
                    side //= 2
                layers += [torch.nn.Conv2d(width, int(c), 3, padding=1), activation()]
                width = int(c)
            layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
        layers += [torch.nn.Linear(width, int(embedding)), activation()]
        if dropout > 0:
            layers.append(torch.nn.Dropout(dropout))
        self.body = torch.nn.Sequential(*layers)
        self.embedding = int(embedding)

    def forward(self, patch: torch.Tensor) -> torch.Tensor:
        """Embed ``patch`` of shape ``(sites, n_bands, P, P)``; returns ``(sites, embedding)``."""
        if patch.ndim != 4 or patch.shape[1] != self.n_bands:
            raise InvalidInputError(
                f"patch has shape {tuple(patch.shape)}, expected (sites, {self.n_bands}, "
                f"{self.patch_size}, {self.patch_size}): the bands of the patch must match the "
                "bands the encoder was built (fitted) with"
            )
        if patch.shape[-2:] != (self.patch_size, self.patch_size):
            raise InvalidInputError(
                f"patch is {patch.shape[-2]}x{patch.shape[-1]} pixels, the encoder expects "
                f"{self.patch_size}x{self.patch_size}; use the patch_size the model was fitted with"
            )
        return self.body(patch)
