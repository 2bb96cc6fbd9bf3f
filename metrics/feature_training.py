"""Train the feature network (metrics/feature_network.py) on a datamodule's own samples and factors.

Training is seeded and runs inside ``torch.random.fork_rng``, so it neither depends on nor disturbs the
global random state: a GAN run gives the same weights whether the feature network was trained during
it or loaded from the cache.

Held-out images: ``datamodule.sample`` draws with replacement (scikit-learn's digits has only 1,797
images), so two seeds do not give disjoint sets. Images are instead split by a hash of their pixels:
one in five (:func:`is_held_out`) is never trained on, whatever seed drew it, and the reported accuracy
is measured on those alone.
"""
from __future__ import annotations

import time
import zlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from metrics.feature_network import FeatureNetwork, FeatureNetworkSettings
from metrics.ground_truth import varying_factor_indices

# Seeds of the training and held-out draws, far from the small seeds runs evaluate with (seed=0, 1, ...).
TRAIN_SEED = 7_000_001
TEST_SEED = 7_000_002
HELD_OUT_EVERY = 5  # one image in this many (by pixel hash) is held out


def pixel_hashes(images: Tensor) -> list[int]:
    """CRC32 of every image's pixels quantized to 8 bits (robust to float noise in rendering)."""
    quantized = (images.clamp(0, 1) * 255).round().to(torch.uint8).flatten(1).numpy()
    return [zlib.crc32(row.tobytes()) for row in quantized]


def is_held_out(images: Tensor) -> Tensor:
    """`(n,)` booleans: the images the feature network never trains on."""
    return torch.tensor([value % HELD_OUT_EVERY == 0 for value in pixel_hashes(images)], dtype=torch.bool)


def head_names(datamodule) -> list[str]:
    """The factor each head of the datamodule's feature network classifies, in the heads' order."""
    return [datamodule.factor_names[k] for k in varying_factor_indices(datamodule.factor_sizes)]


def classified_factors(factor_sizes: Sequence[int], max_classes: int) -> list[tuple[int, int]]:
    """``(factor index, classes)`` of every factor that varies: its values, or ``max_classes`` bins."""
    return [(k, min(int(factor_sizes[k]), max_classes)) for k in varying_factor_indices(factor_sizes)]


def factor_targets(factors: Tensor, factor_sizes: Sequence[int], max_classes: int) -> Tensor:
    """`(n, heads)` class of every classified factor: value ``v`` of ``s`` values falls in bin ``v * c // s``."""
    targets = [factors[:, k] * classes // int(factor_sizes[k])
               for k, classes in classified_factors(factor_sizes, max_classes)]
    return torch.stack(targets, dim=1)


def held_out_accuracy(network: FeatureNetwork, images: Tensor, targets: Tensor, batch_size: int = 1000) -> list[float]:
    """Accuracy of every head on ``images`` (nan for none)."""
    if len(images) == 0:
        return [float("nan")] * targets.shape[1]
    with torch.no_grad():
        per_chunk = [network.logits(chunk) for chunk in images.split(batch_size)]
        logits = [torch.cat(per_head) for per_head in zip(*per_chunk)]
    return [float((head.argmax(1) == targets[:, j]).double().mean()) for j, head in enumerate(logits)]


def train_feature_network(datamodule, settings: FeatureNetworkSettings = FeatureNetworkSettings()
                          ) -> tuple[FeatureNetwork, dict]:
    """Train a :class:`FeatureNetwork` on ``datamodule`` (on the CPU) and measure it on held-out images.

    Args:
        datamodule: a FactorDataModule of images: ``observation_shape``, ``factor_names``,
            ``factor_sizes``, ``sample(n, seed)``.
        settings: architecture and training.

    Returns:
        The frozen network (eval mode) and a report: ``accuracy`` (``{factor name: held-out accuracy}``),
        ``held_out`` (images it was measured on), ``train_images``, ``seconds``.
    """
    start = time.perf_counter()
    heads = classified_factors(datamodule.factor_sizes, settings.max_classes)
    if not heads:
        raise ValueError(f"feature network: the data has no varying factor to learn "
                         f"(factor_sizes {tuple(datamodule.factor_sizes)})")
    images, factors = datamodule.sample(settings.num_train, seed=TRAIN_SEED)
    keep = ~is_held_out(images)
    images, targets = images[keep], factor_targets(factors[keep], datamodule.factor_sizes, settings.max_classes)
    # Channels-last tensors make CPU convolutions and pooling about 1.7x faster (same model, another layout).
    images = images.contiguous(memory_format=torch.channels_last)
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
        torch.manual_seed(settings.seed)
        network = FeatureNetwork(datamodule.observation_shape, [classes for _, classes in heads], settings)
        network.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(network.parameters(), lr=settings.lr)
        steps_per_epoch = max(1, len(images) // settings.batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.epochs * steps_per_epoch)
        order = torch.Generator().manual_seed(settings.seed)
        network.train()
        for _ in range(settings.epochs):
            permutation = torch.randperm(len(images), generator=order)
            for step in range(steps_per_epoch):
                batch = permutation[step * settings.batch_size:(step + 1) * settings.batch_size]
                logits = network.logits(images[batch])
                loss = sum(F.cross_entropy(head, targets[batch, j], label_smoothing=settings.label_smoothing)
                           for j, head in enumerate(logits))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
    # Back to the default layout: a network trained here and one loaded from the cache then compute
    # bit-identical features.
    network.to(memory_format=torch.contiguous_format).freeze()
    test_images, test_factors = datamodule.sample(settings.num_test, seed=TEST_SEED)
    held_out = is_held_out(test_images)
    accuracy = held_out_accuracy(network, test_images[held_out],
                                 factor_targets(test_factors[held_out], datamodule.factor_sizes, settings.max_classes))
    return network, {"accuracy": dict(zip(head_names(datamodule), accuracy)), "held_out": int(held_out.sum()),
                     "train_images": int(keep.sum()), "seconds": time.perf_counter() - start}
