"""The models: the informative OT GAN and its baselines, on shared networks."""
from lightning_modules.infogan import InfoGAN
from lightning_modules.informative_ot import InformativeOTGAN

# `sinkhorn` is the informative OT GAN with info_weight forced to 0 (configs/loading.py), not a copy.
MODELS = {"informative_ot": InformativeOTGAN, "sinkhorn": InformativeOTGAN, "infogan": InfoGAN}

__all__ = ["InfoGAN", "InformativeOTGAN", "MODELS"]
