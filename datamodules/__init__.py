"""Datamodules with ground-truth factors; `DATAMODULES` maps the config's `data.name` to the class."""
from datamodules.base import FactorDataModule
from datamodules.digits import DigitsDataModule
from datamodules.dsprites import DSpritesDataModule
from datamodules.errors import MissingDataError
from datamodules.gaussians import GaussianMixtureDataModule
from datamodules.mnist import MNISTDataModule

DATAMODULES = {
    "gaussians": GaussianMixtureDataModule,
    "dsprites": DSpritesDataModule,
    "digits": DigitsDataModule,
    "mnist": MNISTDataModule,
}

__all__ = [
    "DATAMODULES",
    "DigitsDataModule",
    "DSpritesDataModule",
    "FactorDataModule",
    "GaussianMixtureDataModule",
    "MissingDataError",
    "MNISTDataModule",
]
