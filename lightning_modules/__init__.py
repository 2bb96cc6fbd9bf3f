"""The models: the informative OT GAN and its baselines, on shared networks. `MODELS` maps the config's
`model.name` to the class (configs/registry.py, where the names are written)."""
from configs.registry import MODELS
from lightning_modules.infogan import InfoGAN
from lightning_modules.informative_ot import InformativeOTGAN

__all__ = ["InfoGAN", "InformativeOTGAN", "MODELS"]
