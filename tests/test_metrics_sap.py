"""SAP with the reference default (discrete factors, a linear SVM per code dimension): values and quirks."""
import numpy as np
import pytest
import torch

from metrics import SAPScore, sample_codes, sap_score
from metrics.sap import sap_score_matrix
from metrics.toy import ToyFactorData, perfect_encoder, random_encoder, rotated_encoder

SIZES = (3, 4, 5, 6)
DATA = ToyFactorData(SIZES)


def toy_split(encoder, data=DATA, num_train=2000, num_test=1000, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (*sample_codes(data, encoder, num_train, generator), *sample_codes(data, encoder, num_test, generator))


def test_score_matrix_of_identity_code():
    # Why a perfect code scores far below 1. Column k is factor k (m = 3, 4, 5, 6 values), row j code j = v_j.
    scores = sap_score_matrix(*(t.numpy() for t in toy_split(lambda x: x)))
    own = np.diag(scores)
    # (1) One-vs-rest linear SVMs on one real number only reach the outer values of a many-valued factor:
    # 3 values are separable, 6 are not (about half the points are right).
    assert own[0] == 1.0
    assert own[0] > own[1] > own[2] > own[3]
    assert own[3] < 0.6
    # (2) A dimension that ignores the factor still scores about chance, 1/m, and the gap subtracts it.
    chance = 1 / np.array(SIZES)
    best_other = np.array([np.delete(scores[:, k], k).max() for k in range(4)])
    np.testing.assert_allclose(best_other, chance, atol=0.04)


def test_perfect_code_scores_about_half():
    # Reference quirk kept: a scaled permutation of the factors scores ~0.48 here, not 1 (see above).
    assert sap_score(*toy_split(perfect_encoder(DATA))).item() == pytest.approx(0.48, abs=0.03)


def test_perfect_code_of_binary_factors_scores_one_minus_chance():
    data = ToyFactorData((2, 2, 2))
    assert sap_score(*toy_split(perfect_encoder(data), data=data)).item() == pytest.approx(0.5, abs=0.03)


def test_continuous_variant_scores_perfect_code_one():
    assert sap_score(*toy_split(perfect_encoder(DATA)), continuous_factors=True).item() > 0.99


def test_score_depends_on_code_scale():
    # The SVM sees raw code units and C = 0.01 regularises slope and intercept: shrinking a perfect code
    # by 100 leaves the SVMs nearly constant, and the score collapses.
    train_codes, train_factors, test_codes, test_factors = toy_split(perfect_encoder(DATA))
    assert sap_score(train_codes * 0.01, train_factors, test_codes * 0.01, test_factors).item() < 0.1


def test_random_and_rotated_codes():
    assert sap_score(*toy_split(random_encoder(4))).item() < 0.03
    rotated = sap_score(*toy_split(rotated_encoder(DATA))).item()
    assert 0.1 < rotated < 0.3


def test_streaming_equals_functional():
    train_codes, train_factors, test_codes, test_factors = toy_split(rotated_encoder(DATA), num_train=600, num_test=300)
    metric = SAPScore()
    metric.update(train_codes[:200], train_factors[:200], split="train")
    metric.update(train_codes[200:], train_factors[200:], split="train")
    metric.update(test_codes, test_factors, split="test")
    assert metric.compute().item() == sap_score(train_codes, train_factors, test_codes, test_factors).item()


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_bad_input_raises():
    codes, factors = torch.rand(20, 3), torch.randint(0, 3, (20, 2))
    with pytest.raises(ValueError, match="same number of rows"):
        sap_score(codes[:10], factors, codes, factors)
    with pytest.raises(ValueError, match="NaN"):
        sap_score(codes, factors, torch.full_like(codes, float("nan")), factors)
    with pytest.raises(ValueError, match="single value"):
        sap_score(codes, torch.zeros_like(factors), codes, factors)
    with pytest.raises(ValueError, match="needs both"):
        SAPScore().compute()
