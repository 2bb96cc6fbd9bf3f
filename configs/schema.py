"""The configuration schema: every key a run reads, its type, its default and what it means.

OmegaConf checks YAML files and command-line overrides against these dataclasses, so an unknown key
or a value of the wrong type fails before training with a message naming the key. Defaults here are
neutral; `configs/base.yaml` and the presets in `configs/experiment/` set the values runs use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional


@dataclass
class GaussiansConfig:
    mixture: str = "grid"  # grid: 25 modes on {-2..2}^2 | ring: 8 modes on a circle of radius 2
    std: float = 0.05  # standard deviation of every mode
    num_samples: int = 100_000  # size of the training set, drawn once from `seed`


@dataclass
class DSpritesConfig:
    resolution: int = 32  # image side, a power of two in 8..64 (64 is the original dSprites)
    # Subsets of factor values as indices into the full grid (3 shapes, 6 scales, 40 orientations,
    # 32 x 32 positions); null keeps every value. Example: orientation=[0,10,20,30].
    shape: Optional[List[int]] = None
    scale: Optional[List[int]] = None
    orientation: Optional[List[int]] = None
    position_x: Optional[List[int]] = None
    position_y: Optional[List[int]] = None


@dataclass
class Shapes3DConfig:
    resolution: int = 64  # image side, a power of two in 8..64 (64 is the file's; smaller averages blocks)
    # Subsets of factor values as indices into each factor's values (10 floor, wall and object hues, 8 scales,
    # 4 shapes, 15 orientations); null keeps every value. Example: orientation=[0,7,14].
    floor_hue: Optional[List[int]] = None
    wall_hue: Optional[List[int]] = None
    object_hue: Optional[List[int]] = None
    scale: Optional[List[int]] = None
    shape: Optional[List[int]] = None
    orientation: Optional[List[int]] = None


@dataclass
class ImageFolderConfig:
    resolution: int = 64  # image side, a power of two in 8..64: the centred square of each image, resized
    grayscale: bool = False  # one gray channel instead of RGB


@dataclass
class DataConfig:
    # a name of configs/registry.py's DATAMODULES: gaussians | dsprites | digits | mnist | shapes3d | image_folder
    name: str = "gaussians"
    # Never downloaded. dsprites: the official .npz (else procedural); mnist: folder of IDX files; shapes3d:
    # the official 3dshapes.h5; image_folder: a folder of PNG/JPEG images (searched recursively).
    path: Optional[str] = None
    batch_size: int = 256  # real samples per batch; the generator draws as many latents
    # DataLoader worker processes reading and decoding batches (0: in the training process). Workers persist
    # across the run, each opens its own file handles, and batches go to pinned memory when training on GPU.
    num_workers: int = 0
    gaussians: GaussiansConfig = field(default_factory=GaussiansConfig)
    dsprites: DSpritesConfig = field(default_factory=DSpritesConfig)
    shapes3d: Shapes3DConfig = field(default_factory=Shapes3DConfig)
    image_folder: ImageFolderConfig = field(default_factory=ImageFolderConfig)


# The model keys. Each one is set by a preset or is a knob users of GAN frameworks expect; the comment after
# "Why a key:" says which. Options the studies found neutral or harmful were removed (CHANGELOG.md).


@dataclass
class LatentConfig:
    # Why a key: every preset sets the latent layout of its data's factors.
    categorical: List[int] = field(default_factory=lambda: [10])  # one code per entry, with that many values
    continuous: int = 0  # number of continuous codes, uniform on [-1, 1]
    noise: int = 2  # number of standard Gaussian noise dimensions


@dataclass
class OptimizerConfig:
    # Why a key: lr is set by every preset; Adam's betas are a standard GAN knob (DCGAN's 0.5, 0.999).
    lr: float = 1e-3  # Adam learning rate
    betas: List[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam betas


@dataclass
class GeneratorConfig:
    # Why a key: kind, hidden and layers are set by the presets (mlp for 2D points, conv for images).
    kind: str = "mlp"  # mlp (2D data) | conv (DCGAN-style, images)
    hidden: int = 256  # mlp: width; conv: channels of the last upsampling block
    layers: int = 3  # mlp: hidden layers (ignored by conv)
    # beta of an exponential moving average of the generator's weights, updated once per iteration, which
    # draws every evaluation sample and traversal (Yazici et al. 2019); 0: the trained weights themselves.
    # Why a key: a standard GAN knob (the averaged generator of StyleGAN, BigGAN and ProGAN).
    average: float = 0.0
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class CriticConfig:
    # identity: OT cost in data space, no critic to train (2D data, or images in pixel space) | mlp | conv.
    # The learned critic is a feature map phi(x) on the unit sphere of R^features, which keeps costs in
    # [0, 2] so that the blur keeps a fixed meaning. InfoGAN's discriminator has the same trunk (an MLP for
    # identity). Why a key: kind, hidden, layers and features are set by the presets.
    kind: str = "mlp"
    hidden: int = 256  # mlp: width; conv: channels of the first downsampling block
    layers: int = 3  # mlp: hidden layers (ignored by conv)
    features: int = 64  # d, the dimension of phi(x)
    # Divide every layer's weight by its largest singular value (Miyato et al. 2018): a Lipschitz critic
    # that cannot separate real from generated images by a texture. Also InfoGAN's discriminator.
    # Why a key: set by the image presets (on for the OT models, off for InfoGAN: model_settings).
    spectral_norm: bool = False
    # What the critic ascends. adversarial: the loss the generator descends (the OT models' divergence,
    # InfoGAN's GAN loss). energy_distance (OT models, alternating updates, an even batch): OT-GAN's
    # minibatch energy distance from entropic OT values on the halves of each batch (docs/method.md eq. 16),
    # which a critic that puts every two images far apart does not raise; the generator still descends
    # the divergence. Why a key: set by the dSprites presets (fewer second sprites, better FID).
    objective: str = "adversarial"
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=2e-4))


@dataclass
class CodeAugmentConfig:
    # informative_ot on images: Q reads its categorical codes from a copy of each real image rotated by up to
    # rotation_degrees, scaled by 1 +- scale and shifted by up to translation of its size, and its continuous
    # codes from the image itself except the last invariant_continuous ones (lightning_modules/augmentation.py
    # says why). rotation_degrees, scale and translation all 0: no copy.
    # Why a key: set by the MNIST and dSprites presets, and each dataset has its own invariances.
    rotation_degrees: float = 0.0
    scale: float = 0.0
    translation: float = 0.0
    # How many continuous codes, the last ones, Q also reads from the copies: such a code can hold only what
    # the transformations keep (on dSprites, turned about the centre and shifted: the sprite's size and
    # shape, not its place). Why a key: set by the dSprites presets (1).
    invariant_continuous: int = 0


def transforms_images(augment: CodeAugmentConfig) -> bool:
    """Whether ``model.code_model.augment`` (typed, or as the DictConfig validation reads) makes copies at all."""
    return bool(augment.rotation_degrees or augment.scale or augment.translation)


@dataclass
class CodeModelConfig:
    # Q(c | y), the amortized plan posterior (docs/method.md eqs. 5 and 9). Its own network with the critic's
    # architecture (with the identity critic: an MLP on points, a conv net on images); InfoGAN uses a head
    # on its discriminator trunk instead. Why a key: hidden and layers are set by the presets.
    hidden: int = 256
    layers: int = 3
    # informative_ot: weight a of the prior in the mixture (1 - a) Q + a p(c) whose log-ratio to p(c)
    # perturbs the cost (lightning_modules/code_model.py, mixed_pmi). 0 uses Q itself; a > 0 bounds the
    # penalty on pairs Q deems unlikely, lam * log a, so a confident but wrong Q cannot forbid them.
    # Why a key: set by the digits and MNIST presets (0.8).
    prior_mix: float = 0.0
    augment: CodeAugmentConfig = field(default_factory=CodeAugmentConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class OTConfig:
    # Why a key: blur and scaling are set by every preset, diameter by the digits and MNIST presets.
    blur: float = 0.3  # sqrt(eps): transport below this length scale is smoothed (see lightning_modules/ot.py)
    scaling: float = 0.8  # eps-scaling ratio, 0.7-0.9: closer to 1 is more accurate and slower
    diameter: Optional[float] = None  # largest distance, start of eps-scaling; null measures each batch
    # Under DDP: solve OT on the batch of all ranks (features all-gathered, gradients to the local
    # part) instead of per-rank sub-batches, a more biased estimator. No effect on one device.
    # Why a key: a standard knob of distributed training, the choice of the batch a loss is estimated on.
    global_batch: bool = True


@dataclass
class ModelConfig:
    # a name of configs/registry.py's MODELS: informative_ot | sinkhorn (= informative_ot with reward 0) | infogan
    name: str = "informative_ot"
    # lam, the weight of the code's mutual information in the structured regularization (docs/method.md
    # eq. 4): the cost of pairing latent sample i with observation j is lowered by lam * pmi_ij (eq. 7,
    # lightning_modules/ot.py). It does not change with the blur: what it weighs against is the entropy
    # term eps = blur^2. 0 is the plain Sinkhorn GAN (model.name=sinkhorn forces it). Set by every preset.
    # Its old form model.info_weight = lam / eps still loads, converted at the run's blur (CHANGELOG.md).
    reward: float = 0.72
    # Critic (discriminator) updates per iteration. Why a key: a standard GAN knob (WGAN's n_critic).
    n_critic: int = 1
    # Generator updates per iteration, each on fresh latents, after the critic's (Q: one update from their
    # plans). OT-GAN's generator:critic ratio of 3 keeps the critic's cost from becoming degenerate.
    # Why a key: set by the dSprites presets (3; InfoGAN 1).
    n_generator: int = 1
    # One forward and one backward for the critic and the generator (and Q) instead of alternating them:
    # the critic steps along the negated gradient of the same divergence the generator descends
    # (simultaneous gradient descent-ascent). Needs n_critic = n_generator = 1; OT models only.
    # Why a key: set by the digits and MNIST presets.
    simultaneous_updates: bool = False
    # Fraction of max_steps after which generator/critic lr decay linearly to 0 (1 = none).
    # Why a key: set by the presets (0.5); a learning-rate schedule is a standard knob.
    lr_decay_start: float = 0.5
    # infogan: weight of the mutual-information bound. Why a key: InfoGAN's lambda, its one own knob.
    infogan_lambda: float = 1.0
    # A non-finite loss or gradient skips that iteration's update (counted as train/skipped_steps);
    # this many consecutive skips stop the run, keeping the last checkpoint from before the divergence.
    # Why a key: a standard knob of long runs, how much instability to ride out before stopping.
    max_consecutive_skips: int = 10
    latent: LatentConfig = field(default_factory=LatentConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    code_model: CodeModelConfig = field(default_factory=CodeModelConfig)
    ot: OTConfig = field(default_factory=OTConfig)


@dataclass
class TrainerConfig:
    """Passed to `pytorch_lightning.Trainer` (except `max_steps`, see below)."""

    # Training iterations: n_critic critic updates then n_generator generator updates each. (Lightning's own
    # max_steps counts every optimizer step under manual optimization; train.py converts.)
    max_steps: int = 3000
    # Stop after this iteration with a checkpoint, the learning-rate schedule still that of max_steps;
    # `resume=RUN_DIR` continues the same run (callbacks/pause.py). null: run to max_steps. Why a key: to
    # train several seeds part of the way and resume the one select_model.py keeps.
    pause_at: Optional[int] = None
    accelerator: str = "auto"  # cpu | gpu | auto
    devices: str = "1"  # number of devices, or "auto", or a list such as "[0,1]"
    strategy: str = "auto"  # auto | ddp | ...
    num_nodes: int = 1
    precision: str = "32-true"  # the Sinkhorn loop needs full precision
    deterministic: bool = False  # torch deterministic algorithms (for exact reproducibility)
    log_every_n_steps: int = 50
    enable_progress_bar: bool = True
    fast_dev_run: bool = False  # one iteration, no logging or checkpoints: a smoke test
    # Under DDP: seconds a rank waits in a collective (gradients, checkpoint barrier, start-up rendezvous) for
    # the others before the run stops with "rank ... was lost". A rank that dies on this node is noticed
    # within seconds anyway; this bounds the wait for one on another node, or one that hangs (an NCCL
    # collective would otherwise wait for it). Rank 0's evaluations are not counted: the others wait for
    # them without a limit. Raise it if a checkpoint takes minutes to write.
    collective_timeout: float = 300.0


@dataclass
class LoggerConfig:
    # offline: W&B files under run_dir/wandb (default without WANDB_API_KEY) | online | disabled.
    # null picks online when WANDB_API_KEY is set, else offline. A CSV log is always written too.
    mode: Optional[str] = None
    project: str = "informative-ot-gan"
    entity: Optional[str] = None
    name: Optional[str] = None  # run name; null uses the run folder's name
    run_id: Optional[str] = None  # W&B run id; null draws one (saved in config.yaml, so a resume continues the run)
    tags: List[str] = field(default_factory=list)


@dataclass
class TraversalConfig:
    # PNGs under run_dir/traversals/ (and W&B images traversal/<code>): images get one grid per code,
    # the code swept along the columns; 2D data a scatter of generated points coloured by each code.
    enabled: bool = True
    # Period in training iterations (as trainer.max_steps; not Lightning's optimizer steps), and at the end.
    # Its old name every_n_steps still loads with a warning (configs/loading.py, RENAMED_KEYS); so do the two below.
    every_n_iterations: int = 1000
    num_seeds: int = 4  # fixed latent draws per grid (rows of the same code dimension)
    num_steps: int = 9  # columns for a continuous code
    continuous_range: float = 2.0  # a continuous code sweeps [-range, range]
    num_points: int = 2000  # 2D data: generated (and real) points in the scatter plot


@dataclass
class MetricsConfig:
    # eval/... scores: 2D mixtures: modes captured, quality, code purity; images with >= 2 factors:
    # MIG, FactorVAE, BetaVAE, DCI, SAP; images with one label (digits, MNIST): unsupervised accuracy;
    # every image dataset: FID, precision, recall (see `fidelity`).
    enabled: bool = True
    every_n_iterations: int = 1000  # period in training iterations, and at the end of training
    num_train: int = 2000  # samples for fitting score classifiers (disentanglement_lib uses 10,000)
    num_test: int = 1000  # held-out samples (disentanglement_lib uses 5,000)
    num_generated: int = 10000  # 2D mixtures: generated samples for modes / quality / purity
    # Boosting stages of DCI's per-factor classifiers (disentanglement_lib uses 100). DCI fits one
    # classifier per factor value, so on dSprites (113 values) 100 stages take ~35 s at 2,000 points;
    # 20 gives an in-training estimate. Use 100 (with inspect_checkpoint.py) to compare with papers.
    dci_n_estimators: int = 20
    # Images: eval/fid, eval/precision, eval/recall (improved precision and recall, k = 3) of generated
    # against real images, in the feature space of a small conv net trained once on the data's own
    # factors (not Inception: such FIDs are not comparable with published ones).
    fidelity: bool = True
    # Generated and real images each. FID's bias falls like 1/n and precision/recall grow with n:
    # compare scores at equal sample sizes.
    fidelity_samples: int = 2000
    # Folder of the trained feature networks, one file per data configuration and network settings
    # (trained in seconds to a minute when missing; copy the folder to reuse them on another machine).
    feature_cache: str = "~/.cache/informative-ot-gan/feature_networks"


@dataclass
class CheckpointConfig:
    # Period in training iterations, and at the end of training; always written to checkpoints/last.ckpt.
    every_n_iterations: int = 500


@dataclass
class CallbacksConfig:
    traversal: TraversalConfig = field(default_factory=TraversalConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)


@dataclass
class Config:
    experiment: Optional[str] = None  # preset name from configs/experiment/, applied over base.yaml
    seed: int = 0
    run_dir: Optional[str] = None  # null: runs/<timestamp>
    # Continue a run: its folder or a checkpoint in it. The run's config.yaml is used; only trainer.*,
    # logger.* and callbacks.* may be changed on the command line (e.g. a longer trainer.max_steps).
    resume: Optional[str] = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
