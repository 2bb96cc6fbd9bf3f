r"""Unsupervised accuracy: how well a categorical code classifies labels it never saw.

The code's values are matched one-to-one to the labels so as to classify as many samples as possible
(the Hungarian algorithm on the code-label contingency table), and the accuracy of that matching is
reported, as InfoGAN reports its MNIST "error of the categorical code" and clustering papers their
"cluster accuracy".
"""
from __future__ import annotations

from typing import Any

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from torchmetrics import Metric


def _check(code_values: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    code_values, labels = torch.as_tensor(code_values), torch.as_tensor(labels)
    if code_values.ndim != 1 or labels.ndim != 1 or code_values.shape != labels.shape:
        raise ValueError(
            f"unsupervised_accuracy: code values and labels must be 1-D of the same length, got shapes "
            f"{tuple(code_values.shape)} and {tuple(labels.shape)}."
        )
    for name, values in (("code values", code_values), ("labels", labels)):
        if values.is_floating_point() and not torch.equal(values, values.round()):
            raise ValueError(f"unsupervised_accuracy: {name} must be integers (category indices).")
        if values.numel() and values.min() < 0:
            raise ValueError(f"unsupervised_accuracy: {name} must be >= 0, got {int(values.min())}.")
    return code_values.long().cpu(), labels.long().cpu()


def contingency_table(code_values: Tensor, labels: Tensor, num_code_values: int, num_labels: int) -> Tensor:
    """`(num_code_values, num_labels)` counts :math:`n_{kl}` of samples with code value `k` and label `l`."""
    if code_values.numel() and (code_values.max() >= num_code_values or labels.max() >= num_labels):
        raise ValueError(
            f"unsupervised_accuracy: values out of range: code values up to {int(code_values.max())} "
            f"(num_code_values={num_code_values}), labels up to {int(labels.max())} (num_labels={num_labels})."
        )
    flat = code_values * num_labels + labels
    return torch.bincount(flat, minlength=num_code_values * num_labels).view(num_code_values, num_labels)


def matched_accuracy(table: Tensor) -> Tensor:
    r"""Accuracy of the best one-to-one matching of the rows (code values) to the columns (labels).

    .. math:: \max_{\pi} \frac{1}{n} \sum_k n_{k \pi(k)}

    over injective maps :math:`\pi` from code values to labels (or labels to code values, whichever
    are fewer); code values left unmatched count as errors.
    """
    total = table.sum()
    if total == 0:
        raise ValueError("unsupervised_accuracy: no samples.")
    rows, columns = linear_sum_assignment(table.numpy(), maximize=True)
    return table[rows, columns].sum().double() / total


def unsupervised_accuracy(code_values: Tensor, labels: Tensor, num_code_values: int | None = None,
                          num_labels: int | None = None) -> Tensor:
    r"""Accuracy of a categorical code as a classifier, after the best matching of its values to the labels.

    With :math:`n_{kl}` the number of samples whose code value is :math:`k` and label is :math:`l`,

    .. math:: \mathrm{acc} = \max_{\pi\ \text{injective}} \frac{1}{n} \sum_k n_{k \pi(k)},

    solved exactly by the Hungarian algorithm (`scipy.optimize.linear_sum_assignment`).

    Args:
        code_values: `(n,)` integer values of the categorical code (e.g. the argmax of Q(c | x)).
        labels: `(n,)` integer ground-truth labels.
        num_code_values, num_labels: sizes of the two alphabets; `None` uses the largest value + 1.
            With more code values than labels the extra values cannot be matched and their samples
            count as errors, so a code that splits a class over two values is penalized.

    Returns:
        A scalar in :math:`[0, 1]`: 1 when the code is a relabelling of the labels; a constant code
        scores the share of the most frequent label (1/10 on balanced digits).

    Example:
        >>> import torch
        >>> labels = torch.tensor([0, 0, 1, 1, 2, 2])
        >>> float(unsupervised_accuracy(torch.tensor([2, 2, 0, 0, 1, 1]), labels))  # a relabelling
        1.0
        >>> round(float(unsupervised_accuracy(torch.tensor([2, 2, 0, 0, 1, 0]), labels)), 3)
        0.833
    """
    code_values, labels = _check(code_values, labels)
    if code_values.numel() == 0:
        raise ValueError("unsupervised_accuracy: no samples.")
    num_code_values = int(code_values.max()) + 1 if num_code_values is None else int(num_code_values)
    num_labels = int(labels.max()) + 1 if num_labels is None else int(num_labels)
    return matched_accuracy(contingency_table(code_values, labels, num_code_values, num_labels))


class UnsupervisedAccuracy(Metric):
    """Streaming :func:`unsupervised_accuracy`: accumulates the code-label contingency table (summed over
    ranks) and matches once in `compute()`, so the matching sees all samples.

    Example:
        >>> import torch
        >>> metric = UnsupervisedAccuracy(num_code_values=3, num_labels=3)
        >>> metric.update(torch.tensor([2, 2, 0]), torch.tensor([0, 0, 1]))
        >>> metric.update(torch.tensor([0, 1, 0]), torch.tensor([1, 2, 2]))
        >>> round(float(metric.compute()), 3)
        0.833
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    table: Tensor

    def __init__(self, num_code_values: int, num_labels: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_code_values = int(num_code_values)
        self.num_labels = int(num_labels)
        self.add_state("table", torch.zeros(self.num_code_values, self.num_labels, dtype=torch.long),
                       dist_reduce_fx="sum")

    def update(self, code_values: Tensor, labels: Tensor) -> None:
        """`code_values` and `labels`: `(n,)` integers."""
        code_values, labels = _check(code_values, labels)
        table = contingency_table(code_values, labels, self.num_code_values, self.num_labels)
        self.table += table.to(self.table.device)

    def compute(self) -> Tensor:
        return matched_accuracy(self.table.cpu())
