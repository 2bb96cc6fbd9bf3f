"""A progress bar counted in training iterations, out of `trainer.max_steps` (the loader is endless and
Lightning's step counter counts every optimizer step, so the default bar would show no useful total)."""
from __future__ import annotations

from pytorch_lightning.callbacks import TQDMProgressBar


class IterationProgressBar(TQDMProgressBar):
    @property
    def total_train_batches(self) -> int | float:
        module = self.trainer.lightning_module
        return module.total_iterations if module.total_iterations > 0 else float("inf")

    def on_train_epoch_start(self, trainer, *_) -> None:
        super().on_train_epoch_start(trainer)
        self.train_progress_bar.initial = trainer.lightning_module.iteration  # a resumed run starts part-way
        self.train_progress_bar.set_description("Training")
