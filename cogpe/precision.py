"""How a run computes on its device (chapter 7): the autocast dtype, the gradient scaler, TF32.

One rule, applied by :func:`choose_precision` where a run starts (never at import):

==========  ===============================================  =========================================
``fp32``    the CPU (and any device that is not CUDA)        no autocast: results bit-identical to a
                                                             plain float32 run, resume exact
``bf16``    CUDA with fast bf16: compute capability 8.0+     bf16 autocast; bf16 has float32's range,
            and ``torch.cuda.is_bf16_supported()``           so gradients need no scaling
            (A100 8.0, L4 8.9, H100 9.0)
``fp16``    other CUDA GPUs (the T4, sm_75, emulates bf16)   fp16 autocast with a
                                                             :class:`torch.amp.GradScaler`: fp16's
                                                             range ends at 65504 and small gradients
                                                             underflow unless the loss is scaled
==========  ===============================================  =========================================

On CUDA, float32 matrix products may also use TF32 (:func:`tf32`); under autocast that touches only
what autocast keeps in float32. The model keeps its residual stream in float32 under either autocast
(:class:`cogpe.model.VideoDiT`), so only the layers' inputs are rounded, never the running sum.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch

__all__ = ["PRECISIONS", "Precision", "choose_precision", "fast_bf16", "tf32"]

#: The precisions a run can compute in, with the autocast dtype of each (``None``: no autocast).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """A run's arithmetic: ``name`` in :data:`PRECISIONS` on ``device_type`` (``"cpu"``, ``"cuda"``), and
    whether float32 matrix products may use TF32 (``tf32``, CUDA only). Shapes are never changed.

    >>> p = Precision("fp16", "cuda", tf32=True)
    >>> p.dtype, p.scales_loss
    (torch.float16, True)
    """

    name: str
    device_type: str = "cpu"
    tf32: bool = False

    def __post_init__(self):
        if self.name not in PRECISIONS:
            raise ValueError(f"precision name={self.name!r} is unknown; use one of {', '.join(PRECISIONS)}")
        if not isinstance(self.device_type, str) or not self.device_type:
            raise TypeError(f"device_type must be a device type such as 'cpu' or 'cuda', got {self.device_type!r}")
        if self.tf32 and self.device_type != "cuda":
            raise ValueError(f"tf32=True needs device_type='cuda', got {self.device_type!r}; TF32 is a CUDA mode")

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, or ``None`` for float32 throughout."""
        return PRECISIONS[self.name]

    @property
    def scales_loss(self) -> bool:
        """Whether the backward pass runs through a :class:`torch.amp.GradScaler` (fp16 only)."""
        return self.name == "fp16"

    def autocast(self) -> torch.autocast:
        """The autocast context of this precision; for ``fp32`` one that turns autocast off (a caller's
        outer autocast included), so float32 results stay bit-exact."""
        if self.dtype is None:
            return torch.autocast(self.device_type if self.device_type == "cuda" else "cpu", enabled=False)
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A :class:`torch.amp.GradScaler` for ``device_type``, enabled only where :attr:`scales_loss`."""
        return torch.amp.GradScaler(self.device_type, enabled=self.scales_loss)

    def to_dict(self) -> dict:
        """``{"precision": name, "tf32": tf32}``: what a run's provenance records."""
        return {"precision": self.name, "tf32": self.tf32}


def fast_bf16(device) -> bool:
    """Whether ``device`` computes in bf16 at full speed: a CUDA device of compute capability 8.0 or newer
    that ``torch.cuda.is_bf16_supported()`` accepts (the T4, 7.5, only emulates it).

    >>> fast_bf16("cpu")
    False
    """
    device = torch.device(device)
    if device.type != "cuda":
        return False
    return torch.cuda.get_device_capability(device)[0] >= 8 and bool(torch.cuda.is_bf16_supported())


def choose_precision(device) -> Precision:
    """The precision a run uses on ``device`` (module docstring): ``fp32`` off CUDA, ``bf16`` where bf16 is
    fast (:func:`fast_bf16`), else ``fp16`` with a gradient scaler; TF32 on every CUDA device.

    >>> choose_precision("cpu")
    Precision(name='fp32', device_type='cpu', tf32=False)
    """
    device = torch.device(device)
    if device.type != "cuda":
        return Precision("fp32", device.type)
    return Precision("bf16" if fast_bf16(device) else "fp16", "cuda", tf32=True)


@contextlib.contextmanager
def tf32(precision: Precision) -> Iterator[None]:
    """Within the block, float32 matrix products and convolutions on CUDA may use TF32 when
    ``precision.tf32`` (``torch.backends.cuda.matmul.allow_tf32``, ``torch.backends.cudnn.allow_tf32``,
    ``torch.set_float32_matmul_precision("high")``); the previous settings come back on exit. Nothing
    changes when ``precision.tf32`` is false (the CPU: its float32 stays exact).

    >>> with tf32(Precision("fp32")):
    ...     torch.get_float32_matmul_precision() == "highest"
    True
    """
    if not isinstance(precision, Precision):
        raise TypeError(f"precision must be a Precision (choose_precision(device)), got {type(precision).__name__}")
    if not precision.tf32:
        yield
        return
    before = (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
              torch.backends.cudnn.allow_tf32)
    torch.set_float32_matmul_precision("high")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cuda.matmul.allow_tf32 = before[1]
        torch.backends.cudnn.allow_tf32 = before[2]
