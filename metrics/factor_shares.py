r"""``eval/share_gap/<factor>``: does the generator draw each value of a factor as often as the data holds it?

The feature network (metrics/feature_network.py) has one classification head per varying factor. Reading
the real and the generated images with the same head gives two histograms of predicted classes,
:math:`p^{\mathrm{real}}` and :math:`p^{\mathrm{gen}}`; the score is their total variation distance

.. math:: \mathrm{gap} = \tfrac12 \sum_v \big|p^{\mathrm{gen}}_v - p^{\mathrm{real}}_v\big| \in [0, 1],

0 when every value is drawn as often as in the data, and the share of generated images that would have
to change class otherwise. Both sides are read by the same network, so its errors on real images enter
both histograms: a generator that draws the data exactly scores about 0 even though the head is not
perfect. It catches what FID averages away: dSprites generators that draw rounded blobs for squares
(the shape head reads 2-4% of their images as squares against 29% of real ones) score 0.25-0.29 on
shape at an FID that looks good. Classes are the head's: factors of more than ``max_classes`` values
(dSprites' 40 orientations, 32 positions) are read in bins of neighbouring values.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from metrics.feature_network import FeatureNetwork


@torch.no_grad()
def predicted_class_shares(images: Tensor, network: FeatureNetwork, batch_size: int = 500) -> list[Tensor]:
    """For each head of ``network``, the share of ``images`` it assigns to each class (sums to 1)."""
    per_batch = [[logits.argmax(1) for logits in network.logits(batch)] for batch in images.split(batch_size)]
    return [torch.bincount(torch.cat(classes), minlength=head.out_features).float() / len(images)
            for classes, head in zip(zip(*per_batch), network.heads)]


def share_gaps(real_images: Tensor, generated_images: Tensor, network: FeatureNetwork,
               head_names: Sequence[str]) -> dict[str, float]:
    """``{name: gap}``: the total variation distance between the class shares of generated and real images
    under each head of ``network``, named by ``head_names`` (one per head, in order)."""
    if len(head_names) != len(network.heads):
        raise ValueError(f"share_gaps: {len(head_names)} names for {len(network.heads)} heads")
    real = predicted_class_shares(real_images, network)
    generated = predicted_class_shares(generated_images, network)
    return {name: 0.5 * float((g - r).abs().sum()) for name, r, g in zip(head_names, real, generated)}
