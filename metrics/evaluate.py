"""All disentanglement scores of an encoder on ground-truth data, in one call."""
from __future__ import annotations

from typing import Callable

import torch

from metrics.beta_vae import beta_vae_score
from metrics.dci import dci
from metrics.factor_vae import factor_vae_score
from metrics.ground_truth import ENCODE_BATCH_SIZE, Encoder, GroundTruthData, sample_codes, varying_factors
from metrics.mig import mutual_info_gaps
from metrics.sap import sap_score

#: The scores of `evaluate_disentanglement`, in a stable order (its result adds MIG's term of each factor).
SCORE_NAMES = (
    "mig",
    "factor_vae",
    "beta_vae",
    "dci_disentanglement",
    "dci_completeness",
    "dci_informativeness",
    "sap",
)


def evaluate_disentanglement(
    data: GroundTruthData,
    encode: Encoder,
    num_train: int = 10000,
    num_test: int = 5000,
    seed: int = 0,
    batch_size: int = 64,
    num_bins: int = 20,
    dci_n_estimators: int = 100,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, float]:
    """MIG, FactorVAE, BetaVAE, DCI and SAP scores with disentanglement_lib's definitions.

    With the defaults every metric uses the reference sample sizes: `num_train = 10000` points (MIG, DCI,
    SAP train set; FactorVAE and BetaVAE train votes / points; FactorVAE variance estimate) and
    `num_test = 5000` (DCI and SAP test set, FactorVAE and BetaVAE eval votes / points). MIG, DCI and SAP
    share one train and one test sample (the reference draws one per metric; each score is the same
    statistic either way). Every metric is seeded with `seed`, as the reference seeds each evaluation.

    Cost: `(num_train + num_test) * (1 + 3 * batch_size) + num_train` encoder evaluations (2.9 M with the
    defaults, 0.6 M with 2,000 / 1,000), and `K` gradient-boosting fits for DCI, which dominate on small
    codes: with 2,000 train points about 0.3 s per factor value at `dci_n_estimators = 100` (one core);
    lower `dci_n_estimators` for a quick in-training estimate.

    Factors of size 1 (constant) are left out, as disentanglement_lib's datasets leave them out.

    Args:
        data: ground-truth data (`factor_sizes`, `sample_factors`, `observations_from_factors`).
        encode: `observations -> (n, D)` codes, `D >= 2`. It is called under `torch.no_grad()` on CPU
            observations; a caller moves them to the model's device and puts the model in eval mode.
        num_train, num_test: sample sizes, see above.
        seed: makes every score deterministic.
        batch_size: samples per FactorVAE vote and pairs per BetaVAE point (reference: 64).
        num_bins: MIG bins per code dimension (reference: 20).
        dci_n_estimators: boosting stages of the DCI classifiers (reference: 100).
        encode_batch_size: observations per encoder call (memory only).
        progress: called with each score's name and value as soon as it is computed, which is in the
            order MIG, its terms, SAP, DCI, FactorVAE, BetaVAE (the result's order is that of
            `SCORE_NAMES`, then the terms).

    Returns:
        `{"mig", "factor_vae", "beta_vae", "dci_disentanglement", "dci_completeness",
        "dci_informativeness", "sap"}` as floats in [0, 1], then `"mig/<factor name>"` for each varying
        factor: its term of MIG (`metrics.mig.mutual_info_gaps`), which says which factors the code holds.

    Example:
        >>> from metrics import evaluate_disentanglement
        >>> from metrics.toy import ToyFactorData, perfect_encoder
        >>> data = ToyFactorData((3, 4, 5))
        >>> encode = perfect_encoder(data)
        >>> scores = evaluate_disentanglement(data, encode, num_train=500, num_test=300, dci_n_estimators=10)
        >>> [name for name in scores if name not in SCORE_NAMES]
        ['mig/factor0', 'mig/factor1', 'mig/factor2']
        >>> [round(scores[name], 2) for name in ("factor_vae", "beta_vae", "dci_disentanglement")]
        [1.0, 1.0, 1.0]
    """
    varying = varying_factors(data)
    generator = torch.Generator().manual_seed(seed)
    train_codes, train_factors = sample_codes(data, encode, num_train, generator, encode_batch_size)
    test_codes, test_factors = sample_codes(data, encode, num_test, generator, encode_batch_size)
    train_factors, test_factors = train_factors[:, varying], test_factors[:, varying]
    scores: dict[str, float] = {}

    def record(name: str, value: float) -> None:
        scores[name] = float(value)
        if progress is not None:
            progress(name, scores[name])

    # Each score draws from its own generator seeded with `seed`, so the order (cheapest first, for
    # `progress`) changes no value.
    mig_terms = mutual_info_gaps(train_codes, train_factors, num_bins)
    record("mig", mig_terms.mean())
    for k, term in zip(varying, mig_terms):
        record(f"mig/{data.factor_names[k]}", term)
    record("sap", sap_score(train_codes, train_factors, test_codes, test_factors, seed=seed))
    dci_scores = dci(train_codes, train_factors, test_codes, test_factors, n_estimators=dci_n_estimators, seed=seed)
    for part in ("disentanglement", "completeness", "informativeness"):
        record(f"dci_{part}", dci_scores[part])
    record("factor_vae", factor_vae_score(
        data, encode, num_train=num_train, num_eval=num_test, num_variance_estimate=num_train, batch_size=batch_size,
        seed=seed, encode_batch_size=encode_batch_size,
    ))
    record("beta_vae", beta_vae_score(
        data, encode, num_train=num_train, num_eval=num_test, batch_size=batch_size, seed=seed,
        encode_batch_size=encode_batch_size,
    ))
    terms = {name: value for name, value in scores.items() if name.startswith("mig/")}
    return {name: scores[name] for name in SCORE_NAMES} | terms
