"""DCI: disentanglement / completeness of importance matrices by hand, and the full metric's properties."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from metrics import DCI, dci, dci_completeness, dci_disentanglement, sample_codes
from metrics.toy import ToyFactorData, perfect_encoder, random_encoder, rotated_encoder

DATA = ToyFactorData((3, 4, 5, 6))
FAST = dict(n_estimators=20)


def toy_split(encoder, num_train=600, num_test=300, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (*sample_codes(DATA, encoder, num_train, generator), *sample_codes(DATA, encoder, num_test, generator))


@pytest.mark.parametrize(
    "importance, disentanglement, completeness",
    [
        (np.diag([5.0] * 5), 1.0, 1.0),
        (np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), 1.0, 1.0),  # an unused code changes neither
        (np.zeros((4, 4)), 0.0, 0.0),
        (np.vstack([np.eye(5), np.eye(5)]), 1.0, 1 - math.log(2) / math.log(10)),  # each factor in two codes
        (np.hstack([np.eye(5), np.eye(5)]), 1 - math.log(2) / math.log(10), 1.0),  # each code holds two factors
    ],
)
def test_importance_matrices_by_hand(importance, disentanglement, completeness):
    assert dci_disentanglement(importance) == pytest.approx(disentanglement, abs=1e-7)
    assert dci_completeness(importance) == pytest.approx(completeness, abs=1e-7)


def test_general_importance_matches_scipy_entropy():
    importance = np.random.default_rng(0).random((4, 3))
    per_code = 1 - entropy(importance.T, base=3)  # scipy normalises each column of importance.T
    weights = importance.sum(axis=1) / importance.sum()
    assert dci_disentanglement(importance) == pytest.approx(np.sum(per_code * weights), abs=1e-9)
    per_factor = 1 - entropy(importance, base=4)
    assert dci_completeness(importance) == pytest.approx(
        np.sum(per_factor * importance.sum(axis=0) / importance.sum()), abs=1e-9
    )


def test_perfect_code():
    scores = dci(*toy_split(perfect_encoder(DATA)), **FAST)
    assert scores["disentanglement"].item() > 0.99
    assert scores["completeness"].item() > 0.99
    assert scores["informativeness"].item() == 1.0


def test_random_code():
    scores = dci(*toy_split(random_encoder(4)), **FAST)
    assert scores["disentanglement"].item() < 0.05
    assert scores["completeness"].item() < 0.05
    # Trees overfit noise on the train set; on the test set they are at chance (mean of 1/m over factors ~0.24).
    assert scores["informativeness"].item() < 0.3


def test_rotated_code_drops():
    # Each code dimension of a pair carries both factors, so importances split within pairs; but every
    # factor is still recoverable from the codes: informativeness stays at 1.
    scores = dci(*toy_split(rotated_encoder(DATA)), **FAST)
    assert 0.3 < scores["disentanglement"].item() < 0.75
    assert 0.3 < scores["completeness"].item() < 0.75
    assert scores["informativeness"].item() > 0.99


def test_streaming_equals_functional_and_is_deterministic():
    train_codes, train_factors, test_codes, test_factors = toy_split(rotated_encoder(DATA), 400, 200)
    metric = DCI(**FAST)
    metric.update(train_codes[:150], train_factors[:150])
    metric.update(train_codes[150:], train_factors[150:], split="train")
    metric.update(test_codes, test_factors, split="test")
    streamed = metric.compute()
    direct = dci(train_codes, train_factors, test_codes, test_factors, **FAST)
    assert {k: v.item() for k, v in streamed.items()} == {k: v.item() for k, v in direct.items()}


def test_bad_input_raises():
    codes, factors = torch.rand(20, 3), torch.randint(0, 3, (20, 2))
    with pytest.raises(ValueError, match="same number of rows"):
        dci(codes, factors[:19], codes, factors)
    with pytest.raises(ValueError, match="NaN"):
        dci(codes, factors, codes * float("nan"), factors)
    with pytest.raises(ValueError, match="differ in width"):
        dci(codes, factors, codes[:, :2], factors)
    with pytest.raises(ValueError, match="split"):
        DCI().update(codes, factors, split="eval")
