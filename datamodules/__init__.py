"""Datamodules with ground-truth factors. `DATAMODULES` maps the config's `data.name` to the class
(configs/registry.py, where the names are written); each class builds itself with `from_config`."""
from configs.registry import DATAMODULES
from datamodules.base import FactorDataModule
from datamodules.digits import DigitsDataModule
from datamodules.dsprites import DSpritesDataModule
from datamodules.errors import MissingDataError
from datamodules.gaussians import GaussianMixtureDataModule
from datamodules.image_folder import ImageFolderDataModule
from datamodules.mnist import MNISTDataModule
from datamodules.shapes3d import Shapes3DDataModule

__all__ = [
    "DATAMODULES",
    "DigitsDataModule",
    "DSpritesDataModule",
    "FactorDataModule",
    "GaussianMixtureDataModule",
    "ImageFolderDataModule",
    "MissingDataError",
    "MNISTDataModule",
    "Shapes3DDataModule",
]
