"""The GPU path, tested on the CPU: which arithmetic each GPU class gets (mocked capability queries), TF32
only inside a run, the wall-time estimates per GPU class, and a training step's device-side helpers."""

from __future__ import annotations

import math

import pytest
import torch

from cogpe.data import DataConfig, VideoDataset
from cogpe.devices import GPU_CLASSES, estimate_wall_time, estimate_wall_times, gpu_class
from cogpe.precision import PRECISIONS, Precision, choose_precision, fast_bf16, tf32
from cogpe.trainstep import PendingMetrics, device_videos, load_optimizer_state, to_device


def _gpu(monkeypatch, capability, bf16_supported=True):
    """Make ``torch.cuda`` answer as a GPU of ``capability`` would (nothing runs on it)."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16_supported)


# --- the choice per device ------------------------------------------------------------------------------------


def test_the_cpu_computes_in_float32_without_tf32():
    p = choose_precision("cpu")
    assert p == Precision("fp32", "cpu", tf32=False) and p.dtype is None and not p.scales_loss
    assert not p.grad_scaler().is_enabled()
    with p.autocast():
        assert not torch.is_autocast_enabled("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16), p.autocast():  # an outer autocast is turned off too
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize("name, cls", sorted(GPU_CLASSES.items()))
def test_each_gpu_class_gets_the_precision_its_tensor_cores_are_fast_at(monkeypatch, name, cls):
    """T4 (7.5): fp16 with a gradient scaler — torch reports bf16 "supported" there, by emulation; the
    L4, A100 and H100 (8.0+): bf16, no scaler. TF32 on every one."""
    _gpu(monkeypatch, cls.capability, bf16_supported=True)
    p = choose_precision("cuda")
    assert (p.name, p.device_type, p.tf32) == (cls.precision, "cuda", True)
    assert p.scales_loss is (name == "T4") and fast_bf16("cuda") is (name != "T4")


def test_a_gpu_torch_denies_bf16_gets_fp16(monkeypatch):
    _gpu(monkeypatch, (8, 0), bf16_supported=False)
    assert choose_precision(torch.device("cuda", 0)).name == "fp16"


def test_autocast_and_scaler_follow_the_precision():
    for name, dtype in PRECISIONS.items():
        p = Precision(name, "cpu")
        assert p.dtype is dtype and p.grad_scaler().is_enabled() is (name == "fp16")
        with p.autocast():
            assert torch.is_autocast_enabled("cpu") is (dtype is not None)
            if dtype is not None:
                assert torch.get_autocast_dtype("cpu") == dtype
    assert Precision("bf16", "cuda", tf32=True).to_dict() == {"precision": "bf16", "tf32": True}


@pytest.mark.parametrize("kwargs, error, match", [
    ({"name": "fp8"}, ValueError, "precision name='fp8' is unknown; use one of fp32, bf16, fp16"),
    ({"name": "fp32", "device_type": ""}, TypeError, "device_type must be a device type"),
    ({"name": "bf16", "device_type": "cpu", "tf32": True}, ValueError, "tf32=True needs device_type='cuda'"),
])
def test_bad_precision(kwargs, error, match):
    with pytest.raises(error, match=match):
        Precision(**kwargs)


def test_tf32_is_on_only_inside_the_run_and_only_on_cuda():
    before = (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
              torch.backends.cudnn.allow_tf32)
    with tf32(Precision("fp32", "cpu")):  # the CPU: untouched
        assert (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32) == before[:2]
    with tf32(Precision("bf16", "cuda", tf32=True)):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "high"
    assert (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32) == before
    with pytest.raises(TypeError, match="precision must be a Precision"):
        with tf32("bf16"):
            pass


# --- wall time per GPU class --------------------------------------------------------------------------------


def test_the_table_holds_the_datasheet_peaks():
    peaks = {k: v.peak / 1e12 for k, v in GPU_CLASSES.items()}
    assert peaks == {"T4": 65, "L4": 121, "A100": 312, "H100": 989}
    assert all(0 < c.utilisation <= 0.1 for c in GPU_CLASSES.values())  # a tiny model: a few percent


def test_wall_time_is_flops_over_sustained_throughput():
    for name, cls in GPU_CLASSES.items():
        assert estimate_wall_time(3e15, name) == pytest.approx(3e15 / (cls.peak * cls.utilisation))
        assert estimate_wall_time(0, name) == 0.0
    times = estimate_wall_times(13e15)
    assert list(times) == list(GPU_CLASSES) and times["H100"] < times["A100"] < times["L4"] < times["T4"]
    assert 5 * 60 < times["H100"] < 10 * 60  # the gpu preset's "about 8 minutes" on an H100


@pytest.mark.parametrize("flops, cls, match", [
    (-1.0, "T4", "flops must be a finite number >= 0, got -1.0"),
    (math.inf, "T4", "flops must be a finite number >= 0"),
    (True, "T4", "flops must be a finite number"),
    (1e12, "V100", "device_class='V100' is unknown; use one of T4, L4, A100, H100"),
])
def test_bad_wall_time_input(flops, cls, match):
    with pytest.raises(ValueError, match=match):
        estimate_wall_time(flops, cls)


@pytest.mark.parametrize("device_name, cls", [
    ("Tesla T4", "T4"), ("NVIDIA L4", "L4"), ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA A100 80GB PCIe", "A100"),
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA H200", "H100"), ("Tesla V100-SXM2-16GB", None),
    ("AMD EPYC 7B12", None), ("NVIDIA L40S", None),
])
def test_gpu_class_of_a_device_name(device_name, cls):
    assert gpu_class(device_name) == cls


# --- a step's helpers -------------------------------------------------------------------------------------------


def test_videos_rendered_on_the_device_equal_the_dataset_batch():
    ds = VideoDataset(DataConfig(max_objects=3), frames=3, height=8, width=12, length=10, split="train", seed=4)
    assert torch.equal(device_videos(ds, [0, 7, 2], "cpu"), ds.batch([0, 7, 2], device="cpu"))
    x = torch.arange(6.0).reshape(2, 3)
    assert to_device(x, "cpu") is x


def _row(step, loss, grad_norm):
    return {"step": step, "stage": 1, "frames": 4, "height": 8, "width": 8, "lr": 1e-3,
            "loss": torch.tensor(loss), "grad_norm": torch.tensor(grad_norm)}


def test_pending_rows_are_filled_with_the_floats_item_would_give():
    pending = PendingMetrics()
    rows = [_row(i, 0.1 * i + 1 / 3, 2.0 / (i + 1)) for i in range(5)]
    expected = [(r["loss"].item(), r["grad_norm"].item()) for r in rows]
    for r in rows:
        pending.add(r)
    assert len(pending) == 5 and pending.read_back() is rows[-1] and len(pending) == 0
    assert [(r["loss"], r["grad_norm"]) for r in rows] == expected
    assert pending.read_back() is None


def test_a_non_finite_loss_or_unscaled_gradient_stops_the_run():
    for loss, grad_norm in ((math.nan, 1.0), (math.inf, 1.0), (0.5, math.nan)):
        pending = PendingMetrics()
        pending.add(_row(3, 0.5, 1.0))
        pending.add(_row(4, loss, grad_norm))
        with pytest.raises(FloatingPointError, match="training diverged at step 4 .*lr 0.001.*new out_dir"):
            pending.read_back()
    scaled = PendingMetrics(scaled=True)  # fp16: an overflowing gradient is a skipped step, not an error
    row = _row(4, 0.5, math.inf)
    scaled.add(row)
    scaled.read_back()
    assert row["grad_norm"] is None and row["skipped"] is True
    scaled.add(_row(5, math.nan, 1.0))
    with pytest.raises(FloatingPointError, match="step 5"):
        scaled.read_back()


def test_optimizer_state_moves_between_the_fused_and_foreach_kernels():
    p = torch.nn.Parameter(torch.ones(3))
    fused = torch.optim.AdamW([p], lr=0.1, fused=True)
    p.grad = torch.full((3,), 0.5)
    fused.step()
    plain = torch.optim.AdamW([q := torch.nn.Parameter(torch.ones(3))], lr=0.1)
    load_optimizer_state(plain, fused.state_dict())
    assert not plain.param_groups[0]["fused"] and plain.state[q]["step"].device.type == "cpu"
    q.grad = torch.full((3,), 0.5)
    plain.step()
    back = torch.optim.AdamW([r := torch.nn.Parameter(torch.ones(3))], lr=0.1, fused=True)
    load_optimizer_state(back, plain.state_dict())
    assert back.param_groups[0]["fused"] and float(back.state[r]["step"]) == 2.0
