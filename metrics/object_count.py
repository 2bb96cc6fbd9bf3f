r"""``eval/multiple_objects``: the share of generated images that show more than one object, for data whose
every image holds exactly one (dSprites: one sprite on a black background).

An image's objects are the connected components (8-neighbourhood) of its pixels above ``threshold``:

.. math:: \text{share} = \frac{1}{n} \sum_{i=1}^n \mathbb{1}\big[\#\text{components}(x_i > t) > 1\big].

Real dSprites images score 0 at 32 x 32 and 64 x 64 (tests/test_metrics_object_count.py). A generator that
draws two blobs in one image scores above 0 even when its FID is fine; that is what this score catches.
Connected components are scipy's (``scipy.ndimage.label``), a few milliseconds for thousands of images.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def object_counts(images: torch.Tensor, threshold: float = 0.5) -> np.ndarray:
    """Connected components of each image's pixels above ``threshold``; ``images`` is ``(n, 1, H, W)`` in [0, 1].

    >>> image = torch.zeros(1, 1, 8, 8); image[0, 0, 1:3, 1:3] = 1; image[0, 0, 5:7, 5:7] = 1
    >>> object_counts(image).tolist()
    [2]
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"object_counts needs gray images (n, 1, H, W), got shape {tuple(images.shape)}")
    masks = (images[:, 0] > threshold).cpu().numpy()
    # One call for the batch: a 3D structure that connects nothing across images labels each image on its own.
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = EIGHT_NEIGHBOURS
    labels, _ = ndimage.label(masks, structure=structure)
    return np.array([len(np.unique(image[image > 0])) for image in labels])


def multiple_object_share(images: torch.Tensor, threshold: float = 0.5) -> float:
    """The share of ``images`` with more than one object (:func:`object_counts`), in [0, 1]; lower is better
    for data whose images hold one object each."""
    return float((object_counts(images, threshold) > 1).mean())
