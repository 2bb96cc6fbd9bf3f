"""evaluate_disentanglement: keys, determinism, constant factors, and the report script."""
import math

import pytest
import torch

from metrics import SCORE_NAMES, evaluate_disentanglement
from metrics.report import format_table, score_table
from metrics.toy import ToyFactorData, perfect_encoder, random_encoder, rotated_encoder

SMALL = dict(num_train=600, num_test=300, dci_n_estimators=20)


def test_keys_and_perfect_code():
    data = ToyFactorData((3, 4, 5))
    scores = evaluate_disentanglement(data, perfect_encoder(data), **SMALL)
    assert list(scores) == [
        "mig",
        "factor_vae",
        "beta_vae",
        "dci_disentanglement",
        "dci_completeness",
        "dci_informativeness",
        "sap",
        "mig/factor0",
        "mig/factor1",
        "mig/factor2",
    ]
    assert all(isinstance(value, float) for value in scores.values())
    for name in ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness"):
        assert scores[name] > 0.97, name
    assert scores["sap"] < 0.7  # the reference's discrete SAP, see test_metrics_sap.py


def test_deterministic_given_seed():
    data = ToyFactorData((3, 4, 5), noise=0.3)
    runs = [evaluate_disentanglement(data, random_encoder(3, seed=1), seed=s, **SMALL) for s in (0, 0, 1)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_constant_factor_is_left_out():
    # A factor of size 1 (dSprites' colour) carries nothing; the scores equal those without it.
    with_constant = ToyFactorData((3, 1, 4))
    without = ToyFactorData((3, 4))

    def encode_with(observations):  # the same code as below, for observations with the constant column
        return rotated_encoder(without)(observations.index_select(1, torch.tensor([0, 2])))

    scores = evaluate_disentanglement(with_constant, encode_with, **SMALL)
    assert set(scores) == set(SCORE_NAMES) | {"mig/factor0", "mig/factor2"}
    assert all(math.isfinite(value) for value in scores.values())
    assert scores["factor_vae"] == 1.0 and scores["dci_informativeness"] == 1.0


def test_mig_terms_say_which_factor_the_code_holds():
    # The code holds factor 0 alone and factor 2 twice; factor 1 is in no code dimension.
    data = ToyFactorData((3, 4, 5))

    def encode(observations):
        return observations.index_select(1, torch.tensor([0, 2, 2]))

    scores = evaluate_disentanglement(data, encode, **SMALL)
    assert scores["mig/factor0"] == pytest.approx(1.0, abs=0.02)  # less the bias of the runner-up
    assert scores["mig/factor1"] == pytest.approx(0.0, abs=0.02)  # only the plug-in estimate's bias
    assert scores["mig/factor2"] == pytest.approx(0.0, abs=1e-12)  # two equal dimensions: no gap
    assert scores["mig"] == pytest.approx((scores["mig/factor0"] + scores["mig/factor1"]) / 3)


def test_bad_encoder_raises():
    data = ToyFactorData((3, 4))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_disentanglement(data, lambda x: torch.log(x - 1), **SMALL)
    with pytest.raises(ValueError, match="shape"):
        evaluate_disentanglement(data, lambda x: x[:-1], **SMALL)


def test_report_table():
    table = score_table(num_train=400, num_test=200, dci_n_estimators=10)
    perfect, random, mixed = table.values()
    assert perfect["mig"] > 0.95 and random["mig"] < 0.05 and mixed["mig"] < 0.2
    assert mixed["dci_disentanglement"] < perfect["dci_disentanglement"] - 0.3
    lines = format_table(table).splitlines()
    assert len(lines) == 5 and lines[0].startswith("| code | mig | factor_vae |")


def test_progress_reports_every_score_once_cheapest_first_with_the_returned_values():
    data = ToyFactorData((3, 4, 5), noise=0.3)
    calls = []
    scores = evaluate_disentanglement(data, random_encoder(3, seed=1), progress=lambda *call: calls.append(call),
                                      **SMALL)
    assert [name for name, _ in calls] == ["mig", "mig/factor0", "mig/factor1", "mig/factor2", "sap",
                                           "dci_disentanglement", "dci_completeness", "dci_informativeness",
                                           "factor_vae", "beta_vae"]
    assert dict(calls) == scores
    assert scores == evaluate_disentanglement(data, random_encoder(3, seed=1), **SMALL)
