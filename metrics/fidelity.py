r"""FID and improved precision and recall of generated images against real ones, in one feature space.

FID (Heusel et al., NeurIPS 2017) is torchmetrics' ``FrechetInceptionDistance`` given our own feature
network (metrics/feature_network.py) instead of Inception-v3:

.. math::
    \mathrm{FID} = \|\mu_r - \mu_g\|^2 + \mathrm{tr}\big(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2}\big)

over the means and covariances of real and generated features; precision and recall are
:func:`metrics.precision_recall.improved_precision_recall` on the same features.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from metrics.precision_recall import ImprovedPrecisionRecall

NEIGHBOURHOOD = 3  # k of the k-NN balls, the paper's value


def fidelity(real_images: Tensor, generated_images: Tensor, network: nn.Module, k: int = NEIGHBOURHOOD,
             batch_size: int = 500) -> dict[str, float]:
    """``{"fid", "precision", "recall"}`` of ``generated_images`` against ``real_images``.

    Args:
        real_images, generated_images: ``(n, C, H, W)`` and ``(m, C, H, W)`` floats in [0, 1], on the
            network's device; at least ``k + 1`` each (FID's covariances need thousands for a stable
            value: its bias falls like 1/n, so compare scores at equal sample sizes).
        network: maps images to ``(n, d)`` features and has ``num_features`` (a frozen
            :class:`~metrics.feature_network.FeatureNetwork`).
        k: neighbourhood size of precision and recall.
        batch_size: images per forward pass.

    Returns:
        FID (>= 0, lower is better; in the network's feature space, not comparable with Inception FIDs),
        precision and recall in [0, 1] (higher is better).
    """
    for name, images in (("real images", real_images), ("generated images", generated_images)):
        if images.ndim != 4 or len(images) <= k:
            raise ValueError(f"fidelity: {name} must be (n, C, H, W) with n > {k}, got shape {tuple(images.shape)}")
    # With a custom network torchmetrics passes images through unchanged (normalize=True only picks a
    # float probe image, skipped since the network has num_features). Evaluation runs on rank 0 alone,
    # so neither metric may sync over ranks.
    device = real_images.device
    fid = FrechetInceptionDistance(feature=network, normalize=True, sync_on_compute=False).to(device)
    precision_recall = ImprovedPrecisionRecall(network, k=k, sync_on_compute=False).to(device)
    with torch.no_grad():
        for images, real in ((real_images, True), (generated_images, False)):
            for batch in images.split(batch_size):
                fid.update(batch, real=real)
                precision_recall.update(batch, real=real)
        precision, recall = precision_recall.compute()
        # FID's float64 covariances; a tiny negative from round-off means 0.
        score = max(float(fid.compute()), 0.0)
    return {"fid": score, "precision": float(precision), "recall": float(recall)}
