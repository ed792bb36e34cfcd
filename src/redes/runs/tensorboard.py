"""TensorBoard logging: per-epoch scalars and histograms of every parameter's weights and last gradient.

Gradients are those of the epoch's last step (of the loss + L1/L2 penalty, before the optimizer's own
weight decay), as every engine keeps them until its next step: nothing is added to any step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from redes.errors import RedesError
from redes.loop.callbacks import Callback

if TYPE_CHECKING:
    from redes.loop.state import FitState

# the scalar tag of each key of an epoch's logs
TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "train_penalty": "penalty/train",
        "train_accuracy": "accuracy/train", "val_accuracy": "accuracy/val", "seconds": "seconds_per_epoch"}


class TensorBoardLogger(Callback):
    """Writes the epoch's scalars, learning rate and weight/gradient histograms to `log_dir`, step = epoch.

    A resumed run starts at the epoch it replays: TensorBoard drops what earlier attempts wrote from
    there on (`purge_step`), as metrics.csv is rewritten.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.summary_writer = require_tensorboard()
        self.writer = None

    def on_train_begin(self, state: "FitState") -> None:
        self.writer = self.summary_writer(str(self.log_dir), purge_step=state.epoch)

    def on_epoch_end(self, state: "FitState", logs: dict) -> None:
        epoch, writer = logs["epoch"], self.writer
        for key, tag in TAGS.items():
            if key in logs:
                writer.add_scalar(tag, logs[key], epoch)
        writer.add_scalar("learning_rate", state.engine.lr, epoch)
        grads = state.engine.gradients()  # those of the epoch's last step: evaluation leaves them alone
        for i, (name, p) in enumerate(state.engine.model.named_parameters()):
            writer.add_histogram(f"weights/{name}", p.detach(), epoch)
            if i < len(grads) and grads[i] is not None:
                writer.add_histogram(f"gradients/{name}", grads[i], epoch)
        writer.flush()

    def on_train_end(self, state: "FitState") -> None:
        if self.writer is not None:
            self.writer.close()


def require_tensorboard():
    """torch's SummaryWriter class, or a RedesError saying how to install TensorBoard (call it to fail early)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RedesError("log.tensorboard needs TensorBoard: pip install 'redes[tensorboard]'") from None
    return SummaryWriter
