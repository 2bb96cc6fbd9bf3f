"""ModelCentrality: a generator seen as ground-truth data, the similarity of models that agree or not, and
select_model.py on real runs."""
import math

import pytest
import torch

from configs.loading import load_config
from inspect_checkpoint import InspectError
from lightning_modules.latent import LatentSpec
from metrics.model_centrality import GeneratedFactors, centrality, similarity_matrix
from select_model import main, select
from train import train


class PlaneModel:
    """A model of one categorical code of 3 values and 2 continuous codes whose 'observation' is
    (category, the continuous codes rotated by `angle`), and whose encoder undoes exactly that rotation:
    it reads its own codes back perfectly. Models of different angles disagree about the axes."""

    latent_spec = LatentSpec([3], 2, 0)

    def __init__(self, angle_degrees: float) -> None:
        a = math.radians(angle_degrees)
        self.rotation = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    def generate(self, latent):
        return torch.cat([latent.categorical.float(), latent.continuous @ self.rotation.T], dim=1)

    def encode(self, x):
        return torch.cat([x[:, :1], x[:, 1:] @ self.rotation], dim=1)


def test_generated_factors_fix_each_code_at_its_bin_centre():
    data = GeneratedFactors(PlaneModel(0), bins=10)
    assert data.factor_names == ["cat0", "cont0", "cont1"] and data.factor_sizes == [3, 10, 10]
    factors = torch.tensor([[0, 0, 9], [2, 4, 5]])
    observations = data.observations_from_factors(factors, torch.Generator().manual_seed(0))
    expected = torch.tensor([[0.0, -0.9, 0.9], [2.0, -0.1, 0.1]])
    assert torch.allclose(observations, expected, atol=1e-6)


def test_models_that_share_the_axes_score_one_and_the_rotated_model_is_least_central():
    # Two models with the same axes (0 and 90 degrees: a quarter turn only permutes and flips the codes)
    # and one at 45 degrees, whose continuous codes each mix both axes of the others.
    models = [PlaneModel(0), PlaneModel(90), PlaneModel(45)]
    scores = similarity_matrix(models, num_points=5000)
    assert torch.isnan(scores.diagonal()).all()
    # Each code read back alone: every factor's gap is its whole entropy, less the plug-in bias of 20 bins.
    assert scores[0, 1] > 0.97 and scores[1, 0] > 0.97
    # Against the rotated model only the categorical code keeps its gap: MIG is about 1/3.
    assert 0.3 < scores[2, 0] < 0.4 and 0.3 < scores[0, 2] < 0.4
    central = centrality(scores)
    assert central.argmin() == 2


def test_centrality_is_the_mean_symmetrized_similarity_to_the_others():
    scores = torch.tensor([[float("nan"), 0.9, 0.3], [0.7, float("nan"), 0.5], [0.1, 0.5, float("nan")]])
    assert torch.allclose(centrality(scores), torch.tensor([(0.8 + 0.2) / 2, (0.8 + 0.5) / 2, (0.2 + 0.5) / 2]))


def short_runs(folder, preset, seeds):
    for seed in seeds:
        train(load_config([f"experiment={preset}", "trainer.max_steps=2", "data.batch_size=16", f"seed={seed}",
                           "logger.mode=disabled", "trainer.enable_progress_bar=false",
                           "callbacks.metrics.enabled=false", f"run_dir={folder / f'{preset}{seed}'}"]))
    return [folder / f"{preset}{seed}" for seed in seeds]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    return short_runs(tmp_path_factory.mktemp("runs"), "digits", (0, 1))


def test_select_ranks_runs_and_prints_the_most_central(two_runs, capsys):
    ranked = select(two_runs, points=500)
    assert sorted(name for name, _ in ranked) == sorted(str(run) for run in two_runs)
    assert ranked[0][1] == ranked[1][1]  # with two runs, both have the one similarity as centrality
    assert main([str(run) for run in two_runs] + ["points=500"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"most central: {ranked[0][0]}"


def test_select_refuses_what_it_cannot_compare_in_one_line(two_runs, tmp_path, capsys):
    with pytest.raises(InspectError, match="at least 2"):
        select(two_runs[:1])
    with pytest.raises(InspectError, match="not found; pass run folders"):
        select([two_runs[0], tmp_path / "missing"])
    with pytest.raises(InspectError, match="at least two codes"):
        select(short_runs(tmp_path, "gaussians", (0, 1)))  # one categorical code
    for bad in ("points=0", "points=many", "votes=3"):
        assert main([str(two_runs[0]), str(two_runs[1]), bad]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and error.startswith("error: ") and "usage:" in error
