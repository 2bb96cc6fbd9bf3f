"""FactorVAE score: the vote classifier by hand, pruning, the reference's quirks, and properties."""
import pytest
import torch

from metrics import FactorVAEScore, factor_vae_score, factor_vae_votes, global_code_variances
from metrics.factor_vae import active_dimensions, majority_vote_accuracy, vote_matrix
from metrics.toy import ToyFactorData, perfect_encoder, random_encoder, rotated_encoder

DATA = ToyFactorData((3, 4, 5, 6))
SMALL = dict(num_train=400, num_eval=1000, num_variance_estimate=1000)


def test_majority_vote_by_hand():
    train = torch.tensor([[5, 0, 1], [2, 0, 7]])  # dim 0 -> factor 0, dim 1 -> factor 0 (no votes), dim 2 -> factor 1
    eval_ = torch.tensor([[3, 1, 0], [1, 2, 3]])  # correct: 3 (dim 0) + 1 (dim 1) + 3 (dim 2) of 10
    assert majority_vote_accuracy(train, eval_).item() == pytest.approx(0.7)


def test_vote_matrix_counts():
    votes = vote_matrix(torch.tensor([0, 2, 2, 1]), torch.tensor([1, 0, 0, 1]), num_factors=2, num_codes=3)
    assert votes.tolist() == [[0, 0, 2], [1, 1, 0]]


def test_perfect_code_scores_one():
    assert factor_vae_score(DATA, perfect_encoder(DATA), **SMALL).item() == 1.0


def test_random_code_scores_chance():
    # Eval votes are independent of the training votes, so the expected accuracy is exactly 1/K = 0.25;
    # 1,000 eval votes give a standard deviation of about 0.014.
    score = factor_vae_score(DATA, random_encoder(4), **SMALL).item()
    assert abs(score - 0.25) < 0.05


def test_rotated_code_still_scores_one():
    # Reference quirk: the majority vote only needs a distinct least-varying dimension per factor. A 30
    # degree rotation in pairs keeps one, so the mixed code scores as high as a disentangled one.
    assert factor_vae_score(DATA, rotated_encoder(DATA), **SMALL).item() == 1.0


def test_collapsed_dimensions_are_pruned():
    # A constant extra dimension: its normalised variance is 0/0 = NaN, which argmin (numpy's in the
    # reference, torch's here) returns first, so without pruning it would take every vote.
    perfect = perfect_encoder(DATA)

    def encode(observations):
        return torch.cat([torch.zeros(observations.shape[0], 1, dtype=torch.float64), perfect(observations)], dim=1)

    variances = global_code_variances(DATA, encode, 1000, torch.Generator().manual_seed(0))
    active = active_dimensions(variances)
    assert active.tolist() == [False, True, True, True, True]
    argmin_dims, _ = factor_vae_votes(DATA, encode, 200, variances, active, torch.Generator().manual_seed(1))
    assert (argmin_dims > 0).all()  # indices refer to all dimensions, the pruned one is never chosen
    assert factor_vae_score(DATA, encode, **SMALL).item() == 1.0
    # Threshold 0 keeps the constant dimension (std 0 >= 0), which then wins every vote: accuracy 1/K.
    assert factor_vae_score(DATA, encode, prune_threshold=0.0, **SMALL).item() == pytest.approx(0.25, abs=0.05)


def test_all_dimensions_collapsed_scores_zero():
    assert factor_vae_score(DATA, lambda x: 1e-3 * x, **SMALL).item() == 0.0


def test_deterministic_given_seed():
    first = factor_vae_score(DATA, random_encoder(4, seed=3), seed=7, **SMALL).item()
    again = factor_vae_score(DATA, random_encoder(4, seed=3), seed=7, **SMALL).item()
    other = factor_vae_score(DATA, random_encoder(4, seed=3), seed=8, **SMALL).item()
    assert first == again
    assert first != other


def test_independent_of_encode_batch_size():
    # Small batches make the votes noisy (score < 1), so equal scores mean equal votes.
    scores = [
        factor_vae_score(DATA, rotated_encoder(DATA), batch_size=4, encode_batch_size=size, **SMALL).item()
        for size in (1024, 100)
    ]
    assert scores[0] == scores[1] < 0.95


def test_metric_class_equals_functional():
    encoder, generator = rotated_encoder(DATA), torch.Generator().manual_seed(0)
    variances = global_code_variances(DATA, encoder, 1000, generator)
    active = active_dimensions(variances)
    train = factor_vae_votes(DATA, encoder, 300, variances, active, generator)
    eval_ = factor_vae_votes(DATA, encoder, 300, variances, active, generator)
    metric = FactorVAEScore(num_factors=4, num_codes=4)
    metric.update(train[0][:100], train[1][:100], split="train")
    metric.update(train[0][100:], train[1][100:], split="train")
    metric.update(*eval_, split="eval")
    expected = majority_vote_accuracy(vote_matrix(*train, 4, 4), vote_matrix(*eval_, 4, 4))
    assert metric.compute().item() == expected.item()
    assert metric.train_votes.sum().item() == 300


def test_encoder_nan_raises():
    with pytest.raises(ValueError, match="NaN"):
        factor_vae_score(DATA, lambda x: torch.full((x.shape[0], 4), float("nan")), **SMALL)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_metric_bad_input_raises():
    metric = FactorVAEScore(num_factors=2, num_codes=3)
    with pytest.raises(ValueError, match="equal length"):
        metric.update(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"argmin_dims must lie in \[0, 3\)"):
        metric.update(torch.tensor([3]), torch.tensor([0]))
    with pytest.raises(ValueError, match="split"):
        metric.update(torch.tensor([0]), torch.tensor([0]), split="test")
    with pytest.raises(ValueError, match="no evaluation votes"):
        metric.compute()
