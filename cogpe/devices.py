"""What a GPU class can do for the lab (chapter 7): peak tensor throughput, an assumed utilisation, and
the wall time of a FLOP count.

The peaks are the vendors' datasheet numbers for dense tensor-core math in the precision
:func:`cogpe.precision.choose_precision` picks on that GPU (facts, with sources):

=========  ==========  ==========================  ================================================
class      capability  peak (dense)                source
=========  ==========  ==========================  ================================================
``T4``     7.5         65 TFLOP/s fp16             NVIDIA T4 datasheet, "Mixed Precision (FP16/FP32)"
``L4``     8.9         121 TFLOP/s bf16            NVIDIA L4 datasheet: 242 with sparsity, halved
``A100``   8.0         312 TFLOP/s bf16            NVIDIA A100 datasheet, "BFLOAT16 Tensor Core"
``H100``   9.0         989 TFLOP/s bf16            NVIDIA H100 datasheet (SXM): 1,979 with sparsity,
                                                   halved; the H200 has the same tensor peak, the
                                                   H100 PCIe less (756)
=========  ==========  ==========================  ================================================

The utilisations are our assumptions, not measurements: a model of width 128–256 with a few hundred
to two thousand tokens per video issues small matrix products and many short kernels, so it sustains
a few percent of the peak — the larger the GPU, the smaller the share it can fill. They make the
estimates honest to within a factor of about two, until a stored GPU run replaces them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

__all__ = ["GPU_CLASSES", "GPUClass", "estimate_wall_time", "estimate_wall_times", "gpu_class"]


@dataclass(frozen=True)
class GPUClass:
    """One GPU class: its compute ``capability`` (major, minor), the ``precision`` a run uses there, the
    dense tensor ``peak`` in FLOP/s, the ``utilisation`` (0–1] assumed for the lab's tiny models and the
    ``source`` of the peak.

    >>> GPU_CLASSES["T4"].sustained / 1e12   # FLOP/s a lab run is assumed to sustain on a T4
    6.5
    """

    capability: tuple[int, int]
    precision: str
    peak: float
    utilisation: float
    source: str

    @property
    def sustained(self) -> float:
        """FLOP/s assumed sustained: ``peak · utilisation``."""
        return self.peak * self.utilisation


#: The GPU classes readers have (module docstring): Colab's free T4, and the L4, A100 and H100.
GPU_CLASSES = {
    "T4": GPUClass((7, 5), "fp16", 65e12, 0.10, "NVIDIA T4 Tensor Core GPU datasheet"),
    "L4": GPUClass((8, 9), "bf16", 121e12, 0.06, "NVIDIA L4 Tensor Core GPU datasheet (242 sparse)"),
    "A100": GPUClass((8, 0), "bf16", 312e12, 0.05, "NVIDIA A100 Tensor Core GPU datasheet"),
    "H100": GPUClass((9, 0), "bf16", 989e12, 0.03, "NVIDIA H100 Tensor Core GPU datasheet, SXM (1,979 sparse)"),
}


def gpu_class(device_name: str) -> str | None:
    """The :data:`GPU_CLASSES` key of a GPU named ``device_name`` (``torch.cuda.get_device_name()``,
    :func:`cogpe.runfiles.device_name`), or ``None`` for a GPU or CPU the table does not hold.

    >>> gpu_class("Tesla T4"), gpu_class("NVIDIA A100-SXM4-40GB"), gpu_class("NVIDIA H200"), gpu_class("x86_64")
    ('T4', 'A100', 'H100', None)
    """
    if not isinstance(device_name, str):
        raise TypeError(f"device_name must be a str such as 'Tesla T4', got {type(device_name).__name__}")
    for word in device_name.upper().replace("-", " ").split():  # "NVIDIA A100-SXM4-40GB" -> ..., "A100", ...
        if word in ("H100", "H200"):  # the H200: the H100's tensor cores, more memory
            return "H100"
        if word in GPU_CLASSES:
            return word
    return None


def estimate_wall_time(flops: float, device_class: str) -> float:
    """Seconds to compute ``flops`` FLOPs on a GPU of ``device_class`` (a :data:`GPU_CLASSES` key) at its
    assumed sustained throughput: ``flops / (peak · utilisation)``. ``flops`` is a FLOP count such as
    ``cogpe.lab.lab_flops(...)["total"]``; the result excludes start-up, compilation and file writes.

    >>> round(estimate_wall_time(13e15, "H100") / 60)   # the gpu preset's ~13 PFLOP, in minutes
    7
    """
    if isinstance(flops, bool) or not isinstance(flops, numbers.Real) or not 0 <= flops < math.inf:
        raise ValueError(f"flops must be a finite number >= 0, got {flops!r}")
    if device_class not in GPU_CLASSES:
        raise ValueError(f"device_class={device_class!r} is unknown; use one of {', '.join(GPU_CLASSES)}")
    return float(flops) / GPU_CLASSES[device_class].sustained


def estimate_wall_times(flops: float) -> dict[str, float]:
    """:func:`estimate_wall_time` of ``flops`` on every class of :data:`GPU_CLASSES`: ``{class: seconds}``.

    >>> {k: round(v / 60) for k, v in estimate_wall_times(13e15).items()}
    {'T4': 33, 'L4': 30, 'A100': 14, 'H100': 7}
    """
    return {name: estimate_wall_time(flops, name) for name in GPU_CLASSES}
