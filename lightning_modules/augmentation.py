r"""Random small affine transformations of images, the views Q reads categorical codes (and, with
``model.code_model.augment.invariant_continuous``, the last continuous codes) from.

Why: Q is fitted to the plan's posterior on real observations (docs/method.md eq. 9), and the plan is
perturbed by Q (eq. 7): Q and the plan label the data together, as in self-labelling by balanced
optimal transport (Asano, Rupprecht and Vedaldi, "Self-labelling via simultaneous clustering and
representation learning", ICLR 2020). Which partition of the data they settle on is then decided by what
Q can tell apart. A Q that reads its categorical codes from a randomly rotated, scaled and shifted copy
of each image cannot tell a slanted 1 from an upright one, nor a small square from a large one, and so
cannot split a class along those factors - the factors that the continuous codes are meant to carry.
Self-labelling methods rely on such augmentations (Asano et al. 2020, Sec. 3; IIC, Ji et al. 2019).
A continuous code read from the copies can likewise hold only what the transformations keep: on
dSprites, turned and shifted copies leave it the sprite's area (docs/method.md, after eq. 14).

Written here rather than taken from torchvision (not a dependency): ``torch.nn.functional.affine_grid``
and ``grid_sample`` do the work; this module only draws each image's transformation from the model's
latent noise stream, so that a resumed run draws what an uninterrupted one would.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def random_affine(images: Tensor, rotation_degrees: float, scale: float, translation: float,
                  generator: torch.Generator) -> Tensor:
    """Each image rotated by an angle uniform in +-``rotation_degrees``, scaled by a factor uniform in
    ``1 +- scale`` and shifted by up to ``translation`` of its width and height (each uniform), about the
    image centre; pixels from outside the image are 0 (the background of the framework's image data).

    Args:
        images: ``(N, C, H, W)``.
        generator: the CPU generator the transformations are drawn from.
    """
    n = images.shape[0]
    uniform = torch.rand(n, 4, generator=generator) * 2 - 1  # in [-1, 1): angle, scale, shift x, shift y
    angle = uniform[:, 0] * math.radians(rotation_degrees)
    factor = 1 + uniform[:, 1] * scale
    # affine_grid maps output coordinates (in [-1, 1]) to input coordinates: the inverse transformation.
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    shift = uniform[:, 2:] * 2 * translation  # a shift of a fraction f of the width is 2 f in [-1, 1] units
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
