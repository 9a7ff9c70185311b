"""Progressive training of :class:`cogpe.model.VideoDiT` on :mod:`cogpe.data` videos (chapter 7).

CogVideoX trains at a low resolution first and then at a high one; this module does the same at toy
scale. :func:`train` runs the stages of a :class:`cogpe.trainconfig.TrainConfig` — (frames, height,
width, steps, batch, lr) each — one after the other with the same model and AdamW state; only the token
grid (and with it what the position encoding sees) changes at a stage boundary. The loss is
:mod:`cogpe.objective`'s (flow matching or v-prediction, ``t ~ U(0, 1)``); the files a run writes are
:mod:`cogpe.runfiles`'.

Determinism: nothing draws from a global random stream. Training video ``i`` (counting every video the
run has consumed) is scene ``i`` of the ``"train"`` split under ``seed``, and its noise and level come
from the ``"train"`` stream of :func:`cogpe.objective.noise_and_levels` keyed on ``(seed, i)``; the model
is initialised from ``seed``. Hence

- ``resume`` from a checkpoint continues bit for bit on CPU (model, AdamW moments, the fp16 gradient
  scaler, counters and the metrics so far are all in the checkpoint);
- under ``torchrun --nproc_per_node=N`` each process takes its ``batch/N`` slice of the same global
  batch; DDP averages gradients, so the updates equal single-process training with that batch (up to
  float summation order).

On a GPU the host does not wait for the device at each step: the losses and gradient norms stay
there and are read back every :data:`READBACK_EVERY` steps and before each evaluation or checkpoint
(:mod:`cogpe.trainstep`); the arithmetic per device is :mod:`cogpe.precision`'s.

Files in ``out_dir`` (written by rank 0, each atomically: :func:`cogpe.runfiles.atomic_write`):

- ``ckpt.pt`` — the latest state, every ``ckpt_every`` steps and at every stage boundary; at the end,
  the final state;
- ``stage{k}.pt`` — the state right after stage ``k`` (1-based, every stage but the last) finished: a
  branching point;
- ``metrics.jsonl`` and ``metrics.csv`` — one row per training step (``kind="train"``) and per
  evaluation (``kind="eval"``, one per probe), rewritten at every checkpoint;
- ``run.json`` — at the end: ``provenance`` (:func:`cogpe.runfiles.provenance` with the strategy, seed,
  world size, steps, training seconds, ``precision`` and ``tf32``) and ``config``.

Branching (what ``cogpe.lab`` does to share stage 1 between strategies of one family):
``train(config_b, out_b, init_from="out_a/stage1.pt")`` continues run ``a``'s state after stage 1
under ``config_b``, whose strategy may differ within :data:`cogpe.model.FAMILIES` (same parameters).
The result equals running ``config_b`` from scratch, since strategies of one family compute the same
function at the base grid. The branch evaluates zero-shot (its stage-2 probes at stage step 0) under its
own strategy; rows copied from the source run keep the source's ``strategy``.

Command line::

    python -m cogpe.train --preset quick --strategy rope-ntk --seed 0 --out runs/x
    torchrun --nproc_per_node=2 -m cogpe.train --preset quick --strategy rope-ntk --out runs/x
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, cast

import torch

from .data import VideoDataset
from .model import VideoDiT
from .strategy import MODEL_STRATEGIES, parse_model_strategy
from .objective import evaluate, noise_and_levels, shift_levels
from .precision import Precision, choose_precision, tf32
from .runfiles import (
    load_checkpoint,
    provenance,
    resolve_device,
    save_checkpoint,
    write_json,
    write_metrics,
)
from .trainconfig import TRAIN_PRESETS, Probe, Stage, TrainConfig, parse_stages, train_preset
from .trainstep import PendingMetrics, device_videos, load_optimizer_state, train_step

__all__ = ["READBACK_EVERY", "load_model", "main", "make_optimizer", "train"]

#: Training steps between two read-backs of the losses and gradient norms (:mod:`cogpe.trainstep`); also
#: at every evaluation, checkpoint and stage end. Between them the host never waits for the GPU.
READBACK_EVERY = 25


# --- checkpoints: loading a model, resuming, branching -------------------------------------------------


def load_model(path, *, strategy: str | None = None, device=None) -> VideoDiT:
    """The model of a checkpoint, in eval mode on ``device``; ``strategy`` may switch within the family
    (e.g. ``load_model("runs/x/stage1.pt", strategy="rope-yarn")`` to look at a stage-1 model under YaRN)."""
    ckpt = load_checkpoint(path)
    config = TrainConfig.from_dict(ckpt["config"])
    if strategy is not None:
        _check_same_family(config.strategy, strategy, path)
        config = config.with_strategy(strategy)
    model = VideoDiT(config.model_config())
    model.load_state_dict(ckpt["model"])
    return model.to(resolve_device(device)).eval()


def _check_same_family(old: str, new: str, path) -> None:
    (old_family, _), (new_family, _) = parse_model_strategy(old), parse_model_strategy(new)
    if old_family != new_family:
        raise ValueError(
            f"{path} was trained with {old!r} ({old_family} family) and cannot continue as {new!r} "
            f"({new_family} family): their parameters differ. Branch within a family "
            "(cogpe.model.FAMILIES)."
        )


def _check_compatible(saved: TrainConfig, config: TrainConfig, ckpt: dict, path, *, branch: bool) -> None:
    """Resume: the same config. Branch: same everything up to the checkpoint, strategy within the family."""
    if not branch:
        if saved != config:
            diff = [f.name for f in dataclasses.fields(TrainConfig) if getattr(saved, f.name) != getattr(config, f.name)]
            raise ValueError(
                f"{path} was written by a different config (differs in: {', '.join(diff)}); resume with the "
                "same config, or start a new out_dir (init_from= branches from another run's checkpoint)"
            )
        return
    _check_same_family(saved.strategy, config.strategy, path)
    if dataclasses.replace(saved.model, strategy=config.strategy) != config.model:
        raise ValueError(f"{path}: the model config differs beyond the strategy; branching needs the same model")
    if saved.model_config().base_grid != config.model_config().base_grid:
        raise ValueError(f"{path}: base grids differ ({saved.model_config().base_grid} vs {config.model_config().base_grid})")
    done = ckpt["stage"] + (1 if ckpt["stage_step"] else 0)
    if saved.stages[:done] != config.stages[:done]:
        raise ValueError(
            f"{path} is after stage {done}; the first {done} stage(s) of the new config must equal the checkpoint's"
        )
    shifts = [(saved.level_shift(st.resolution), config.level_shift(st.resolution)) for st in saved.stages[:done]]
    if saved.data != config.data or saved.objective != config.objective or any(a != b for a, b in shifts):
        raise ValueError(f"{path}: data config, objective or the trained stages' noise shift differs; a branch must "
                         "train on the same task")
    if ckpt["stage"] >= len(config.stages):
        raise ValueError(f"{path} is at the end of stage {ckpt['stage']}; the new config has only {len(config.stages)} stage(s)")


# --- distribution ---------------------------------------------------------------------------------------


def _distributed_env() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _setup_distributed(device):
    """Initialise torch.distributed if launched by torchrun (WORLD_SIZE > 1); returns (rank, world, device, owned)."""
    import torch.distributed as dist

    if not _distributed_env():
        return 0, 1, resolve_device(device), False
    owned = False
    device = resolve_device(device)
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owned = True
    return dist.get_rank(), dist.get_world_size(), device, owned


# --- the training loop -----------------------------------------------------------------------------------


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and not name.startswith("pos.") else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional (the viz extra)
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)


@dataclass
class _RunState:
    """How far a run has come: saved in every checkpoint, restored on resume and when branching."""

    step: int = 0  # training steps so far, every stage
    stage: int = 0  # 0-based index of the stage running (at the end: the number of stages)
    stage_step: int = 0  # steps done in that stage
    samples: int = 0  # training videos consumed: the index of the next step's first video
    elapsed: float = 0.0  # training seconds, over every invocation
    metrics: list[dict] = field(default_factory=list)  # every row so far (train and eval)

    def to_checkpoint(self) -> dict:
        return {"step": self.step, "stage": self.stage, "stage_step": self.stage_step, "samples": self.samples,
                "elapsed": self.elapsed, "metrics": self.metrics}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> "_RunState":
        return cls(ckpt["step"], ckpt["stage"], ckpt["stage_step"], ckpt["samples"], ckpt["elapsed"],
                   list(ckpt["metrics"]))


@dataclass
class _Run:
    """A run in progress: its config, the model (and its DDP wrapper), the optimizer, where it writes."""

    config: TrainConfig
    model: VideoDiT
    ddp_model: torch.nn.Module  # what the training step calls: ``model`` itself, or under DDP / torch.compile
    optimizer: torch.optim.Optimizer
    out: Path
    device: torch.device
    rank: int
    world: int
    precision: Precision
    scaler: torch.amp.GradScaler  # enabled under fp16 only
    state: _RunState
    pending: PendingMetrics  # training rows whose loss and grad norm are still on the device
    start: float = 0.0  # perf_counter() when ``state.elapsed`` was 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def tokens(self, resolution) -> int:
        return math.prod(self.model.config.token_grid(*resolution))


def train(
    config: TrainConfig,
    out_dir,
    *,
    resume: bool = False,
    init_from=None,
    device="auto",
    progress: bool = True,
) -> list[dict]:
    """Run ``config``'s stages, writing checkpoints and metrics to ``out_dir``; return the metric rows.

    ``resume=True`` continues from ``out_dir/ckpt.pt`` when it exists (the same config is required);
    otherwise the run starts — fresh, or from ``init_from``. ``init_from`` starts from another run's
    checkpoint — typically ``stage1.pt`` — under this config, whose strategy may differ within the
    family (module docstring, "Branching"); ``resume=True, init_from=...`` is therefore "branch, or
    continue the branch if it was interrupted". Without ``resume``, ``out_dir`` must not hold a
    checkpoint yet.
    ``device``: ``"auto"`` (CUDA if available, else CPU), ``"cpu"`` or ``"cuda"``; the arithmetic is
    :func:`cogpe.precision.choose_precision`'s (float32 on the CPU, bf16 or fp16 with a gradient scaler on
    CUDA, TF32 on), recorded in ``run.json``. A non-finite loss raises ``FloatingPointError`` at the next
    read-back (:data:`READBACK_EVERY`), before any checkpoint of the diverged model is written.
    ``progress``: a ``tqdm.auto`` bar (imported here, if installed) with the stage and the latest loss.
    Under ``torchrun`` (``WORLD_SIZE > 1``) the process group is initialised here (gloo on CPU, nccl on
    CUDA) and each process trains on its slice of every global batch; only rank 0 writes files.

    Rows (dicts): ``kind="train"``: ``step`` (1-based, global), ``stage`` (1-based), ``stage_step``,
    ``strategy``, ``frames``, ``height``, ``width``, ``tokens``, ``batch``, ``lr``, ``loss`` (mean over
    the global batch), ``grad_norm`` (``None``, with ``skipped=True``, for a step the fp16 gradient scaler
    skipped), ``samples``, ``time`` (training seconds so far; on a GPU, when the step was queued);
    ``kind="eval"``: ``step``, ``stage``, ``stage_step``, ``strategy``, ``probe``, ``frames``, ``height``,
    ``width``, ``tokens``, ``loss``, ``time``.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    out = Path(out_dir)
    rank, world, device, owned = _setup_distributed(device)
    try:
        metrics = _train(config, out, resume, init_from, device, progress, rank, world)
        if world > 1:
            import torch.distributed as dist

            dist.barrier()  # rank 0 has written every file
        return metrics
    finally:
        if owned:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(config, out, resume, init_from, device, progress, rank, world) -> list[dict]:
    _check_batches(config, world)
    precision = choose_precision(device)
    model, optimizer = _build(config, device, fused=precision.scales_loss)
    scaler = precision.grad_scaler()
    state = _restore(config, out, resume, init_from, model, optimizer, scaler)
    step_model = _distribute(model, device, world)
    if config.compile:
        step_model = cast(torch.nn.Module, torch.compile(step_model))
    run = _Run(config, model, step_model, optimizer, out, device, rank, world, precision, scaler, state,
               PendingMetrics(scaled=precision.scales_loss))
    if run.is_main:
        out.mkdir(parents=True, exist_ok=True)
    bar = _progress(sum(s.steps for s in config.stages), state.step, progress and run.is_main)
    run.start = time.perf_counter() - state.elapsed
    try:
        with tf32(precision):
            while state.stage < len(config.stages):
                _run_stage(run, bar)
    finally:
        if bar is not None:
            bar.close()
    if run.is_main:
        _write_run_info(run)
    return list(state.metrics)


def _check_batches(config: TrainConfig, world: int) -> None:
    for i, stage in enumerate(config.stages):
        if stage.batch % world:
            raise ValueError(
                f"stages[{i}].batch={stage.batch} is not divisible by the {world} processes; "
                f"use a multiple of {world}"
            )


def _build(config: TrainConfig, device, *, fused: bool) -> tuple[VideoDiT, torch.optim.Optimizer]:
    """The model, initialised from ``config.seed`` (the global random state is left alone), and its AdamW."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = VideoDiT(config.model_config())
    model.to(device)
    return model, make_optimizer(model, config, fused=fused)


def make_optimizer(model: torch.nn.Module, config: TrainConfig, *, fused: bool = False) -> torch.optim.AdamW:
    """The AdamW that :func:`train` steps ``model`` with: ``config``'s betas and weight decay (not on biases,
    norms or the position table) and the first stage's learning rate.

    By default PyTorch's per-tensor ``foreach`` kernel, not the fused one: fused AdamW is about 5 % faster
    per step here but rounds differently, and over hundreds of steps that moves the stored lab results
    by more than a seed's spread. ``fused=True`` is for fp16 runs (:mod:`cogpe.precision`): the fused kernel
    takes the gradient scaler's overflow flag as a tensor, so a skipped step costs no wait for the GPU."""
    return torch.optim.AdamW(
        _param_groups(model, config.weight_decay), lr=config.stages[0].lr, betas=config.betas,
        **({"fused": True} if fused else {}),
    )


def _restore(config: TrainConfig, out: Path, resume: bool, init_from, model, optimizer, scaler) -> _RunState:
    """Load the state to continue from into ``model``, ``optimizer`` and ``scaler``: ``out/ckpt.pt`` when
    resuming, else ``init_from`` when branching; a fresh state when there is neither. A run may continue
    under another precision (a T4's fp16 run on an A100): the scaler's state is used where one runs."""
    ckpt_path = out / "ckpt.pt"
    if ckpt_path.exists():
        if not resume:
            raise FileExistsError(
                f"{ckpt_path} exists; pass resume=True (--resume) to continue that run, or use a new out_dir"
            )
        source, branch = ckpt_path, False
    elif init_from is not None:
        source, branch = Path(init_from), True
    else:
        return _RunState()
    ckpt = load_checkpoint(source)
    _check_compatible(TrainConfig.from_dict(ckpt["config"]), config, ckpt, source, branch=branch)
    model.load_state_dict(ckpt["model"])
    load_optimizer_state(optimizer, ckpt["optimizer"])
    if scaler.is_enabled() and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    return _RunState.from_checkpoint(ckpt)


def _distribute(model: VideoDiT, device: torch.device, world: int) -> torch.nn.Module:
    if world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)


def _run_stage(run: _Run, bar) -> None:
    """The rest of the current stage with its evaluations and checkpoints; then the checkpoint at its end."""
    config, state = run.config, run.state
    index = state.stage
    stage = config.stages[index]
    last = index == len(config.stages) - 1
    dataset = VideoDataset(config.data, *stage.resolution, length=2**62, split="train", seed=config.seed)
    if state.stage_step == 0 and index > 0:
        _evaluate_probes(run, 0)  # zero-shot: the new grid, before any step on it
    if bar is not None:
        bar.set_postfix(stage=index + 1, refresh=False)  # the loss joins at the first read-back
    while state.stage_step < stage.steps:
        _step(run, stage, dataset)
        s = state.stage_step
        evaluates = _evaluates_after(stage, s, last)
        saves = s < stage.steps and config.ckpt_every and state.step % config.ckpt_every == 0
        if bar is not None:
            bar.update(1)
        if evaluates or saves or s == stage.steps or state.step % READBACK_EVERY == 0:
            _read_back(run, bar)  # the only point where the host waits for the GPU's training numbers
        if evaluates:
            _evaluate_probes(run, s)
        if saves:
            _checkpoint(run, "ckpt.pt")
    state.stage += 1
    state.stage_step = 0
    _checkpoint(run, *([] if last else [f"stage{index + 1}.pt"]), "ckpt.pt")


def _evaluates_after(stage: Stage, stage_step: int, last: bool) -> bool:
    """Whether the probes run after step ``stage_step`` of ``stage``: every ``eval_every`` steps, and at the
    end of the last stage. The end of an earlier stage is measured by the next stage's zero-shot
    evaluation (same parameters), under the strategy that continues from it."""
    if stage_step == stage.steps:
        return last
    return bool(stage.eval_every) and stage_step % stage.eval_every == 0


def _read_back(run: _Run, bar) -> None:
    """Every pending row's loss and gradient norm as floats (a non-finite loss stops the run here); the
    progress bar shows the stage and the latest loss."""
    row = run.pending.read_back()
    if bar is not None and row is not None:
        bar.set_postfix(stage=row["stage"], loss=f"{row['loss']:.4f}", refresh=False)


def _step(run: _Run, stage: Stage, dataset: VideoDataset) -> None:
    """One step of ``stage`` on this process's slice of the global batch; its metric row waits in
    ``run.pending`` for the loss and gradient norm (:func:`_read_back`)."""
    state = run.state
    lr = stage.lr_at(state.stage_step)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    local = stage.batch // run.world
    first = state.samples + run.rank * local
    x0, noise, t = _batch(run, dataset, list(range(first, first + local)))
    loss, grad_norm = train_step(run.ddp_model, run.optimizer, run.scaler, run.precision, x0, noise, t,
                                 run.config, run.world)
    state.step += 1
    state.stage_step += 1
    state.samples += stage.batch
    state.elapsed = time.perf_counter() - run.start
    row = {
        "kind": "train", "step": state.step, "stage": state.stage + 1, "stage_step": state.stage_step,
        "strategy": run.config.strategy, "frames": stage.frames, "height": stage.height, "width": stage.width,
        "tokens": run.tokens(stage.resolution), "batch": stage.batch, "lr": lr, "loss": loss,
        "grad_norm": grad_norm, "samples": state.samples, "time": round(state.elapsed, 3),
    }
    state.metrics.append(row)
    run.pending.add(row)


def _batch(run: _Run, dataset: VideoDataset, indices: list[int]):
    """Videos ``indices`` rendered on the device ``(b, C, T, H, W)``, with their noise (same shape) and
    levels ``(b,)``, drawn on the CPU keyed on ``(seed, index)`` (module docstring, "Determinism")."""
    x0 = device_videos(dataset, indices, run.device)
    noise, t = noise_and_levels("train", run.config.seed, indices, x0.shape[1:])
    return x0, noise, shift_levels(t, run.config.level_shift(x0.shape[2:]), run.config.objective)


def _evaluate_probes(run: _Run, stage_step: int) -> None:
    """Every probe's held-out loss (:func:`cogpe.objective.evaluate`), one metric row each."""
    config, state = run.config, run.state
    for probe in config.probes:
        loss = evaluate(run.model, config.data, probe.resolution, n_videos=config.eval_videos,
                        seed=config.eval_seed, objective=config.objective, extent=probe.extent,
                        frame_step=probe.frame_step)
        state.metrics.append({
            "kind": "eval", "step": state.step, "stage": state.stage + 1, "stage_step": stage_step,
            "strategy": config.strategy, "probe": probe.name, "frames": probe.frames,
            "height": probe.height, "width": probe.width, "extent": probe.extent,
            "frame_step": probe.frame_step,
            "tokens": run.tokens(probe.resolution), "loss": loss,
            "time": round(state.elapsed, 3),
        })


def _checkpoint(run: _Run, *names: str) -> None:
    """Rank 0: the state as ``out/<name>`` for every name, and the metrics files; first every pending
    number is read back, so a diverged run stops before it writes."""
    _read_back(run, None)
    if not run.is_main:
        return
    blob = {
        "config": run.config.to_dict(),
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scaler": run.scaler.state_dict(),
        **run.state.to_checkpoint(),
    }
    for name in names:
        save_checkpoint(run.out / name, blob)
    write_metrics(run.out, run.state.metrics)


def _write_run_info(run: _Run) -> None:
    state = run.state
    prov = provenance(run.device, strategy=run.config.strategy, seed=run.config.seed, world_size=run.world,
                      steps=state.step, train_seconds=round(state.elapsed, 3), **run.precision.to_dict())
    write_json(run.out / "run.json", {"provenance": prov, "config": run.config.to_dict()})


# --- command line ------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cogpe.train",
        description="Progressive training of a tiny video DiT with a chosen position-encoding strategy.",
    )
    p.add_argument("--preset", default="quick", choices=tuple(TRAIN_PRESETS), help="configuration (default: quick)")
    p.add_argument("--strategy", default=None,
                   help=f"PE strategy, one of {', '.join(MODEL_STRATEGIES)} (default: the preset's)")
    p.add_argument("--seed", type=int, default=None, help="seed of model init, data and noise (default: the preset's)")
    p.add_argument("--out", required=True, help="output directory (checkpoints, metrics)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt if it exists")
    p.add_argument("--init-from", default=None, metavar="CKPT",
                   help="start from another run's checkpoint (e.g. its stage1.pt), same strategy family")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--stages", default=None, metavar="SPEC",
                   help="override the preset's stages: 'FxHxW:steps:batch:lr[:warmup[:eval_every[:cooldown]]],...'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m cogpe.train``); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.seed is not None and args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        config = train_preset(args.preset, strategy=args.strategy, seed=args.seed)
        if args.stages is not None:
            stages = parse_stages(args.stages)
            resolutions = list(dict.fromkeys(st.resolution for st in stages))
            probes = tuple(Probe("x".join(map(str, r)), *r) for r in resolutions)
            config = dataclasses.replace(config, stages=stages, probes=probes)
        device = resolve_device(args.device)
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    try:
        metrics = train(config, args.out, resume=args.resume, init_from=args.init_from, device=device,
                        progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, FloatingPointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        last = [r for r in metrics if r["kind"] == "train"][-1:]
        evals = [r for r in metrics if r["kind"] == "eval" and r["step"] == (last[0]["step"] if last else 0)]
        summary = ", ".join(f"{r['probe']} {r['loss']:.4f}" for r in evals)
        print(f"done: {config.strategy} seed {config.seed} -> {args.out}" + (f" (eval: {summary})" if summary else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
