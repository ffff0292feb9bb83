"""Fully connected GAN parts: Goodfellow et al. 2014's MNIST networks and the 4-layer 512-wide
ReLU generator of WGAN-GP Figure 2 (Gulrajani et al. 2017).

Goodfellow et al. 2014 (arXiv:1406.2661, Section 5, and the authors' released MNIST
configuration): G is z -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid, weights U(-0.05, 0.05);
D is maxout(240 units, 5 pieces) -> maxout(240, 5) -> 1, with dropout (input keep 0.8,
hidden keep 0.5), weights U(-0.005, 0.005). Here the generator ends in tanh instead of sigmoid
(our images are in [-1, 1]; tanh(x) = 2 sigmoid(2x) - 1 is the same function family), D
returns the logit (the sigmoid lives in the loss), and the hidden sizes scale with `width`:
1200 * width / 64 and 240 * width / 64, so width=64 gives the paper's networks.

Checked against goodfeli/adversarial mnist.yaml: the sizes, the U(-irange, irange)
initialisation (.05 for G, .005 for D) and D's dropout (include probability .8 for the input,
.5 for the hidden layers, i.e. drop 0.2 / 0.5) match. Not reproduced here: the authors' G
output layer starts with the biases set to the logit of the data's per-pixel means
(init_sigmoid_bias_from_marginals), and their newest configuration draws z from
U(-sqrt(3), sqrt(3)) (`advlab.gan.sampling` draws U(-1, 1)). Their training rule is
`advlab.gan.schedules`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from advlab.models.gan.layers import check_image_input, check_latent_input


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> hidden ReLU layers -> (N, channels, S, S) tanh images in [-1, 1].

    hidden: widths of the ReLU layers ([1200, 1200] for Goodfellow et al. 2014; [512] * 4 for
    the 'G: 4-layer 512-dim ReLU MLP' row of WGAN-GP Figure 2)."""

    def __init__(
        self, *, image_size: int, channels: int, latent_dim: int, hidden: Sequence[int]
    ) -> None:
        super().__init__()
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        sizes = [latent_dim, *hidden]
        layers: list[nn.Module] = []
        for d_in, d_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        layers += [nn.Linear(sizes[-1], channels * image_size * image_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        check_latent_input(z, self.latent_dim, type(self).__name__)
        x = self.net(z)  # (N, C*S*S)
        return x.view(z.shape[0], self.channels, self.image_size, self.image_size)


class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al. 2013): y_j = max_k (W x + b)_{j,k} over `pieces` linear
    pieces per unit. (N, in_features) -> (N, units)."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        y = self.linear(x).view(x.shape[0], self.units, self.pieces)  # (N, units, pieces)
        return y.amax(dim=-1)  # (N, units)


class MaxoutDiscriminator(nn.Module):
    """Goodfellow et al. 2014's MNIST discriminator: (N, C, S, S) -> flatten -> dropout 0.2 ->
    maxout(units, pieces) -> dropout 0.5 -> maxout(units, pieces) -> dropout 0.5 -> linear ->
    (N,) logits. dropout=False removes the three dropout layers."""

    def __init__(
        self, *, image_size: int, channels: int, units: int, pieces: int = 5, dropout: bool = True
    ) -> None:
        super().__init__()
        self.image_size, self.channels = image_size, channels
        p_in, p_hidden = (0.2, 0.5) if dropout else (0.0, 0.0)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(p_in),
            Maxout(channels * image_size * image_size, units, pieces),
            nn.Dropout(p_hidden),
            Maxout(units, units, pieces),
            nn.Dropout(p_hidden),
            nn.Linear(units, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        check_image_input(x, self.channels, self.image_size, type(self).__name__)
        return self.net(x).flatten()  # (N,)


@torch.no_grad()
def init_uniform_(module: nn.Module, irange: float) -> nn.Module:
    """Goodfellow et al.'s initialisation: linear weights ~ U(-irange, irange), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -irange, irange)
            nn.init.zeros_(m.bias)
    return module


def goodfellow_mlp(
    *, image_size: int, channels: int, latent_dim: int, width: int, dropout: bool = True
) -> tuple[nn.Module, nn.Module]:
    """Goodfellow et al. 2014's MNIST pair (module docstring), hidden sizes scaled by width/64."""
    hidden = max(1, round(1200 * width / 64))
    units = max(1, round(240 * width / 64))
    generator = MLPGenerator(
        image_size=image_size, channels=channels, latent_dim=latent_dim, hidden=[hidden, hidden]
    )
    discriminator = MaxoutDiscriminator(
        image_size=image_size, channels=channels, units=units, dropout=dropout
    )
    return init_uniform_(generator, 0.05), init_uniform_(discriminator, 0.005)
