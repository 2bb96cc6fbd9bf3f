"""``eval/generated_accuracy``: does the categorical code pick the class of the images the generator draws?

``eval/unsupervised_accuracy`` reads the code off *real* images with the model's encoder Q. The OT models'
Q is fitted to the transport plan, and the plan is perturbed by Q itself, so the two can agree on a
clustering of the real data that the generator does not follow: on digits (2026-12-02, a preset seed) the
code changed nothing in the traversal grid - the noise picked the digit - while Q still scored 0.58 on
real digits. This score looks at the generated side, as a traversal grid does: images are drawn from the
prior, a classifier trained on the real labels names each image's class, and the first categorical code's
values are matched to those classes one-to-one (:func:`metrics.unsupervised_accuracy`). A code the
generator ignores scores about the share of the most frequent class; one that picks the class scores up
to the classifier's own accuracy.

The classifier is the feature network of the fidelity scores (metrics/feature_network.py) trained with a
head of one class per label value (the fidelity network bins labels of more than 8 values, which would
merge digits), cached beside it.
"""
from __future__ import annotations

import torch

from callbacks.fidelity import FeatureNetworkEvaluation, generate_images, prior_draws
from metrics import unsupervised_accuracy
from metrics.feature_cache import feature_network
from metrics.feature_network import FeatureNetworkSettings


def label_size(datamodule) -> int:
    """Values of the one varying factor of labelled data (digits, MNIST: 10)."""
    (size,) = [int(s) for s in datamodule.factor_sizes if int(s) > 1]
    return size


def label_classifier(datamodule, data_config: dict, cache_dir):
    """The classifier of the real labels, one class per value (loaded from ``cache_dir`` or trained)."""
    return feature_network(datamodule, data_config, cache_dir, FeatureNetworkSettings(max_classes=label_size(datamodule)))


@torch.no_grad()
def generated_accuracy(model, classifier, num_labels: int, num_samples: int = 2000, seed: int = 0) -> float:
    """Matched accuracy of the first categorical code of ``num_samples`` prior draws against the classes
    ``classifier`` gives the images generated from them."""
    classifier.to(model.device)
    latent = prior_draws(model, num_samples, seed)
    images = generate_images(model, latent)
    predicted = torch.cat([classifier.logits(chunk)[0].argmax(1) for chunk in images.split(500)]).cpu()
    return float(unsupervised_accuracy(latent.categorical[:, 0], predicted, model.latent_spec.categorical_sizes[0],
                                       num_labels))


class GeneratedAccuracy(FeatureNetworkEvaluation):
    """Logs ``eval/generated_accuracy`` every ``every_n_iterations`` and at the end of training, for labelled
    data (one varying factor) and a model with a categorical code, reading the images with
    :func:`label_classifier`; ``num_samples`` generated images from the same latents as the fidelity scores'."""

    def load_network(self):
        return label_classifier(self.datamodule, self.data_config, self.cache_dir)

    def evaluate(self, pl_module) -> dict[str, float]:
        return {"eval/generated_accuracy": generated_accuracy(pl_module, self.network(), label_size(self.datamodule),
                                                              **self.settings)}
