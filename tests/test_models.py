"""Models: gradient routing per update, the latent layout, and that the regularization makes the code
informative where the plain Sinkhorn GAN does not."""
import math

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from configs.loading import load_config, to_plain
from configs.schema import ModelConfig
from datamodules import GaussianMixtureDataModule
from lightning_modules import InfoGAN, InformativeOTGAN
from lightning_modules.base import frozen
from lightning_modules.code_model import mixed_pmi
from lightning_modules.latent import LatentSpec
from metrics.mixture import mixture_quality


def recording(cls):
    """A model that records, for every backward pass, which parameters it changed the gradient of."""

    class Recording(cls):
        def manual_backward(self, loss, *args, **kwargs):
            before = {n: None if p.grad is None else p.grad.clone() for n, p in self.named_parameters()}
            super().manual_backward(loss, *args, **kwargs)
            self.touched.append({
                n for n, p in self.named_parameters()
                if p.grad is not None and (before[n] is None or not torch.equal(before[n], p.grad))
            })

    return Recording


def fit(model, datamodule, iterations):
    trainer = pl.Trainer(max_steps=iterations * model.optimizer_steps_per_iteration, accelerator="cpu",
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, datamodule=datamodule)
    return trainer


def names(model, prefix):
    return {n for n, _ in model.named_parameters() if n.startswith(prefix)}


def model_config(*overrides):
    return to_plain(load_config(["data.batch_size=32", *overrides]).model)


def test_informative_ot_updates_touch_only_their_networks():
    model = recording(InformativeOTGAN)(model_config("model.critic.kind=mlp", "model.n_critic=2"), (2,))
    model.touched = []
    fit(model, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=1)
    critic_update, critic_update_2, generator_update = model.touched
    assert critic_update == critic_update_2 == names(model, "critic.")
    assert generator_update == names(model, "generator.") | names(model, "code_model.")


def test_infogan_updates_touch_only_their_networks():
    model = recording(InfoGAN)(model_config("model.name=infogan"), (2,))
    model.touched = []
    fit(model, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=1)
    discriminator_update, generator_update = model.touched
    discriminator = names(model, "trunk.") | names(model, "real_fake_head.") | names(model, "code_head.")
    assert discriminator_update == discriminator
    assert generator_update == names(model, "generator.")


def test_global_step_counts_every_optimizer_step_and_iteration_counts_generator_updates():
    model = InformativeOTGAN(model_config("model.critic.kind=mlp", "model.n_critic=3"), (2,))
    trainer = fit(model, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=4)
    assert model.optimizer_steps_per_iteration == 5
    assert trainer.global_step == 20 and model.iteration == 4


@pytest.mark.parametrize("cls,name", [(InformativeOTGAN, "informative_ot"), (InfoGAN, "infogan")])
def test_model_from_the_plain_dict_equals_the_model_from_the_typed_config(cls, name):
    cfg = load_config(["data.batch_size=32", f"model.name={name}", "model.critic.spectral_norm=true"]).model
    models = []
    for model in (to_plain(cfg), OmegaConf.to_object(cfg)):
        torch.manual_seed(0)
        models.append(cls(model, (2,)))
    from_dict, from_typed = models
    assert isinstance(from_dict.cfg, ModelConfig) and from_dict.cfg == from_typed.cfg
    state, typed_state = from_dict.state_dict(), from_typed.state_dict()
    assert state.keys() == typed_state.keys() and all(torch.equal(state[k], typed_state[k]) for k in state)
    # Either way the checkpoint stores the plain dict, which load_from_checkpoint passes back.
    assert type(from_typed.hparams["model"]) is dict
    assert from_typed.hparams["model"] == from_dict.hparams["model"] == to_plain(cfg)


def test_checkpoint_from_before_a_model_key_existed_loads_with_its_default(tmp_path):
    """Lightning's load_from_checkpoint passes the stored model dict to the constructor: a checkpoint written
    before code_model.prior_mix existed (stored as older versions did) loads, with the schema's default and
    its weights; one written now loads with the value it was trained with."""
    pl.seed_everything(0)
    model = InformativeOTGAN(model_config("model.code_model.prior_mix=0.3"), (2,))
    trainer = fit(model, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=1)
    trainer.save_checkpoint(tmp_path / "new.ckpt")
    checkpoint = torch.load(tmp_path / "new.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["model"] == model_config("model.code_model.prior_mix=0.3")
    del checkpoint["hyper_parameters"]["model"]["code_model"]["prior_mix"]
    checkpoint["hparams_name"] = "kwargs"
    torch.save(checkpoint, tmp_path / "old.ckpt")
    for name, prior_mix in (("new", 0.3), ("old", 0.0)):
        loaded = InformativeOTGAN.load_from_checkpoint(tmp_path / f"{name}.ckpt")
        assert loaded.cfg.code_model.prior_mix == prior_mix
        assert loaded.hparams["model"]["code_model"]["prior_mix"] == prior_mix  # what its next checkpoint stores
        state = loaded.state_dict()
        assert state.keys() == model.state_dict().keys()
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_latent_layout_prior_and_traversal():
    spec = LatentSpec([3, 4], continuous=2, noise=5)
    assert spec.input_dim == 3 + 4 + 2 + 5 and spec.num_codes == 4
    latent = spec.sample(2000, torch.Generator().manual_seed(0))
    encoded = spec.generator_input(latent)
    assert torch.equal(encoded[:, :3].argmax(1), latent.categorical[:, 0])
    assert torch.equal(encoded[:, 3:7].argmax(1), latent.categorical[:, 1])
    assert latent.continuous.abs().max() <= 1 and abs(latent.noise.std().item() - 1) < 0.05
    assert spec.log_prior(latent)[0].item() == pytest.approx(-math.log(12) - 2 * math.log(2))
    grid, values = spec.traversal(code=2, num_seeds=3, num_steps=5, value_range=2.0)
    assert values == pytest.approx([-2, -1, 0, 1, 2])
    rows = grid.continuous[:, 0].view(3, 5)
    assert torch.allclose(rows, torch.tensor([-2.0, -1, 0, 1, 2]).expand(3, 5))
    # everything but the traversed code is constant along a row
    assert (grid.noise.view(3, 5, -1) == grid.noise.view(3, 5, -1)[:, :1]).all()
    assert (grid.categorical.view(3, 5, -1) == grid.categorical.view(3, 5, -1)[:, :1]).all()
    grid, values = spec.traversal(code=1, num_seeds=2, num_steps=5, value_range=2.0)
    assert values == [0, 1, 2, 3] and grid.categorical[:, 1].tolist() == [0, 1, 2, 3] * 2


@pytest.mark.slow
def test_regularization_makes_the_code_informative_on_the_ring():
    """8-mode ring, 200 iterations: with reward 0.72 the code picks the mode; with 0 it does not."""
    purity = {}
    for reward in (0.72, 0.0):
        pl.seed_everything(0)
        cfg = model_config("model.latent.categorical=[8]", f"model.reward={reward}", "model.code_model.hidden=64",
                           "model.generator.hidden=128")
        model = InformativeOTGAN(cfg, (2,))
        datamodule = GaussianMixtureDataModule(mixture="ring", batch_size=64, num_samples=20000)
        fit(model, datamodule, iterations=200)
        latent = model.latent_spec.sample(4000, torch.Generator().manual_seed(1))
        with torch.no_grad():
            samples = model.generate(latent)
        scores = mixture_quality(samples, latent.categorical[:, 0], datamodule.modes, datamodule.std, 8)
        purity[reward] = scores["code_purity"]
        if reward > 0:
            assert scores["modes_captured"] == 8 and scores["high_quality_frac"] > 0.4
            # the encoder reads the code back from generated samples
            assert (model.encode(samples)[:, 0] == latent.categorical[:, 0]).float().mean() > 0.9
    assert purity[0.72] > 0.95 and purity[0.0] < 0.6


class Captured(Exception):
    """Raised to stop training once the values a test needs are recorded."""


def test_critic_features_lie_on_the_unit_sphere_so_costs_stay_in_0_2():
    from lightning_modules.networks import FeatureCritic, build_trunk

    critic = FeatureCritic(build_trunk("mlp", (2,), 16, 2), 8)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 100
    phi = critic(x)
    torch.testing.assert_close(phi.norm(dim=1), torch.ones(64))
    costs = torch.cdist(phi, phi).pow(2) / 2
    assert costs.max() <= 2 + 1e-5 and costs.max() > 0.1


def test_n_generator_sets_the_optimizer_steps_and_the_iteration_bookkeeping():
    """n_critic critic updates then n_generator generator updates per iteration, each on fresh latents;
    global_step counts all of them and `iteration` still counts iterations."""
    model = recording(InformativeOTGAN)(model_config("model.critic.kind=mlp", "model.n_critic=1", "model.n_generator=3"), (2,))
    model.touched = []
    trainer = fit(model, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=4)
    assert model.optimizer_steps_per_iteration == 1 + 3 + 1
    assert trainer.global_step == 20 and model.iteration == 4
    critic, generator = names(model, "critic."), names(model, "generator.") | names(model, "code_model.")
    # Q is fitted once per iteration, on the plans of all three updates, with the last generator update
    assert model.touched == [critic, names(model, "generator."), names(model, "generator."), generator] * 4

    infogan = InfoGAN(model_config("model.name=infogan", "model.n_critic=2", "model.n_generator=3"), (2,))
    trainer = fit(infogan, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=2)
    assert infogan.optimizer_steps_per_iteration == 5 and trainer.global_step == 10 and infogan.iteration == 2


def one_iteration_keeping_gradients(*overrides):
    """One training iteration of a small MLP-critic model on a fixed real batch, latents seeded: returns the
    model (its gradients left in .grad after its optimizers stepped), an untrained copy whose latent stream
    is seeded the same, the real batch and what the iteration logged."""
    import copy

    model = InformativeOTGAN(model_config("model.critic.kind=mlp", "model.critic.hidden=32", *overrides), (2,))
    reference = copy.deepcopy(model)
    optimizers, _ = model.configure_optimizers()
    model.optimizers = lambda: optimizers
    model.manual_backward = lambda loss: loss.backward()
    logged = {}
    model.log_train = lambda values, prog_bar=(): logged.update(values)
    real = torch.randn(32, 2, generator=torch.Generator().manual_seed(1))
    model.latent_rng.manual_seed(7)
    model.train_iteration(real)
    reference.latent_rng.manual_seed(7)
    return model, reference, real, logged


def test_simultaneous_updates_give_the_critic_the_negated_gradient_of_the_divergence_g_descends():
    """One solve serves the three networks: the critic's gradient is minus that of the divergence on
    detached samples (what the alternating critic update ascends), the generator's that of the same
    divergence with the critic frozen, Q's that of its plan-weighted cross-entropy; three optimizer steps
    an iteration, as alternating with one update each."""
    model, reference, real, _ = one_iteration_keeping_gradients("model.simultaneous_updates=true")
    posteriors = reference.training_posterior(real)
    latent = reference.sample_latent(32)
    fake = reference.generate(latent)
    critic_params = list(reference.critic.parameters())
    detached, _ = reference.solve(reference.features(fake.detach()), reference.features(real), latent, posteriors)
    critic_grads = torch.autograd.grad(detached.divergence, critic_params)
    with frozen(reference.critic):
        result, log_q = reference.solve(reference.features(fake), reference.features(real), latent, posteriors)
        generator_grads = torch.autograd.grad(result.divergence, list(reference.generator.parameters()))
    code_grads = torch.autograd.grad(reference.plan_weighted_cross_entropy(log_q, result.plan),
                                     list(reference.code_model.parameters()))
    for network, grads, sign in ((model.critic, critic_grads, -1), (model.generator, generator_grads, 1),
                                 (model.code_model, code_grads, 1)):
        for p, expected in zip(network.parameters(), grads):
            torch.testing.assert_close(p.grad, sign * expected, rtol=1e-5, atol=1e-7)
        assert max(g.abs().max() for g in grads) > 1e-4

    trained = InformativeOTGAN(model_config("model.critic.kind=mlp", "model.simultaneous_updates=true"), (2,))
    trainer = fit(trained, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=4)
    assert trained.optimizer_steps_per_iteration == 3 and trainer.global_step == 12 and trained.iteration == 4


def test_the_energy_distance_critic_ascends_eq_16_on_samples_of_the_generator_before_its_updates():
    # The critic's gradient stays in .grad: G's updates run with it frozen.
    model, reference, real, logged = one_iteration_keeping_gradients("model.critic.objective=energy_distance")
    with torch.no_grad():
        fake = reference.generate(reference.sample_latent(32))
    energy = reference.critic_energy_distance(reference.features(fake), reference.features(real))
    critic_params = list(reference.critic.parameters())
    expected_grads = torch.autograd.grad(energy, critic_params)
    for p, expected in zip(model.critic.parameters(), expected_grads):
        torch.testing.assert_close(p.grad, -expected, rtol=1e-5, atol=1e-7)
    assert max(g.abs().max() for g in expected_grads) > 1e-4
    assert energy.item() > 0 and logged["train/critic_energy_distance"].item() == pytest.approx(energy.item())
    assert "train/critic_divergence" not in logged and "train/divergence" in logged

def test_spectral_norm_makes_every_critic_layer_1_lipschitz_and_leaves_q_alone():
    """After training forwards (one power iteration each) every linear and convolution weight of the critic,
    reshaped to (out, in * kernel), has largest singular value 1; without the option it does not. InfoGAN's
    trunk and real/fake head are normalized too, its code head (Q) is not."""

    def top_singular_values(module):
        values = {}
        for name, layer in module.named_modules():
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
                values[name] = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        return values

    images = torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    conv = ["data.name=digits", "model.critic.kind=conv", "model.critic.hidden=8", "model.code_model.hidden=8", "model.generator.kind=conv",
            "model.generator.hidden=8", "model.latent.categorical=[3]"]
    for spectral_norm in (True, False):
        torch.manual_seed(0)
        model = InformativeOTGAN(model_config(*conv, f"model.critic.spectral_norm={spectral_norm}"), (1, 16, 16))
        infogan = InfoGAN(model_config(*conv, "model.name=infogan", f"model.critic.spectral_norm={spectral_norm}"),
                          (1, 16, 16))
        for _ in range(30):  # power iterations converge on the top singular vector
            model.critic(images), infogan.real_fake_head(infogan.trunk(images))
        critic_sigmas = top_singular_values(model.critic)
        discriminator_sigmas = {**top_singular_values(infogan.trunk), "head": top_singular_values(infogan.real_fake_head)[""]}
        assert len(critic_sigmas) == 4 and len(discriminator_sigmas) == 4  # 2 convs, 1 linear, the head
        for sigma in [*critic_sigmas.values(), *discriminator_sigmas.values()]:
            assert (sigma == pytest.approx(1, abs=2e-3)) == spectral_norm, (critic_sigmas, discriminator_sigmas)
        for q in (model.code_model, infogan.code_head):
            assert not any(s == pytest.approx(1, abs=2e-3) for s in top_singular_values(q).values())


def test_prior_mix_is_the_pmi_of_q_mixed_with_the_prior_and_bounds_the_penalty():
    torch.manual_seed(0)
    q = torch.softmax(3 * torch.randn(64, 5, dtype=torch.float64), dim=1)  # a confident Q over 5 values
    prior = 1 / 5
    pmi = q.log() - math.log(prior)
    assert mixed_pmi(pmi, 0.0) is pmi
    for a in (0.1, 0.5):
        mixed = mixed_pmi(pmi, a)
        # the reference: the mixture's probabilities, then their log-ratio to the prior
        torch.testing.assert_close(mixed, ((1 - a) * q + a * prior).log() - math.log(prior), rtol=0, atol=1e-12)
        assert mixed.min() >= math.log(a) and pmi.min() < math.log(a) - 1, "the penalty is bounded, and was not"
        assert torch.equal(mixed.argsort(dim=1), pmi.argsort(dim=1)), "the order of Q's beliefs is kept"


def first_pmi(prior_mix: float) -> torch.Tensor:
    """The pmi that perturbs the cost in the first Sinkhorn solve of a data-space model."""

    class Capturing(InformativeOTGAN):
        def divergence(self, x, y, pmi):
            self.pmi = pmi
            raise Captured

    pl.seed_everything(0)
    model = Capturing(model_config(f"model.code_model.prior_mix={prior_mix}"), (2,))
    with pytest.raises(Captured):
        fit(model, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=1)
    return model.pmi


def test_prior_mix_perturbs_the_cost_with_the_mixture():
    plain, mixed = first_pmi(0.0), first_pmi(0.3)
    torch.testing.assert_close(mixed, mixed_pmi(plain, 0.3), rtol=0, atol=0)
    torch.testing.assert_close(mixed, torch.log(0.3 + 0.7 * plain.exp()), rtol=1e-5, atol=1e-6)  # the formula
    assert not torch.equal(mixed, plain)


def test_generator_average_is_the_exponential_average_of_the_weights_and_draws_the_evaluation_samples():
    """Held at weights theta, the average moves geometrically: after k updates past the warm-up it is
    theta + beta^k (start - theta), and the first update (iteration 0) keeps a tenth of the start. In eval mode
    the model draws with the average, in training mode with the trained generator; the average is in the
    checkpoint's state dict."""
    from lightning_modules.generator_average import GeneratorAverage

    generator = torch.nn.Linear(3, 2)
    average = GeneratorAverage(generator, beta=0.9)
    start = [p.clone() for p in average.network.parameters()]
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(1.0)
    average.update(generator, iteration=0)
    for mine, initial, theta in zip(average.network.parameters(), start, generator.parameters()):
        torch.testing.assert_close(mine, 0.1 * initial + 0.9 * theta)
    first = [p.clone() for p in average.network.parameters()]
    for _ in range(5):
        average.update(generator, iteration=1000)
    for mine, before, theta in zip(average.network.parameters(), first, generator.parameters()):
        torch.testing.assert_close(mine, theta + 0.9**5 * (before - theta))
        assert not mine.requires_grad

    model = InformativeOTGAN(model_config("model.critic.kind=mlp", "model.generator.average=0.99"), (2,))
    fit(model, GaussianMixtureDataModule(batch_size=32, num_samples=256), iterations=3)
    latent = model.latent_spec.sample(16, torch.Generator().manual_seed(0))
    z = model.latent_spec.generator_input(latent)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.generate(latent), model.generator_average.network(z))
        assert not torch.allclose(model.generate(latent), model.generator(z))
        model.train()
        torch.testing.assert_close(model.generate(latent), model.generator(z))
    assert any(key.startswith("generator_average.network.") for key in model.state_dict())
    with pytest.raises(Exception, match="model.generator.average"):
        load_config(["model.generator.average=1"])


def test_the_models_adam_takes_the_per_parameter_loops_steps_bit_for_bit():
    """The multi-tensor Adam (``LatentGAN.adam``) is a speed-up only: 50 steps on the generator give exactly
    the weights of torch's per-parameter loop from the same start and gradients."""
    model = InformativeOTGAN(model_config(), (2,))
    reference = {n: p.detach().clone().requires_grad_(True) for n, p in model.generator.named_parameters()}
    ours = model.adam(model.generator.parameters(), model.cfg.generator.optimizer)
    loop = torch.optim.Adam(reference.values(), lr=model.cfg.generator.optimizer.lr,
                            betas=tuple(model.cfg.generator.optimizer.betas), foreach=False)
    torch.manual_seed(0)
    for _ in range(50):
        for name, p in model.generator.named_parameters():
            p.grad = torch.randn_like(p)
            reference[name].grad = p.grad.clone()
        ours.step()
        loop.step()
    for name, p in model.generator.named_parameters():
        assert torch.equal(p.detach(), reference[name].detach()), name


@pytest.mark.parametrize("cls,overrides,networks", [
    (InformativeOTGAN, ["model.critic.kind=mlp"], {"generator": "generator.", "code_model": "code_model.", "critic": "critic."}),
    (InformativeOTGAN, [], {"generator": "generator.", "code_model": "code_model.", "critic": None}),
    (InfoGAN, ["model.name=infogan"], {"generator": "generator.", "discriminator": ("trunk.", "real_fake_head.", "code_head.")}),
])
def test_optimizers_are_named_by_the_network_they_step(cls, overrides, networks):
    """configure_optimizers gives Lightning a list (checkpoints store the states in its order); the models read
    it back by name, each name holding exactly its network's parameters."""
    model = cls(model_config(*overrides), (2,))
    optimizers, _ = model.configure_optimizers()
    model.optimizers = lambda: optimizers
    named = model.named_optimizers()
    assert list(named._fields) == list(networks)
    for field, prefixes in networks.items():
        optimizer = getattr(named, field)
        if prefixes is None:
            assert optimizer is None
            continue
        stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
        expected = {id(p) for n, p in model.named_parameters() if n.startswith(prefixes)}
        assert stepped == expected and stepped
