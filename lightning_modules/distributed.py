"""Computing the Sinkhorn loss on the global batch under data parallelism.

The Sinkhorn divergence is a batch-level quantity: per-rank divergences of sub-batches are a
different, more biased estimator than the divergence of the whole batch. With ``model.ot.global_batch``
every rank gathers the features of all ranks, solves the same OT problem on the global batch and
backpropagates only into its own samples. DDP then *averages* gradients over the W ranks, each holding
the gradient through its own samples of the one global loss, so the loss is scaled by W
(:func:`world_size`) to make the averaged gradient the gradient of the global loss.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_with_local_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` over ranks along dim 0 (rank order); gradients flow into this rank's part only.

    Every rank must pass a tensor of the same shape.
    """
    if world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[dist.get_rank()] = tensor
    return torch.cat(parts)


def gather_columns(matrix: Tensor) -> Tensor:
    """Concatenate a detached ``(N, M_local)`` matrix over ranks along its columns."""
    return gather_with_local_grad(matrix.detach().T.contiguous()).T
