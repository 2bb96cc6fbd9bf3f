"""BetaVAE score: the training points, the reference's quirks, and properties."""
import pytest
import torch

from metrics import BetaVAEScore, beta_vae_features, beta_vae_score
from metrics.beta_vae import logistic_regression_accuracy
from metrics.toy import ToyFactorData, perfect_encoder, random_encoder, rotated_encoder

DATA = ToyFactorData((3, 4, 5, 6))
SMALL = dict(num_train=500, num_eval=1000)


def test_feature_of_the_fixed_factor_is_zero():
    # Identity code: the pairs agree on the fixed factor, so its mean absolute difference is exactly 0,
    # and the others are the mean |v - v'| of two independent uniform values (e.g. (m^2 - 1) / (3 m) = 8/9 for m = 3).
    features, fixed = beta_vae_features(DATA, lambda x: x, 400, torch.Generator().manual_seed(0), batch_size=64)
    assert features.shape == (400, 4)
    assert torch.all(features[torch.arange(400), fixed] == 0)
    free = features[fixed != 0, 0]
    assert free.mean().item() == pytest.approx(8 / 9, abs=0.02)


def test_perfect_code_scores_one():
    assert beta_vae_score(DATA, perfect_encoder(DATA), **SMALL).item() == 1.0


def test_random_code_scores_chance():
    score = beta_vae_score(DATA, random_encoder(4), **SMALL).item()
    assert abs(score - 0.25) < 0.06


def test_rotated_code_still_scores_one():
    # Reference quirk: a linear classifier on the mean |difference| reads the fixed factor off a mixed
    # code as easily as off a disentangled one.
    assert beta_vae_score(DATA, rotated_encoder(DATA), **SMALL).item() == 1.0


def test_deterministic_given_seed():
    scores = [beta_vae_score(DATA, random_encoder(4, seed=1), seed=s, **SMALL).item() for s in (3, 3, 4)]
    assert scores[0] == scores[1] != scores[2]


def test_independent_of_encode_batch_size():
    def noisy_code(observations):  # deterministic, but a hard task with 2 pairs per point
        return observations + torch.sin(17.0 * observations.sum(dim=1, keepdim=True))

    scores = [
        beta_vae_score(DATA, noisy_code, batch_size=2, encode_batch_size=size, **SMALL).item() for size in (1024, 100)
    ]
    assert scores[0] == scores[1] < 0.95


def test_metric_class_equals_functional():
    encoder, generator = rotated_encoder(DATA), torch.Generator().manual_seed(0)

    def noisy(observations):
        return encoder(observations) + 0.5 * torch.randn(observations.shape, generator=generator, dtype=torch.float64)

    train = beta_vae_features(DATA, noisy, 300, generator, batch_size=8)
    eval_ = beta_vae_features(DATA, noisy, 300, generator, batch_size=8)
    metric = BetaVAEScore(seed=0)
    metric.update(train[0][:100], train[1][:100])
    metric.update(train[0][100:], train[1][100:])
    metric.update(*eval_, split="eval")
    expected = logistic_regression_accuracy(*train, *eval_, seed=0).item()
    assert 0.3 < expected < 1.0  # noise and small batches make the task non-trivial
    assert metric.compute().item() == expected


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_bad_input_raises():
    metric = BetaVAEScore()
    with pytest.raises(ValueError, match="features must be"):
        metric.update(torch.zeros(5, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        metric.update(torch.full((2, 3), float("nan")), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="needs both"):
        metric.compute()
    with pytest.raises(ValueError, match="NaN"):
        beta_vae_score(DATA, lambda x: x / 0 - x / 0, **SMALL)
