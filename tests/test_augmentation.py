"""The random affine views Q reads categorical codes from (model.code_model.augment)."""
import math

import torch

from configs.loading import load_config, to_plain
from lightning_modules import InformativeOTGAN
from lightning_modules.augmentation import random_affine


def bar(angle_degrees: float = 0.0) -> torch.Tensor:
    """A thin bar through the centre of a 32 x 32 image at ``angle_degrees`` from the vertical, antialiased."""
    coords = (torch.arange(32) + 0.5 - 16) / 16
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    a = math.radians(angle_degrees)
    across = x * math.cos(a) - y * math.sin(a)
    along = x * math.sin(a) + y * math.cos(a)
    return ((1 - across.abs() / 0.08).clamp(0, 1) * (along.abs() < 0.6)).view(1, 1, 32, 32)


def orientation_degrees(image: torch.Tensor) -> float:
    """The angle of the image's principal axis from the vertical (second moments of its intensity)."""
    coords = torch.arange(32.0)
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    w = image.view(32, 32) / image.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    cxx, cyy, cxy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum(), (w * (x - mx) * (y - my)).sum()
    return math.degrees(0.5 * math.atan2(2 * cxy, cyy - cxx))


def test_no_transformation_returns_the_images_exactly():
    images = torch.rand(3, 1, 32, 32)
    assert torch.equal(random_affine(images, 0, 0, 0, torch.Generator().manual_seed(0)), images)


def test_rotations_stay_within_the_bound_and_reach_both_ends():
    images = bar().expand(400, 1, 32, 32)
    angles = torch.tensor([orientation_degrees(v) for v in random_affine(images, 30, 0, 0, torch.Generator().manual_seed(0))])
    assert angles.abs().max() < 30 + 1.5  # the bar is 2.5 px wide: its measured angle is exact within ~1 degree
    assert angles.min() < -25 and angles.max() > 25
    # a bar drawn at a known angle measures that angle (the reference for the check above)
    assert abs(orientation_degrees(bar(20)) - 20) < 1


def test_shifts_keep_the_content_and_move_it_by_at_most_the_bound():
    image = torch.zeros(1, 1, 32, 32)
    image[..., 12:20, 14:18] = 1
    shifted = random_affine(image.expand(200, 1, 32, 32), 0, 0, 0.1, torch.Generator().manual_seed(1))
    coords = torch.arange(32.0)
    centre_x = (shifted.sum(2).squeeze(1) * coords).sum(1) / shifted.sum((1, 2, 3))
    # bilinear interpolation moves mass without creating or losing any away from the border
    assert torch.allclose(shifted.sum((1, 2, 3)), image.sum().expand(200), atol=1e-3)
    assert (centre_x - 15.5).abs().max() <= 0.1 * 32 + 1e-3
    assert (centre_x - 15.5).abs().max() > 0.8 * 0.1 * 32


def test_q_is_fitted_on_the_copies_categorical_codes_and_perturbs_the_cost_with_the_images():
    augment = ["model.code_model.augment.rotation_degrees=20", "model.code_model.augment.scale=0.1",
               "model.code_model.augment.translation=0.1"]
    cfg = to_plain(load_config(["experiment=digits", *augment]).model)
    model = InformativeOTGAN(cfg, (1, 8, 8))
    real = torch.rand(6, 1, 8, 8)
    model.latent_rng.manual_seed(3)
    posteriors = model.training_posterior(real)
    copies = random_affine(real, 20, 0.1, 0.1, torch.Generator().manual_seed(3))
    assert not torch.allclose(copies, real)
    of_images, of_copies = model.code_model(real), model.code_model(copies)
    for posterior in posteriors:
        torch.testing.assert_close(posterior.means, of_images.means)
    for got, expected in zip(posteriors.cost.log_probs, of_images.log_probs):
        torch.testing.assert_close(got, expected)
    for got, expected in zip(posteriors.fitted.log_probs, of_copies.log_probs):
        torch.testing.assert_close(got, expected)


def test_invariant_continuous_codes_are_fitted_on_the_copies_the_others_on_the_images():
    augment = ["model.code_model.augment.rotation_degrees=20", "model.code_model.augment.translation=0.1",
               "model.code_model.augment.invariant_continuous=1"]
    cfg = to_plain(load_config(["experiment=digits", *augment]).model)  # two continuous codes
    model = InformativeOTGAN(cfg, (1, 8, 8))
    real = torch.rand(6, 1, 8, 8)
    model.latent_rng.manual_seed(3)
    posteriors = model.training_posterior(real)
    copies = random_affine(real, 20, 0.0, 0.1, torch.Generator().manual_seed(3))
    of_images, of_copies = model.code_model(real), model.code_model(copies)
    assert not torch.allclose(of_images.means[:, 1], of_copies.means[:, 1])
    torch.testing.assert_close(posteriors.cost.means, of_images.means)
    torch.testing.assert_close(posteriors.fitted.means[:, 0], of_images.means[:, 0])
    torch.testing.assert_close(posteriors.fitted.means[:, 1], of_copies.means[:, 1])
    for got, expected in zip(posteriors.fitted.log_probs, of_copies.log_probs):
        torch.testing.assert_close(got, expected)
