"""The streaming metrics reduce over 2 CPU processes (gloo, torch.multiprocessing) to the single-process value."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from metrics import DCI, BetaVAEScore, FactorVAEScore, MutualInfoGap, SAPScore, mutual_info_gap, sample_codes
from metrics.beta_vae import beta_vae_features, logistic_regression_accuracy
from metrics.dci import dci
from metrics.factor_vae import (
    active_dimensions,
    factor_vae_votes,
    global_code_variances,
    majority_vote_accuracy,
    vote_matrix,
)
from metrics.sap import sap_score
from metrics.toy import ToyFactorData, rotated_encoder

WORLD_SIZE = 2
DATA = ToyFactorData((3, 4, 5, 6), noise=0.2)
SHARDS = (slice(0, 700), slice(700, 2000))  # uneven on purpose: the gather must handle it


def shared_codes():
    """The same codes on every process (and in the parent): train 2000, test 1000."""
    generator = torch.Generator().manual_seed(0)
    encoder = rotated_encoder(DATA)
    return sample_codes(DATA, encoder, 2000, generator), sample_codes(DATA, encoder, 1000, generator)


def factor_vae_votes_of(rank):
    """Votes of one rank: shared global variances (seed 0), rank-dependent vote seed."""
    encoder = rotated_encoder(DATA)
    variances = global_code_variances(DATA, encoder, 1000, torch.Generator().manual_seed(0))
    active = active_dimensions(variances)
    generator = torch.Generator().manual_seed(100 + rank)
    train = factor_vae_votes(DATA, encoder, 150 + 50 * rank, variances, active, generator, batch_size=4)
    eval_ = factor_vae_votes(DATA, encoder, 100, variances, active, generator, batch_size=4)
    return train, eval_


def beta_vae_points_of(rank):
    generator = torch.Generator().manual_seed(200 + rank)
    encoder = rotated_encoder(DATA)
    return beta_vae_features(DATA, encoder, 200, generator, batch_size=4), beta_vae_features(
        DATA, encoder, 200, generator, batch_size=4
    )


def _worker(rank, port, out_dir):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        (train_codes, train_factors), (test_codes, test_factors) = shared_codes()
        shard = SHARDS[rank]
        test_shard = slice(rank * 500, (rank + 1) * 500)
        results = {}

        mig = MutualInfoGap()
        mig.update(train_codes[shard][:300], train_factors[shard][:300])
        mig.update(train_codes[shard][300:], train_factors[shard][300:])
        results["mig"] = mig.compute().item()

        factor_vae = FactorVAEScore(num_factors=DATA.num_factors, num_codes=DATA.num_factors)
        train, eval_ = factor_vae_votes_of(rank)
        factor_vae.update(*train, split="train")
        factor_vae.update(*eval_, split="eval")
        results["factor_vae"] = factor_vae.compute().item()
        with factor_vae.sync_context():
            results["train_votes"] = factor_vae.train_votes.clone()
            results["eval_votes"] = factor_vae.eval_votes.clone()

        beta_vae = BetaVAEScore()
        train, eval_ = beta_vae_points_of(rank)
        beta_vae.update(*train, split="train")
        beta_vae.update(*eval_, split="eval")
        results["beta_vae"] = beta_vae.compute().item()

        for name, metric in (("dci", DCI(n_estimators=10)), ("sap", SAPScore())):
            metric.update(train_codes[shard], train_factors[shard], split="train")
            metric.update(test_codes[test_shard], test_factors[test_shard], split="test")
            value = metric.compute()
            results[name] = {k: v.item() for k, v in value.items()} if name == "dci" else value.item()

        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_reduction_equals_single_process(tmp_path):
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]

    (train_codes, train_factors), (test_codes, test_factors) = shared_codes()
    # Gathered states are rank 0's points, then rank 1's: the full sample in its original order.
    expected_mig = mutual_info_gap(train_codes, train_factors).item()
    votes = [factor_vae_votes_of(rank) for rank in range(WORLD_SIZE)]
    train_votes = sum(vote_matrix(*train, 4, 4) for train, _ in votes)
    eval_votes = sum(vote_matrix(*eval_, 4, 4) for _, eval_ in votes)
    points = [beta_vae_points_of(rank) for rank in range(WORLD_SIZE)]
    expected_beta_vae = logistic_regression_accuracy(
        torch.cat([p[0][0] for p in points]),
        torch.cat([p[0][1] for p in points]),
        torch.cat([p[1][0] for p in points]),
        torch.cat([p[1][1] for p in points]),
    ).item()
    expected_dci = dci(train_codes, train_factors, test_codes, test_factors, n_estimators=10)
    expected_dci = {k: v.item() for k, v in expected_dci.items()}
    expected_sap = sap_score(train_codes, train_factors, test_codes, test_factors).item()

    assert train_votes.sum() == 150 + 200 and eval_votes.sum() == 200
    for result in ranks:  # every rank computes the same global value
        assert result["mig"] == pytest.approx(expected_mig, abs=1e-12)
        assert torch.equal(result["train_votes"], train_votes)
        assert torch.equal(result["eval_votes"], eval_votes)
        assert result["factor_vae"] == majority_vote_accuracy(train_votes, eval_votes).item()
        assert result["beta_vae"] == expected_beta_vae
        assert result["dci"] == pytest.approx(expected_dci, abs=1e-12)
        assert result["sap"] == expected_sap
    # The reduction is not trivially the local value: rank 0 alone would give other votes.
    assert not torch.equal(vote_matrix(*votes[0][0], 4, 4), train_votes)
