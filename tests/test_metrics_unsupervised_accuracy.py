"""Unsupervised accuracy: relabellings score 1, uninformative codes score the majority share, and the
Hungarian matching equals a brute-force search over matchings."""
import itertools

import pytest
import torch

from metrics import UnsupervisedAccuracy, unsupervised_accuracy


def balanced_labels(n=1000, k=10, seed=0):
    return torch.arange(n) % k, torch.Generator().manual_seed(seed)


def test_permuted_perfect_code_scores_one():
    labels, generator = balanced_labels()
    permutation = torch.randperm(10, generator=generator)
    assert float(unsupervised_accuracy(permutation[labels], labels, 10, 10)) == 1.0


def test_constant_code_scores_the_majority_share():
    labels, _ = balanced_labels()
    assert float(unsupervised_accuracy(torch.full_like(labels, 3), labels, 10, 10)) == pytest.approx(0.1)
    skewed = torch.cat([torch.zeros(70, dtype=torch.long), torch.ones(30, dtype=torch.long)])
    assert float(unsupervised_accuracy(torch.zeros(100, dtype=torch.long), skewed, 10, 2)) == pytest.approx(0.7)


def brute_force(code_values, labels, k):
    table = torch.zeros(k, k)
    for c, y in zip(code_values.tolist(), labels.tolist()):
        table[c, y] += 1
    best = max(sum(table[c, p[c]] for c in range(k)) for p in itertools.permutations(range(k)))
    return float(best) / len(labels)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_noisy_codes(seed):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(5, (300,), generator=generator)
    code_values = torch.where(torch.rand(300, generator=generator) < 0.6, (labels + 2) % 5,
                              torch.randint(5, (300,), generator=generator))
    expected = brute_force(code_values, labels, 5)
    assert float(unsupervised_accuracy(code_values, labels, 5, 5)) == pytest.approx(expected)
    assert 0.6 < expected < 0.8  # 60% right plus a fifth of the random rest


def test_a_code_splitting_one_class_over_two_values_is_penalized():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    code_values = torch.tensor([0, 0, 2, 2, 1, 1, 1, 1])  # three code values for two labels
    assert float(unsupervised_accuracy(code_values, labels, 3, 2)) == pytest.approx(0.75)


def test_streaming_metric_equals_functional():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(10, (500,), generator=generator)
    code_values = torch.where(torch.rand(500, generator=generator) < 0.5, labels, torch.zeros_like(labels))
    metric = UnsupervisedAccuracy(num_code_values=10, num_labels=10)
    for chunk_codes, chunk_labels in zip(code_values.split(128), labels.split(128)):
        metric.update(chunk_codes, chunk_labels)
    assert float(metric.compute()) == pytest.approx(float(unsupervised_accuracy(code_values, labels, 10, 10)))


@pytest.mark.parametrize("codes, labels, message", [
    (torch.tensor([0, 1]), torch.tensor([0, 1, 1]), "same length"),
    (torch.tensor([0.5, 1.0]), torch.tensor([0, 1]), "integers"),
    (torch.tensor([0, -1]), torch.tensor([0, 1]), ">= 0"),
    (torch.tensor([0, 5]), torch.tensor([0, 1]), "out of range"),
])
def test_bad_input_raises_with_a_message(codes, labels, message):
    with pytest.raises(ValueError, match=message):
        unsupervised_accuracy(codes, labels, 3, 2)
