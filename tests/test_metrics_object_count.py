"""eval/multiple_objects: real dSprites images hold one object each; images of two separate blobs count."""
import numpy as np
import pytest
import torch

from datamodules import DSpritesDataModule
from metrics.object_count import (
    large_object_share,
    multiple_object_share,
    object_counts,
    object_shares,
    object_sizes,
    smallest_object_pixels,
)


@pytest.mark.parametrize("resolution", [32, 64])
def test_every_real_sprite_is_one_object(resolution):
    images = DSpritesDataModule(resolution=resolution).sample(3000, seed=0)[0]
    assert object_counts(images).tolist() == [1] * 3000
    assert multiple_object_share(images) == 0.0


def test_two_blobs_count_as_two_and_diagonal_neighbours_as_one():
    images = torch.zeros(4, 1, 16, 16)
    images[0, 0, 2:5, 2:5] = 1  # one blob
    images[1, 0, 2:5, 2:5] = images[1, 0, 10:13, 10:13] = 1  # two blobs
    images[2, 0, 3, 3] = images[2, 0, 4, 4] = 0.9  # touching at a corner: one object (8-neighbourhood)
    images[3, 0, 3, 3] = images[3, 0, 3, 6] = 0.9  # a gap of two pixels: two
    assert object_counts(images).tolist() == [1, 2, 1, 2]
    assert multiple_object_share(images) == 0.5
    assert object_counts(images * 0.4).tolist() == [0, 0, 0, 0]  # below the threshold: no object


def test_colour_images_are_refused_with_the_shape():
    with pytest.raises(ValueError, match=r"gray images \(n, 1, H, W\), got shape \(2, 3, 8, 8\)"):
        object_counts(torch.zeros(2, 3, 8, 8))


def test_random_speckle_is_many_objects():
    speckle = torch.from_numpy(np.random.default_rng(0).random((10, 1, 32, 32)) > 0.7).float()
    assert multiple_object_share(speckle) == 1.0


def test_specks_are_left_out_of_the_large_objects_only():
    images = torch.zeros(3, 1, 16, 16)
    images[:, 0, 2:5, 2:5] = 1  # a 9-pixel blob in each image
    images[1, 0, 12, 12] = 1  # and a one-pixel speck
    images[2, 0, 10:13, 10:12] = 1  # and a 6-pixel blob
    image, pixels = object_sizes(images)
    assert sorted(zip(image.tolist(), pixels.tolist())) == [(0, 9), (1, 1), (1, 9), (2, 6), (2, 9)]
    assert object_counts(images).tolist() == [1, 2, 2]
    assert object_counts(images, min_pixels=2).tolist() == [1, 1, 2]
    assert object_counts(images, min_pixels=7).tolist() == [1, 1, 1]
    assert multiple_object_share(images, min_pixels=2) == pytest.approx(1 / 3)
    assert smallest_object_pixels(images) == 1
    assert object_counts(images[:0]).tolist() == []
    real = torch.zeros(1, 1, 16, 16)
    real[0, 0, 0:3, 0:4] = 1  # smallest real object: 12 pixels, so objects of 6 or more count
    assert large_object_share(images, real) == pytest.approx(1 / 3)
    real[0, 0, 0:3, 0:4] = 0
    real[0, 0, 0:3, 0:5] = 1  # 15 pixels: 8 or more, the 6-pixel blob is left out too
    assert large_object_share(images, real) == 0.0
    assert object_shares(images, real) == {"multiple_objects": pytest.approx(2 / 3), "multiple_objects/large": 0.0}


def test_the_smallest_real_sprite_scales_with_the_area_and_is_no_speck():
    smallest = {r: smallest_object_pixels(DSpritesDataModule(resolution=r).sample(3000, seed=0)[0]) for r in (32, 64)}
    assert 3.5 < smallest[64] / smallest[32] < 4.5  # twice the side, four times the pixels
    assert smallest[32] >= 6  # half of it leaves out specks of one to three pixels


def test_images_without_an_object_have_no_smallest_one():
    with pytest.raises(ValueError, match="hold no object"):
        smallest_object_pixels(torch.zeros(2, 1, 8, 8))
