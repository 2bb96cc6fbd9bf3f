r"""``eval/multiple_objects``: the share of generated images that show more than one object, for data whose
every image holds exactly one (dSprites: one sprite on a black background).

An image's objects are the connected components (8-neighbourhood) of its pixels above ``threshold``:

.. math:: \text{share} = \frac{1}{n} \sum_{i=1}^n \mathbb{1}\big[\#\text{components}(x_i > t) > 1\big].

Real dSprites images score 0 at 32 x 32 and 64 x 64 (tests/test_metrics_object_count.py). A generator that
draws two blobs in one image scores above 0 even when its FID is fine; that is what this score catches.
A stray speck of a pixel or two counts as well, and on dSprites it is half of what the score counts once
the sprites look right; ``eval/multiple_objects/large`` counts only components of at least half the
pixels of the smallest real object, so the two failures (specks, a second sprite) are read apart.
Connected components are scipy's (``scipy.ndimage.label``), a few milliseconds for thousands of images.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def object_sizes(images: torch.Tensor, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The connected components of each image's pixels above ``threshold``, ``images`` ``(n, 1, H, W)`` in
    [0, 1]: ``(image, pixels)``, the image each component lies in and its size in pixels, one entry each."""
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"counting objects needs gray images (n, 1, H, W), got shape {tuple(images.shape)}")
    masks = (images[:, 0] > threshold).cpu().numpy()
    # One call for the batch: a 3D structure that connects nothing across images labels each image on its own.
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = EIGHT_NEIGHBOURS
    labels, count = ndimage.label(masks, structure=structure)
    pixels = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    image_of_label = np.zeros(count + 1, dtype=np.int64)
    image_of_label[labels.ravel()] = np.repeat(np.arange(len(masks)), masks[0].size if len(masks) else 0)
    return image_of_label[1:], pixels


def object_counts(images: torch.Tensor, threshold: float = 0.5, min_pixels: int = 1) -> np.ndarray:
    """How many components of at least ``min_pixels`` pixels above ``threshold`` each image shows
    (:func:`object_sizes`).

    >>> image = torch.zeros(1, 1, 8, 8); image[0, 0, 1:3, 1:3] = 1; image[0, 0, 5:7, 5:7] = 1
    >>> object_counts(image).tolist(), object_counts(image, min_pixels=5).tolist()
    ([2], [0])
    """
    return _counts(*object_sizes(images, threshold), len(images), min_pixels)


def _counts(image: np.ndarray, pixels: np.ndarray, n_images: int, min_pixels: int) -> np.ndarray:
    """Components of at least ``min_pixels`` per image, from :func:`object_sizes`'s ``(image, pixels)``."""
    return np.bincount(image[pixels >= min_pixels], minlength=n_images)


def multiple_object_share(images: torch.Tensor, threshold: float = 0.5, min_pixels: int = 1) -> float:
    """The share of ``images`` with more than one object of at least ``min_pixels`` (:func:`object_counts`),
    in [0, 1]; lower is better for data whose images hold one object each."""
    return float((object_counts(images, threshold, min_pixels) > 1).mean())


def smallest_object_pixels(images: torch.Tensor, threshold: float = 0.5) -> int:
    """The pixels of the smallest component in ``images`` (real data: the smallest object it can hold)."""
    pixels = object_sizes(images, threshold)[1]
    if not len(pixels):
        raise ValueError(f"no pixel of these images is above {threshold}: they hold no object to measure")
    return int(pixels.min())


def large_object_share(generated: torch.Tensor, real: torch.Tensor, threshold: float = 0.5) -> float:
    """``eval/multiple_objects/large``: the share of ``generated`` images with more than one object of at least
    half the pixels of the smallest object in ``real`` - specks left out, a second sprite counted."""
    return object_shares(generated, real, threshold)["multiple_objects/large"]


def object_shares(generated: torch.Tensor, real: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """``multiple_objects`` (:func:`multiple_object_share`) and ``multiple_objects/large``
    (:func:`large_object_share`) of ``generated``, from one labelling of its components."""
    half_the_smallest = math.ceil(smallest_object_pixels(real, threshold) / 2)
    sizes = object_sizes(generated, threshold)
    return {name: float((_counts(*sizes, len(generated), min_pixels) > 1).mean())
            for name, min_pixels in (("multiple_objects", 1), ("multiple_objects/large", half_the_smallest))}
