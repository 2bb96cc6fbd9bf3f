"""Networks sized from config, shared by every model so that comparisons are fair.

* generators: an MLP for 2D data, a DCGAN-style transposed-convolution net for images;
* trunks: the body of the critic, of InfoGAN's discriminator and of the code model Q - an MLP or a
  DCGAN-style strided-convolution net mapping an observation to a feature vector of ``out_dim``;
* :class:`FeatureCritic`: phi(x) = a trunk, a linear map to R^d, and a projection onto the unit sphere;
* :func:`spectrally_normalized`: the critic's layers divided by their largest singular value.

Images are ``(C, H, W)`` with H = W a power of two from 8 to 64, values in [0, 1].
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def _mlp(in_dim: int, hidden: int, layers: int, activation: type[nn.Module]) -> nn.Sequential:
    blocks: list[nn.Module] = []
    for k in range(layers):
        blocks += [nn.Linear(in_dim if k == 0 else hidden, hidden), activation()]
    return nn.Sequential(*blocks)


def _check_resolution(shape: tuple[int, ...]) -> int:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"convolution nets take square images (C, H, W), got observations of shape {shape}")
    side = shape[1]
    if side not in (8, 16, 32, 64):
        raise ValueError(f"convolution nets need a resolution that is a power of two in 8..64, got {side}")
    return int(math.log2(side // 4))


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, out_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.body = _mlp(latent_dim, hidden, layers, nn.ReLU)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.body(z))


class ConvGenerator(nn.Module):
    """DCGAN generator: a 4 x 4 seed, stride-2 transposed convolutions doubling the side, sigmoid output."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], hidden: int) -> None:
        super().__init__()
        n_up = _check_resolution(image_shape)
        widths = [hidden * 2 ** (n_up - 1 - k) for k in range(n_up)]  # e.g. 128, 64, 32 for hidden=32
        self.seed_shape = (widths[0], 4, 4)
        self.project = nn.Sequential(nn.Linear(latent_dim, widths[0] * 16), nn.BatchNorm1d(widths[0] * 16), nn.ReLU())
        blocks: list[nn.Module] = []
        for k in range(n_up - 1):
            blocks += [nn.ConvTranspose2d(widths[k], widths[k + 1], 4, 2, 1), nn.BatchNorm2d(widths[k + 1]), nn.ReLU()]
        blocks += [nn.ConvTranspose2d(widths[-1], image_shape[0], 4, 2, 1), nn.Sigmoid()]
        self.body = nn.Sequential(*blocks)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(-1, *self.seed_shape))


class MLPTrunk(nn.Module):
    def __init__(self, in_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.body = _mlp(in_dim, hidden, layers, lambda: nn.LeakyReLU(0.2))
        self.out_dim = hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x.flatten(1))


class ConvTrunk(nn.Module):
    """DCGAN discriminator body: stride-2 convolutions down to 4 x 4, then a linear layer of ``4 * hidden``."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int) -> None:
        super().__init__()
        n_down = _check_resolution(image_shape)
        widths = [image_shape[0]] + [hidden * 2**k for k in range(n_down)]
        blocks: list[nn.Module] = []
        for k in range(n_down):
            blocks += [nn.Conv2d(widths[k], widths[k + 1], 4, 2, 1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(widths[-1] * 16, 4 * hidden), nn.LeakyReLU(0.2))
        self.out_dim = 4 * hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def build_generator(kind: str, latent_dim: int, observation_shape: tuple[int, ...], hidden: int, layers: int) -> nn.Module:
    if kind == "mlp":
        return MLPGenerator(latent_dim, math.prod(observation_shape), hidden, layers)
    if kind == "conv":
        return ConvGenerator(latent_dim, observation_shape, hidden)  # type: ignore[arg-type]
    raise ValueError(f"model.generator.kind must be mlp or conv, got {kind!r}")


def build_trunk(kind: str, observation_shape: tuple[int, ...], hidden: int, layers: int) -> MLPTrunk | ConvTrunk:
    if kind == "mlp":
        return MLPTrunk(math.prod(observation_shape), hidden, layers)
    if kind == "conv":
        return ConvTrunk(observation_shape, hidden)  # type: ignore[arg-type]
    raise ValueError(f"network kind must be mlp or conv, got {kind!r}")


def spectrally_normalized(module: nn.Module) -> nn.Module:
    """Every linear and convolution layer of ``module`` reparametrized as W / sigma(W) (Miyato et al. 2018).

    sigma is the largest singular value of the weight reshaped to (out, in * kernel), estimated by one
    power iteration per training forward (torch's ``spectral_norm``). Each layer is then 1-Lipschitz up
    to the convolution's reshaping and the network, with LeakyReLU, is Lipschitz with a bounded
    constant: it cannot sharpen its features without bound on differences between real and generated
    images, which on images made an unconstrained critic separate them by a texture the generator then
    copied (docs/studies.md, "dSprites").
    """
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        return spectral_norm(module)
    for name, child in list(module.named_children()):
        setattr(module, name, spectrally_normalized(child))
    return module


class FeatureCritic(nn.Module):
    """phi(x) in R^d on the unit sphere, h / |h|, so that OT costs lie in [0, 2] whatever the critic learns:
    the critic cannot inflate the divergence by scaling and the blur keeps its meaning."""

    def __init__(self, trunk: nn.Module, features: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(trunk.out_dim, features)

    def forward(self, x: Tensor) -> Tensor:
        return self.on_sphere(self.trunk(x))

    def features_of_both(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(phi(x), phi(y))`` with one trunk forward on both batches: the trunk has no batch statistics, so
        this is the same function of each image as two forwards, at one call's overhead and one spectral-norm
        power iteration."""
        trunk_x, trunk_y = self.trunk(torch.cat([x, y])).split([len(x), len(y)])
        return self.on_sphere(trunk_x), self.on_sphere(trunk_y)

    def on_sphere(self, trunk_features: Tensor) -> Tensor:
        return F.normalize(self.head(trunk_features), dim=-1)
