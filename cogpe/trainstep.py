"""One training step of :mod:`cogpe.train` on the device, and reading its numbers back (chapter 7).

A GPU runs ahead of the Python that feeds it only while nothing asks for a result: ``.item()``,
``float(t)``, ``if t:`` and a copy from ordinary (pageable) host memory each make the host wait until
every queued kernel has finished. So a step here asks for nothing:

- videos are rendered on the device (:func:`device_videos`); the scene parameters, the noise and the
  levels — drawn on the CPU (:mod:`cogpe.train` draws them), where their keyed generators make them
  reproducible — travel through pinned memory without waiting (:func:`to_device`);
- :func:`train_step` returns the loss and the gradient norm as device tensors;
- :class:`PendingMetrics` holds the metric rows whose numbers are still on the device and fills them in
  at a read-back point — every few steps, before an evaluation or a checkpoint, at a stage's end — with
  one transfer for all of them. That is also where a non-finite loss stops the run, before any
  checkpoint could store what it did to the model.

On the CPU the numbers are the same as reading each back at once (a float32 converts to a Python float
exactly); only when they are read changes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import torch
import torch.nn.functional as F

from .data import Scene, VideoDataset, render
from .objective import corrupt
from .precision import Precision
from .trainconfig import TrainConfig

__all__ = ["PendingMetrics", "device_videos", "load_optimizer_state", "to_device", "train_step"]


def to_device(x: torch.Tensor, device) -> torch.Tensor:
    """``x`` (any shape) on ``device``; a CPU tensor bound for CUDA goes through pinned memory with
    ``non_blocking=True``, so the host does not wait for the copy (nor for the kernels queued before it).

    >>> to_device(torch.ones(2), "cpu")
    tensor([1., 1.])
    """
    device = torch.device(device)
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def device_videos(dataset: VideoDataset, indices: Sequence[int], device) -> torch.Tensor:
    """Videos ``indices`` of ``dataset`` rendered on ``device``: ``(B, C, T, H, W)`` float32, equal to
    ``dataset.batch(indices, device=device)``; on CUDA the scene parameters (a few numbers per object)
    travel through :func:`to_device`.

    >>> from cogpe.data import DataConfig
    >>> ds = VideoDataset(DataConfig(), frames=2, height=8, width=8, length=4)
    >>> torch.equal(device_videos(ds, [0, 3], "cpu"), ds.batch([0, 3]))
    True
    """
    device = torch.device(device)
    scene = dataset.scenes(list(indices))
    if device.type == "cuda":
        scene = Scene(**{f.name: to_device(getattr(scene, f.name), device) for f in dataclasses.fields(scene)})
    return render(scene, dataset.frames, dataset.height, dataset.width, frame_step=dataset.frame_step,
                  channels=dataset.config.channels, device=device)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               precision: Precision, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, config: TrainConfig,
               world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One AdamW step under ``precision`` on clean videos ``x0 (b, C, T, H, W)`` (this process's slice of
    the global batch, on the model's device), their noise ``(b, C, T, H, W)`` and levels ``t (b,)`` (on
    the CPU, where they are drawn; moved by :func:`to_device`). Returns ``(loss, grad_norm)``, two 0-dim
    float32 tensors left on the device: the mean loss over the global batch (all-reduced when
    ``world > 1``) and the gradient norm before clipping.

    Under fp16 the loss is scaled by ``scaler`` and the gradients unscaled before they are clipped; a
    step whose gradients overflow is skipped on the device (``optimizer`` is fused AdamW there, which
    takes the overflow flag as a tensor), and its gradient norm is not finite.
    """
    t = to_device(t, x0.device)  # (b,)
    x_t, target = corrupt(x0, to_device(noise, x0.device), t, config.objective)
    with precision.autocast():
        pred = model(x_t, t)
    loss = F.mse_loss(pred.float(), target)
    optimizer.zero_grad(set_to_none=True)
    scaled = scaler.is_enabled()
    if scaled:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip and measure the true gradients
    else:
        loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if config.grad_clip:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    else:
        grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
    if scaled:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    value = loss.detach()
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(value)
        value = value / world
    return value, grad_norm.detach()


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict(state)``, keeping ``optimizer``'s own kernel choice (``foreach``,
    ``fused``) and placing AdamW's step counters where that kernel wants them (on the parameters' device
    for the fused kernel, on the CPU otherwise), so a run may resume under another precision."""
    kernels = [{k: g.get(k) for k in ("foreach", "fused", "capturable")} for g in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, kernel in zip(optimizer.param_groups, kernels):
        group.update(kernel)
        on_device = bool(kernel["fused"] or kernel["capturable"])
        for p in group["params"]:
            step = optimizer.state.get(p, {}).get("step")
            if isinstance(step, torch.Tensor):
                where = p.device if on_device else torch.device("cpu")
                optimizer.state[p]["step"] = step.to(device=where, dtype=torch.float32)


class PendingMetrics:
    """Training rows (dicts with ``"loss"`` and ``"grad_norm"`` keys) whose two numbers are still 0-dim
    device tensors; :meth:`read_back` turns them into floats with one transfer.

    ``scaled``: the run uses a gradient scaler, whose skipped steps have a non-finite gradient norm (the
    row gets ``grad_norm=None`` and ``skipped=True``); without one, a non-finite gradient norm stops the
    run like a non-finite loss.
    """

    def __init__(self, scaled: bool = False):
        self.scaled = scaled
        self.rows: list[dict] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: dict) -> None:
        """Hold ``row`` until the next :meth:`read_back`; its ``loss`` and ``grad_norm`` are tensors ``()``."""
        self.rows.append(row)

    def read_back(self) -> dict | None:
        """Fill in every pending row (floats); return the last one, ``None`` if none was pending.

        Raises ``FloatingPointError`` at the first row with a non-finite loss (or gradient norm, without a
        scaler), naming its step: the model is damaged, and the caller writes no checkpoint of it.
        """
        if not self.rows:
            return None
        rows, self.rows = self.rows, []
        values = torch.stack([torch.stack((r["loss"], r["grad_norm"].to(r["loss"].dtype))) for r in rows])
        for row, (loss, grad_norm) in zip(rows, values.cpu().tolist()):  # (k, 2): one transfer
            row["loss"], row["grad_norm"] = loss, grad_norm
            if not math.isfinite(loss) or not (math.isfinite(grad_norm) or self.scaled):
                raise FloatingPointError(
                    f"training diverged at step {row['step']} (stage {row['stage']}, {row['frames']}x"
                    f"{row['height']}x{row['width']}, lr {row['lr']:g}): loss {loss}, gradient norm {grad_norm}. "
                    "No checkpoint holds that state; any ckpt.pt in out_dir is from before it. Lower the "
                    "stage's lr or lengthen its warmup, then start again in a new out_dir (or branch from an "
                    "earlier checkpoint with init_from=)."
                )
            if not math.isfinite(grad_norm):
                row["grad_norm"], row["skipped"] = None, True  # the scaler skipped this step
        return rows[-1]
