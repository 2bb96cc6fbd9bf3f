"""Evaluating a model in the middle of training: eval mode and no gradients, then training resumes as before."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (batch norm uses running statistics and leaves them alone) and no autograd; the model's
    previous mode is restored afterwards, also when the evaluation raises."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """Where the model's latents must go: a LightningModule's `device`, else its first parameter's."""
    device = getattr(model, "device", None)
    if device is not None:
        return torch.device(device)
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
