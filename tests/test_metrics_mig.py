"""MIG: against hand-computed values, against the reference pipeline (numpy + scikit-learn), and properties."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from metrics import MutualInfoGap, mutual_info_gap, sample_codes
from metrics.mig import discrete_entropy, discrete_mutual_info, histogram_discretize
from metrics.toy import ToyFactorData, perfect_encoder, random_encoder, rotated_encoder

FACTOR_SIZES = (3, 4, 5, 6)


def binary_entropy(p: float) -> float:
    return -p * math.log(p) - (1 - p) * math.log(1 - p)


def toy_codes(encoder_name: str, n: int = 3000, seed: int = 0):
    data = ToyFactorData(FACTOR_SIZES)
    encoder = {
        "perfect": perfect_encoder(data),
        "random": random_encoder(len(FACTOR_SIZES), seed=seed),
        "rotated": rotated_encoder(data),
    }[encoder_name]
    return sample_codes(data, encoder, n, torch.Generator().manual_seed(seed))


def test_two_factor_toy_by_hand():
    # 32 points, every (v1, v2) in {0,1}^2 eight times. Code dims: d0 = v1 exactly; d1 = v1 flipped on one
    # point of each (v1, v2) cell (rate 1/8); d2 = v2 flipped on two points of each cell (rate 1/4). The
    # flips are balanced across the other factor, so d1 is independent of v2 and d2 of v1. Then
    # I(d0; v1) = log 2, I(d1; v1) = log 2 - h(1/8), I(d2; v2) = log 2 - h(1/4), all other MIs are 0, and
    # MIG = mean(h(1/8) / log 2, (log 2 - h(1/4)) / log 2).
    rows = []
    for v1 in (0, 1):
        for v2 in (0, 1):
            for i in range(8):
                d1 = 1 - v1 if i == 0 else v1
                d2 = 1 - v2 if i in (0, 1) else v2
                rows.append(((v1, v2), (v1, d1, d2)))
    factors = torch.tensor([r[0] for r in rows])
    codes = 2.5 * torch.tensor([r[1] for r in rows], dtype=torch.float64)
    log2 = math.log(2)
    expected = 0.5 * (binary_entropy(1 / 8) / log2 + (log2 - binary_entropy(1 / 4)) / log2)
    assert mutual_info_gap(codes, factors).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.3661, abs=1e-4)


def test_discrete_mutual_info_matches_sklearn():
    generator = np.random.default_rng(0)
    for _ in range(5):
        x = generator.integers(0, 7, 500)
        y = (x + generator.integers(0, 3, 500)) % 5
        assert discrete_mutual_info(x, y) == pytest.approx(mutual_info_score(y, x), abs=1e-12)
        assert discrete_entropy(y) == pytest.approx(mutual_info_score(y, y), abs=1e-12)


def test_histogram_discretize_matches_reference_binning():
    codes = np.random.default_rng(1).normal(size=(1000, 3))
    codes[:, 2] = np.round(codes[:, 2])  # values on bin edges
    binned = histogram_discretize(codes, 20)
    for j in range(3):
        reference = np.digitize(codes[:, j], np.histogram(codes[:, j], 20)[1][:-1])
        np.testing.assert_array_equal(binned[:, j], reference)
    assert binned.min() == 1 and binned.max() == 20


def test_matches_reference_pipeline_on_mixed_codes():
    # disentanglement_lib: histogram-discretize, sklearn MI per (code, factor), gap / entropy, mean.
    codes, factors = toy_codes("rotated")
    codes = codes + 0.3 * torch.randn(codes.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    c, f = codes.numpy(), factors.numpy()
    binned = [np.digitize(c[:, j], np.histogram(c[:, j], 20)[1][:-1]) for j in range(c.shape[1])]
    m = np.array([[mutual_info_score(f[:, k], binned[j]) for k in range(f.shape[1])] for j in range(c.shape[1])])
    entropy = np.array([mutual_info_score(f[:, k], f[:, k]) for k in range(f.shape[1])])
    top = np.sort(m, axis=0)[::-1]
    reference = np.mean((top[0] - top[1]) / entropy)
    assert mutual_info_gap(codes, factors).item() == pytest.approx(reference, abs=1e-6)


def test_perfect_random_and_rotated_codes():
    perfect = mutual_info_gap(*toy_codes("perfect")).item()
    random = mutual_info_gap(*toy_codes("random")).item()
    rotated = mutual_info_gap(*toy_codes("rotated")).item()
    assert perfect > 0.98
    assert random < 0.02
    # A 30 degree rotation in pairs: both dimensions of a pair, binned, still determine both factors.
    assert rotated < 0.1


def test_duplicated_code_has_zero_gap():
    codes, factors = toy_codes("perfect")
    assert mutual_info_gap(torch.cat([codes, codes], dim=1), factors).item() == pytest.approx(0.0, abs=1e-12)


def test_streaming_equals_functional():
    codes, factors = toy_codes("rotated", n=2000)
    metric = MutualInfoGap()
    for start in range(0, 2000, 300):
        metric.update(codes[start : start + 300], factors[start : start + 300])
    assert metric.compute().item() == pytest.approx(mutual_info_gap(codes, factors).item(), abs=1e-12)


@pytest.mark.parametrize(
    "codes, factors, message",
    [
        (torch.zeros(10, 3), torch.zeros(9, 2, dtype=torch.long), "same number of rows"),
        (torch.full((10, 3), float("nan")), torch.zeros(10, 2, dtype=torch.long), "NaN"),
        (torch.rand(10, 3), torch.rand(10, 2), "integer"),
        (torch.rand(10), torch.zeros(10, 2, dtype=torch.long), "shape"),
        (torch.rand(10, 1), torch.randint(0, 2, (10, 2)), "at least 2 code dimensions"),
        (torch.rand(10, 3), torch.stack([torch.arange(10) % 2, torch.zeros(10, dtype=torch.long)], 1), "factor 1"),
    ],
)
def test_bad_input_raises(codes, factors, message):
    with pytest.raises(ValueError, match=message):
        mutual_info_gap(codes, factors)


def test_metric_update_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        MutualInfoGap().update(torch.tensor([[0.0, float("nan")]] * 4), torch.zeros(4, 2, dtype=torch.long))
