"""The names a configuration may choose - ``model.name``, ``data.name`` - and the class each one names.

A :class:`Registry` maps a name to its class, written as an import path
(``"datamodules.dsprites:DSpritesDataModule"``) and imported on first lookup. ``configs/loading.py``
validates ``model.name`` and ``data.name`` from these keys; ``lightning_modules.MODELS`` and
``datamodules.DATAMODULES`` *are* these objects. So every name is written once, here.

Why import paths and not the classes: configs is the lowest floor of the project and imports none of
the floors above it. Importing the classes here would make every configuration that is loaded import
datamodules and lightning_modules, with torch and Lightning (seconds before ``train.py`` can report a
mistyped key), and would tie the lowest floor to the highest ones. An import path costs nothing until a
run builds its model and data.

Adding a dataset: its module (a :class:`~datamodules.base.FactorDataModule` with ``from_config``), one
entry in :data:`DATAMODULES`, and a preset in ``configs/experiment/``. Code outside the package (a test,
a notebook) registers with ``DATAMODULES["name"] = TheClass``.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any


class Registry(MutableMapping):
    """Names to classes; a value is the class itself or its import path ``"package.module:Class"``.

    Args:
        key: the config key whose choices these are (``"data.name"``), for error messages.
        entries: the initial names and import paths, in the order choices are listed.
    """

    def __init__(self, key: str, entries: dict[str, Any]) -> None:
        self.key = key
        self._entries: dict[str, Any] = dict(entries)

    def __getitem__(self, name: str) -> Any:
        if name not in self._entries:
            raise KeyError(f"{self.key}={name}: must be one of {', '.join(self._entries)}")
        target = self._entries[name]
        if isinstance(target, str):
            module, _, attribute = target.partition(":")
            target = self._entries[name] = getattr(importlib.import_module(module), attribute)
        return target

    def __setitem__(self, name: str, target: Any) -> None:
        self._entries[name] = target

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:  # without importing the class, unlike Mapping's
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.key!r}, {self._entries!r})"


# `sinkhorn` is the informative OT GAN with model.reward forced to 0 (configs/loading.py), not a copy.
MODELS = Registry("model.name", {
    "informative_ot": "lightning_modules.informative_ot:InformativeOTGAN",
    "sinkhorn": "lightning_modules.informative_ot:InformativeOTGAN",
    "infogan": "lightning_modules.infogan:InfoGAN",
})

DATAMODULES = Registry("data.name", {
    "gaussians": "datamodules.gaussians:GaussianMixtureDataModule",
    "dsprites": "datamodules.dsprites:DSpritesDataModule",
    "digits": "datamodules.digits:DigitsDataModule",
    "mnist": "datamodules.mnist:MNISTDataModule",
    "shapes3d": "datamodules.shapes3d:Shapes3DDataModule",
    "image_folder": "datamodules.image_folder:ImageFolderDataModule",
})

# What each dataset's observations are, so that configs/loading.py checks a configuration's networks against
# its data before any data is read or network built (a preset for 2D points on images would build conv
# networks of its MLP widths: hundreds of millions of parameters). A dataset registered without an entry
# here is not checked.
OBSERVATIONS = {"gaussians": "points", "dsprites": "images", "digits": "images", "mnist": "images",
                "shapes3d": "images", "image_folder": "images"}
