"""What redes is timed against, written here so every benchmark times the same thing.

- the notebook-001 data path: uint8 HWC images through a per-sample Dataset (ToTensor + Normalize,
  written in plain torch: torchvision is not a dependency) and a DataLoader with workers, then the
  notebook's loop (zero_grad, forward, loss, backward, step, `running_loss += loss.item()`);
- a minimal hand-written PyTorch loop over pre-cut batches (no bookkeeping at all);
- the matrix products alone of an MLP's forward and backward passes, on the same shapes.
Nothing here prints or writes; every function returns seconds.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from redes.devices import wait_for


def cifar_shaped(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` random CIFAR-shaped images, uint8 (n, 32, 32, 3) as in the archive, and labels in 0..9."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=generator)
    return images, torch.randint(0, 10, (n,), generator=generator)


def flat_inputs(images: torch.Tensor) -> torch.Tensor:
    """The whole set as `NotebookDataset` gives each sample (ToTensor + Normalize), flattened: (N, 3072) in
    [-1, 1], what redes trains on with the images held in one tensor."""
    return (images.permute(0, 3, 1, 2).reshape(len(images), -1).float() / 255 - 0.5) / 0.5


class NotebookDataset(Dataset):
    """torchvision's CIFAR10 with ToTensor() and Normalize((0.5,)*3, (0.5,)*3), one sample at a time."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images.numpy(), labels.numpy()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        x = torch.from_numpy(self.images[index]).permute(2, 0, 1).float().div(255)  # ToTensor: HWC -> CHW
        return (x - 0.5) / 0.5, int(self.labels[index])  # Normalize


def notebook_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128,
                    workers: int = 2, seed: int = 0) -> DataLoader:
    """The notebook's trainloader: shuffled batches of 128 from 2 worker processes."""
    return DataLoader(NotebookDataset(images, labels), batch_size=batch_size, shuffle=True,
                      num_workers=workers, generator=torch.Generator().manual_seed(seed),
                      persistent_workers=workers > 0)


def notebook_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
                   device: torch.device = torch.device("cpu")) -> float:
    """Seconds of one epoch of the notebook's training loop over `loader`, each batch moved to the model's
    `device` as the notebook moves it."""
    criterion = nn.CrossEntropyLoss()
    running_loss = 0.0
    start = time.perf_counter()
    for inputs, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(inputs.view(-1, 3072))
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return time.perf_counter() - start


def bare_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable,
               batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Seconds of a minimal hand-written loop over pre-cut batches: what any training loop must do."""
    start = time.perf_counter()
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
    return time.perf_counter() - start


def matmul_operands(widths: Sequence[int], batch: int, device: torch.device,
                    dtype: torch.dtype = torch.float32) -> list[tuple[torch.Tensor, ...]]:
    """Per layer: input (B, n_in), weight (n_out, n_in) and output gradient (B, n_out), random."""
    generator = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=generator).to(device, dtype)

    return [(rand(batch, n_in), rand(n_out, n_in), rand(batch, n_out)) for n_in, n_out in zip(widths, widths[1:])]


def matmul_steps(operands: list[tuple[torch.Tensor, ...]], steps: int) -> float:
    """Seconds of `steps` steps of the products autograd computes for an MLP: per layer x @ W.T forward,
    dy.T @ x (weight gradient) and dy @ W (input gradient, skipped for the first layer, as autograd does)."""
    device = operands[0][0].device
    start = time.perf_counter()
    for _ in range(steps):
        for i, (x, w, dy) in enumerate(operands):
            torch.mm(x, w.T)
            torch.mm(dy.T, x)
            if i > 0:
                torch.mm(dy, w)
    wait_for(device)
    return time.perf_counter() - start
