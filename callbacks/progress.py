"""A progress bar counted in training iterations, out of `trainer.max_steps` (the loader is endless and
Lightning's step counter counts every optimizer step, so the default bar would show no useful total).

A resumed run continues part-way through Lightning's one endless epoch, and Lightning then skips
``on_train_epoch_start``: the bar is set up at ``on_train_start`` instead, starting at the resumed
iteration (so that its rate and time left count only this run's iterations)."""
from __future__ import annotations

from typing import Any

from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import convert_inf


class IterationProgressBar(TQDMProgressBar):
    @property
    def total_train_batches(self) -> int | float:
        module = self.trainer.lightning_module
        return module.total_iterations if module.total_iterations > 0 else float("inf")

    def on_train_start(self, trainer, *_) -> None:
        super().on_train_start(trainer)
        bar = self.train_progress_bar
        bar.reset(total=convert_inf(self.total_train_batches))
        bar.initial = bar.n = bar.last_print_n = trainer.lightning_module.iteration
        bar.set_description("Training")

    def on_train_epoch_start(self, trainer, *_) -> None:
        """Nothing: the loader is endless, so the one epoch is the whole run, set up by ``on_train_start``
        (Lightning's version would reset the bar to 0 and name the epoch)."""

    def get_metrics(self, trainer, pl_module) -> dict[str, Any]:
        """The logged training values, without Lightning's ``v_num`` (the CSV folder's name, cut to 4 characters)."""
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
