"""What the benchmarks measure: cases, their variants (the code timed side by side) and the ratios reported.

Item 1 — applying RoPE: ``apply_rope`` against diffusers ``apply_rotary_emb`` and ``x.clone()`` (a fresh
tensor of the same size: the memory-bound limit of any op that returns a new tensor).
Item 2 — building tables: ``sincos_3d`` / ``rope_3d`` against diffusers at the released geometries, and
``RotaryEmbedding3D`` returning its cached tables.
Item 3 — a training step (forward, backward, AdamW) of the lab's tiny model: its FLOP/s against a plain
matmul's, and its time against diffusers' ``CogVideoXTransformer3DModel`` of the same size.
Item 5 — the adapters' hooks: the forward of a diffusers CogVideoX transformer under
``cogpe.adapters.use_strategy`` (one strategy, and a timestep schedule) against the same transformer,
unpatched, fed the same precomputed tables; eager, and each through a ``torch.compile`` wrapper of its own.

A case's ``build()`` creates its tensors only when it is measured, so the large ones of one case are
freed before the next.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import itertools
import math
import sys
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

from cogpe import (
    RotaryEmbedding3D,
    apply_rope,
    apply_rope_complex,
    get_preset,
    rope_3d,
    rope_complex_table,
    sincos_3d,
    to_half_layout,
    token_grid,
)
from cogpe.results.report import format_seconds

Variants = dict[str, Callable[[], object]]

OPS = {"<=": lambda value, goal: value <= goal, ">=": lambda value, goal: value >= goal}


@dataclass(frozen=True)
class Ratio:
    """``scale · numerator / denominator`` of two variants' median times (per round, then the median).

    Without a denominator, ``scale ·`` the numerator's time (unit s); without a numerator, ``scale /`` the
    denominator's time (a rate, e.g. FLOP/s with ``scale`` the FLOPs of one call). ``goal = (op, value)``
    with op ``"<="`` or ``">="``; ``None`` reports the figure for information. ``name`` replaces the
    label; ``unit`` the unit ("x" for a ratio of times).
    """

    numerator: str | None
    denominator: str | None = None
    goal: tuple[str, float] | None = None
    scale: float = 1.0
    name: str | None = None
    unit: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"{self.numerator} / {self.denominator}" if self.denominator else f"{self.numerator} time"

    @property
    def kind(self) -> str:
        """``"s"`` (a time), ``"rate"`` or ``"x"`` (a ratio of times)."""
        if self.denominator is None:
            return "s"
        return "rate" if self.numerator is None else "x"

    def value(self, times: dict, round_: int) -> float:
        """This ratio in round ``round_`` of ``times`` (variant -> seconds per round)."""
        if self.kind == "s":
            return self.scale * times[self.numerator][round_]
        if self.kind == "rate":
            return self.scale / times[self.denominator][round_]
        return self.scale * times[self.numerator][round_] / times[self.denominator][round_]

    def passes(self, value: float) -> bool | None:
        return None if self.goal is None else OPS[self.goal[0]](value, self.goal[1])

    def goal_text(self) -> str:
        if self.goal is None:
            return "info"
        op, value = self.goal
        if self.kind == "s":
            return f"{op} {format_seconds(value)}"
        return f"{op} {value:g}{'x' if self.kind == 'x' else ' ' + (self.unit or '')}".rstrip()


@dataclass(frozen=True)
class Case:
    """One measured situation: ``build()`` returns the variants to time; ``ratios`` say what to report.

    ``absent`` names variants left out on purpose, with why (e.g. ``"--no-compile"``): the ratios that
    need them report it as the reason they are skipped.
    """

    item: int
    name: str
    dtype: str
    params: dict
    build: Callable[[], Variants]
    ratios: tuple[Ratio, ...]
    notes: str = field(default="")
    absent: Mapping[str, str] = field(default_factory=dict)


def compiled_graphs() -> int:
    """Graphs ``torch.compile`` has made in this process so far (TorchDynamo's count; 0 before it is loaded)."""
    if "torch._dynamo" not in sys.modules:
        return 0
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def diffusers_embeddings():
    """``diffusers.models.embeddings``, or None when diffusers is not installed (its ratios are skipped)."""
    if importlib.util.find_spec("diffusers") is None:
        return None
    import diffusers.models.embeddings as embeddings

    return embeddings


# --- item 1: applying RoPE -----------------------------------------------------------------------

# (label, batch, heads, token grid (T, H, W), head_dim)
APPLY_SHAPES = {
    "full": [
        ("CogVideoX-5B attention", 1, 48, token_grid("cogvideox-5b"), 64),  # (1, 48, 17550, 64)
        ("tiny-model attention", 16, 4, (8, 8, 8), 32),  # (16, 4, 512, 32): cogpe.model's default
    ],
    "quick": [("quick", 2, 4, (4, 4, 8), 64)],  # 65,536 elements: the smallest auto sends to the complex path
}

APPLY_RATIOS = (
    Ratio("apply_rope", "clone", ("<=", 1.5)),
    Ratio("diffusers", "apply_rope", (">=", 4.0)),
    Ratio("apply_rope_complex", "clone"),
    Ratio("reference", "clone"),
    Ratio("half layout", "clone"),
    Ratio("compiled", "clone"),
)


def apply_cases(mode: str, dtypes, device: str, *, compiled: bool) -> list[Case]:
    """Item 1 for every shape of ``mode`` ("full" or "quick") and dtype."""
    cases = []
    for label, batch, heads, grid, head_dim in APPLY_SHAPES[mode]:
        shape = (batch, heads, grid[0] * grid[1] * grid[2], head_dim)
        for dtype in dtypes:
            cases.append(Case(
                item=1,
                name=f"apply_rope {label} {shape}",
                dtype=str(dtype).removeprefix("torch."),
                params={"shape": list(shape), "grid": list(grid), "device": device},
                build=lambda g=grid, s=shape, dt=dtype: _apply_variants(g, s, dt, device, compiled),
                ratios=APPLY_RATIOS,
            ))
    return cases


def _apply_variants(grid, shape, dtype, device, compiled: bool) -> Variants:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=dtype)
    cos, sin = rope_3d(shape[-1], grid, device=device)  # (N, head_dim) float32, as diffusers builds them
    table = rope_complex_table(cos, sin)  # (N, head_dim/2) complex64
    half_cos, half_sin = to_half_layout(cos), to_half_layout(sin)
    variants = {
        "clone": lambda: x.clone(),
        "apply_rope": lambda: apply_rope(x, cos, sin),
        "apply_rope_complex": lambda: apply_rope_complex(x, table),
        "reference": lambda: apply_rope(x, cos, sin, impl="reference"),
        "half layout": lambda: apply_rope(x, half_cos, half_sin, layout="half"),
    }
    embeddings = diffusers_embeddings()
    if embeddings is not None:
        variants["diffusers"] = lambda: embeddings.apply_rotary_emb(x, (cos, sin))
    if compiled:
        variants["compiled"] = lambda: apply_rope(x, cos, sin, impl="compiled")
    return variants


# --- item 2: building tables ---------------------------------------------------------------------

TABLE_RATIOS = (Ratio("diffusers", "cogpe", (">=", 3.0)), Ratio("cogpe", "fresh tables"))
CACHED_RATIOS = (
    Ratio("RotaryEmbedding3D", None, ("<=", 50e-6)),
    Ratio("complex_table", None),
    Ratio("diffusers", "RotaryEmbedding3D"),
)


def table_cases(mode: str, device: str) -> list[Case]:
    """Item 2: the CogVideoX-2B sincos table, the 5B and 1.5 RoPE tables, and the cached module."""
    if mode == "quick":
        sincos = [("sincos_3d quick", 64, (2, 4, 6), 1.875)]
        rope = [("rope_3d quick", 64, (2, 4, 6), None)]
    else:
        b2 = get_preset("cogvideox-2b")
        b5, b15 = get_preset("cogvideox-5b"), get_preset("cogvideox1.5-5b")
        sincos = [("sincos_3d CogVideoX-2B", b2.hidden_size, b2.base_grid, b2.spatial_interpolation)]
        rope = [
            ("rope_3d CogVideoX-5B", b5.head_dim, b5.base_grid, None),
            ("rope_3d CogVideoX-1.5", b15.head_dim, token_grid(b15), b15.rope_max_grid[1:]),
        ]
    cases = []
    for name, dim, grid, s in sincos:
        for dtype in (torch.float32, torch.float64):
            cases.append(Case(
                2, f"{name} {grid}", str(dtype).removeprefix("torch."),
                {"dim": dim, "grid": list(grid), "interpolation": [1.0, s, s], "device": device},
                lambda d=dim, g=grid, f=s, dt=dtype: _sincos_variants(d, g, f, dt, device), TABLE_RATIOS,
                notes="diffusers builds float64 and casts to the model's dtype; both sides end in this dtype",
            ))
    for name, head_dim, grid, max_hw in rope:
        params = {"head_dim": head_dim, "grid": list(grid), "diffusers_max_size": max_hw and list(max_hw)}
        cases.append(Case(
            2, f"{name} {grid}", "float32", {**params, "device": device},
            lambda d=head_dim, g=grid, m=max_hw: _rope_variants(d, g, m, device), TABLE_RATIOS,
        ))
    name, head_dim, grid, _ = rope[0]
    cases.append(Case(
        2, f"RotaryEmbedding3D cached {grid}", "float32", {"head_dim": head_dim, "grid": list(grid), "device": device},
        lambda: _cached_variants(head_dim, grid, device), CACHED_RATIOS,
    ))
    return cases


def _sincos_variants(dim, grid, s, dtype, device) -> Variants:
    t, h, w = grid
    variants = {
        "cogpe": lambda: sincos_3d(dim, grid, (1.0, s, s), dtype=dtype, device=device),
        "fresh tables": lambda: torch.empty(t * h * w, dim, dtype=dtype, device=device).fill_(1.0),
    }
    embeddings = diffusers_embeddings()
    if embeddings is not None:
        variants["diffusers"] = lambda: embeddings.get_3d_sincos_pos_embed(
            dim, (w, h), t, s, 1.0, device=device
        ).to(dtype)  # (T, H*W, dim)
    return variants


def _rope_variants(head_dim, grid, max_hw, device) -> Variants:
    t, h, w = grid
    n = t * h * w
    variants = {
        "cogpe": lambda: rope_3d(head_dim, grid, device=device),
        "fresh tables": lambda: (torch.empty(n, head_dim, device=device).fill_(1.0),
                                 torch.empty(n, head_dim, device=device).fill_(1.0)),
    }
    embeddings = diffusers_embeddings()
    if embeddings is not None:
        variants["diffusers"] = lambda: _diffusers_rope(embeddings, head_dim, grid, max_hw, device)
    return variants


def _diffusers_rope(embeddings, head_dim, grid, max_hw, device):
    """diffusers' pipeline call: "linspace" over the whole base box (1.0 at its native size), or "slice" (1.5)."""
    t, h, w = grid
    if max_hw is None:
        return embeddings.get_3d_rotary_pos_embed(head_dim, ((0, 0), (h, w)), (h, w), t, device=device)
    return embeddings.get_3d_rotary_pos_embed(
        head_dim, None, (h, w), t, grid_type="slice", max_size=tuple(max_hw), device=device
    )


def _cached_variants(head_dim, grid, device) -> Variants:
    module = RotaryEmbedding3D(head_dim).to(device)
    module(grid), module.complex_table(grid)  # fill both caches
    variants = {
        "RotaryEmbedding3D": lambda: module(grid),
        "complex_table": lambda: module.complex_table(grid),
    }
    embeddings = diffusers_embeddings()
    if embeddings is not None:
        variants["diffusers"] = lambda: _diffusers_rope(embeddings, head_dim, grid, None, device)
    return variants


# --- item 3: a training step of the tiny model -------------------------------------------------------

def _quick_stages() -> list[tuple]:
    from cogpe.trainconfig import TRAIN_PRESETS

    return [(f"quick stage {i + 1}", s.batch, *s.resolution) for i, s in enumerate(TRAIN_PRESETS["quick"].stages)]


# (label, batch, frames, height, width): the lab's quick stages, and a smoke shape.
STEP_SHAPES = {
    "full": _quick_stages(),
    "quick": [("smoke", 2, 4, 8, 8)],
}


def step_cases(mode: str, device: str, *, compiled: bool = False) -> list[Case]:
    """Item 3: one AdamW step of :class:`cogpe.model.VideoDiT` (the ``quick`` preset's size, RoPE) at each
    shape of ``mode``, against a matmul of the model's largest linear layer and diffusers' model; with
    ``compiled``, also the step of a ``torch.compile``d copy (``TrainConfig.compile``; compiled on first use)."""
    from cogpe.model import VideoDiT
    from cogpe.trainconfig import TRAIN_PRESETS

    cases = []
    for label, batch, frames, height, width in STEP_SHAPES[mode]:
        config = dataclasses.replace(TRAIN_PRESETS["quick"].model, strategy="rope-extrapolate")
        grid = config.token_grid(frames, height, width)
        config = dataclasses.replace(config, base_grid=grid)
        tokens = math.prod(grid)
        step_flops = 3 * batch * VideoDiT(config).flops_per_video(grid)  # backward ≈ 2 × forward
        hidden = int(round(config.width * config.mlp_ratio))
        mm = (batch * tokens, config.width, hidden)  # (M, K, N): the MLP's first layer over the whole batch
        mm_flops = 2 * math.prod(mm)
        cases.append(Case(
            item=3,
            name=f"train step {label} {(batch, 3, frames, height, width)}",
            dtype="float32",
            params={"batch": batch, "video": [3, frames, height, width], "token_grid": list(grid),
                    "width": config.width, "depth": config.depth, "heads": config.heads,
                    "step_flops": step_flops, "matmul_mkn": list(mm), "matmul_flops": mm_flops, "device": device},
            build=lambda c=config, b=batch, v=(frames, height, width), m=mm: _step_variants(c, b, v, m, device, compiled),
            ratios=(
                Ratio("matmul", "cogpe step", (">=", 0.5), scale=step_flops / mm_flops,
                      name="FLOP/s: cogpe step / matmul"),
                Ratio("matmul", "compiled step", scale=step_flops / mm_flops, name="FLOP/s: compiled step / matmul"),
                Ratio("diffusers step", "cogpe step", name="diffusers step / cogpe step"),
                Ratio(None, "cogpe step", scale=step_flops / 1e9, name="cogpe step GFLOP/s", unit="GFLOP/s"),
                Ratio(None, "matmul", scale=mm_flops / 1e9, name="matmul GFLOP/s", unit="GFLOP/s"),
                Ratio("cogpe step"),
            ),
            notes="step FLOPs = 3 × forward (linear layers + attention, VideoDiT.flops_per_video); "
                  "diffusers: CogVideoXTransformer3DModel of the same width/depth/heads/patch, no text tokens, "
                  "cogpe's RoPE tables passed in",
        ))
    return cases


def _training_step(model, forward, target):
    """A closure running one step of ``forward() ≈ target`` with the AdamW :func:`cogpe.train.train` uses
    (:func:`cogpe.train.make_optimizer` with the ``quick`` preset's hyper-parameters)."""
    from cogpe.train import make_optimizer
    from cogpe.trainconfig import TRAIN_PRESETS

    optimizer = make_optimizer(model, TRAIN_PRESETS["quick"])

    def step():
        loss = torch.nn.functional.mse_loss(forward(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _step_variants(config, batch, video, mm, device, compiled: bool) -> Variants:
    from cogpe.model import VideoDiT

    gen = torch.Generator().manual_seed(0)
    frames, height, width = video
    x = torch.randn(batch, 3, frames, height, width, generator=gen).to(device)
    t = torch.rand(batch, generator=gen).to(device)
    target = torch.randn(x.shape, generator=gen).to(device)
    model = VideoDiT(config).to(device).train()
    m, k, n = mm
    a, b = torch.randn(m, k, generator=gen).to(device), torch.randn(k, n, generator=gen).to(device)
    variants = {
        "cogpe step": _training_step(model, lambda: model(x, t), target),
        "matmul": lambda: a @ b,
    }
    if compiled:
        twin = VideoDiT(config).to(device).train()
        twin.load_state_dict(model.state_dict())
        fast = torch.compile(twin)
        variants["compiled step"] = _training_step(twin, lambda: fast(x, t), target)
    peer = _diffusers_model(config, frames)
    if peer is not None:
        peer = peer.to(device).train()
        xd = x.transpose(1, 2).contiguous()  # diffusers takes (B, T, C, H, W)
        text = torch.zeros(batch, 0, config.width, device=device)  # no text tokens
        cos, sin = rope_3d(config.head_dim, config.token_grid(*video), device=device)
        steps = t * 1000

        def forward():
            return peer(xd, text, steps, image_rotary_emb=(cos, sin), return_dict=False)[0]

        variants["diffusers step"] = _training_step(peer, forward, target.transpose(1, 2).contiguous())
    return variants


def _diffusers_model(config, frames):
    """diffusers' CogVideoX transformer shaped like ``config`` (RoPE, no text, no temporal compression), or None."""
    if importlib.util.find_spec("diffusers") is None:
        return None
    from diffusers import CogVideoXTransformer3DModel

    pt, ph, pw = config.patch
    if pt != 1 or ph != pw:
        raise ValueError(f"diffusers' CogVideoX 1.0 layout needs patch (1, p, p), got {config.patch}")
    return CogVideoXTransformer3DModel(
        num_attention_heads=config.heads, attention_head_dim=config.head_dim, in_channels=config.in_channels,
        out_channels=config.in_channels, time_embed_dim=config.width, text_embed_dim=config.width,
        num_layers=config.depth, sample_frames=frames, patch_size=ph, temporal_compression_ratio=1,
        max_text_seq_length=0, use_rotary_positional_embeddings=True,
    )


# --- item 5: the adapters' hooks ------------------------------------------------------------------

# (label, layers, heads, head_dim, text tokens, text_dim, token grid): CogVideoX-5B's layer — width 3072 in
# 48 heads of 64, its 226 text tokens of 4096 channels — once, at a small grid (a forward takes seconds on
# a CPU); and a smoke shape.
ADAPTER_SHAPES = {
    "full": [("CogVideoX-5B layer", 1, 48, 64, 226, 4096, (2, 8, 12))],
    "quick": [("smoke", 1, 2, 16, 3, 8, (2, 4, 6))],
}

#: The compiled variants of item 5, each a ``torch.compile`` wrapper of its own of the eager variant's module.
COMPILED_ADAPTER_VARIANTS = ("compiled use_strategy", "compiled timestep schedule", "compiled fed tables")

ADAPTER_RATIOS = (
    Ratio("use_strategy", "fed tables", ("<=", 1.02)),
    Ratio("timestep schedule", "fed tables", ("<=", 1.02)),
    Ratio("compiled use_strategy", "compiled fed tables", ("<=", 1.02)),
    Ratio("compiled timestep schedule", "compiled fed tables", ("<=", 1.02)),
)

#: How far a compiled output may be from the one it is checked against, relative to the latter's largest
#: entry: the compiler fuses and reorders float32 sums, so it rounds differently (CogVideoX-5B's layer
#: here: about 4e-7), and computes nothing else.
COMPILED_RTOL = 1e-5


def adapter_cases(mode: str, device: str, *, compiled: bool = True, backend: str = "inductor") -> list[Case]:
    """Item 5 for every shape of ``mode``: an adapted forward over the unpatched one fed the same tables.

    Tables are cached in the handle, so the ratio is the hooks' overhead. With ``compiled`` each model is
    also timed through a ``torch.compile(module, backend=backend)`` wrapper of its own, compiled before
    timing; without, the compiled ratios are skipped (``--no-compile``). Without diffusers there is
    nothing to adapt and the item has no case.
    """
    if importlib.util.find_spec("diffusers") is None:
        return []
    if compiled:
        _check_backend(backend)
    cases = []
    for label, layers, heads, head_dim, text, text_dim, grid in ADAPTER_SHAPES[mode]:
        params = {"layers": layers, "heads": heads, "head_dim": head_dim, "text_tokens": text,
                  "text_dim": text_dim, "grid": list(grid), "base_grid": [grid[0], grid[1] // 2, grid[2] // 2],
                  "strategy": "ntk", "schedule": "interpolate, then ntk from progress 0.3", "timestep": 500,
                  "compile_backend": backend if compiled else None, "device": device}
        cases.append(Case(
            item=5,
            name=f"use_strategy {label} {grid}",
            dtype="float32",
            params=params,
            build=lambda p=params: _adapter_variants(p, device),
            ratios=ADAPTER_RATIOS,
            notes="the same weights in three module trees: adapted (NTK at twice the trained H, W), adapted with "
                  "a schedule (NTK at this timestep), unpatched and fed the handle's tables; outputs checked equal. "
                  "Compiled: each tree through a torch.compile wrapper of its own, compiled under its strategy "
                  f"before timing (no graph made while timed); outputs checked within {COMPILED_RTOL:g} of the "
                  "compiled fed model's (relative to its largest entry), and that one's within as much of the "
                  "eager output",
            absent={} if compiled else dict.fromkeys(COMPILED_ADAPTER_VARIANTS, "--no-compile"),
        ))
    return cases


def _check_backend(backend: object) -> None:
    """ValueError unless ``backend`` names a ``torch.compile`` backend (``torch._dynamo.list_backends``)."""
    import torch._dynamo

    known = torch._dynamo.list_backends(exclude_tags=())
    if not isinstance(backend, str) or backend not in known:
        raise ValueError(f"backend must name a torch.compile backend ({', '.join(sorted(known))}), got {backend!r}")


def _adapter_models(params: dict, device: str) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """``(model, fed, scheduled)``: three module trees of one seeded CogVideoX transformer sharing its weights
    (no hooks yet)."""
    from diffusers import CogVideoXTransformer3DModel

    bt, bh, bw = params["base_grid"]
    torch.manual_seed(0)
    model = CogVideoXTransformer3DModel(
        num_attention_heads=params["heads"], attention_head_dim=params["head_dim"], in_channels=16, out_channels=16,
        text_embed_dim=params["text_dim"], num_layers=params["layers"], max_text_seq_length=params["text_tokens"],
        sample_frames=(bt - 1) * 4 + 1, sample_height=2 * bh, sample_width=2 * bw,  # trained grid: base_grid
        use_rotary_positional_embeddings=True,
    ).to(device).eval()
    shared = {id(x): x for x in itertools.chain(model.parameters(), model.buffers())}
    return model, copy.deepcopy(model, dict(shared)), copy.deepcopy(model, dict(shared))


def _adapter_variants(params: dict, device: str) -> Variants:
    from cogpe.adapters import use_strategy

    t, h, w = params["grid"]
    model, fed, scheduled = _adapter_models(params, device)
    use_strategy(scheduled, "interpolate", late=params["strategy"], watershed=0.3)
    handle = use_strategy(model, params["strategy"])
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, t, 16, 2 * h, 2 * w, generator=gen).to(device)  # (B, F, C, H, W)
    text = torch.randn(1, params["text_tokens"], params["text_dim"], generator=gen).to(device)
    step = torch.tensor([params["timestep"]], device=device)
    tables = handle.tables((t, h, w), device)

    def forward(module, **kw):
        def call():
            with torch.no_grad():
                return module(x, text, step, return_dict=False, **kw)[0]  # (B, F, C, H, W)
        return call

    modules = {"use_strategy": (model, {}), "timestep schedule": (scheduled, {}),
               "fed tables": (fed, {"image_rotary_emb": tables})}
    variants = {name: forward(module, **kw) for name, (module, kw) in modules.items()}
    reference = variants["fed tables"]()
    for name in ("use_strategy", "timestep schedule"):
        if not torch.equal(variants[name](), reference):
            raise RuntimeError(f"item 5: {name} does not compute what the fed model does; the ratio would compare "
                               "different work")
    backend = params["compile_backend"]
    if backend is not None:
        torch.compiler.reset()  # graphs of earlier cases neither serve these nor count against the recompile limit
        variants |= _compiled_variants(
            {f"compiled {name}": forward(torch.compile(module, backend=backend), **kw)
             for name, (module, kw) in modules.items()},
            reference,
        )
    return variants  # the handles live as long as their hooks, on the modules the variants call


def _compiled_variants(calls: Variants, reference: torch.Tensor) -> Variants:
    """``calls`` (the compiled variants), each compiled here by its first call and checked.

    ``reference`` is the eager fed model's output ``(B, F, C, H, W)``: the compiled fed model is checked
    against it, each compiled adapted model against the compiled fed model's output (:data:`COMPILED_RTOL`).
    """
    fed = "compiled fed tables"
    expected = _first_call(fed, calls[fed], reference)
    for name in calls:
        if name != fed:
            _first_call(name, calls[name], expected)
    return calls


def _first_call(name: str, call: Callable[[], torch.Tensor], expected: torch.Tensor) -> torch.Tensor:
    """``call()``'s output ``(B, F, C, H, W)``, checked to have made graphs of its own — one reusing another
    wrapper's code, or falling back to eager, would not time its own work — and to match ``expected``."""
    graphs = compiled_graphs()
    output = call()
    if compiled_graphs() == graphs:
        raise RuntimeError(f"item 5: {name} made no graph of its own (compiled code of another model ran, or "
                           "torch.compile fell back to eager); its time would not be its own")
    _check_close(name, output, expected)
    return output


def _check_close(name: str, output: torch.Tensor, expected: torch.Tensor) -> None:
    """RuntimeError unless ``output`` is within :data:`COMPILED_RTOL` · max|expected| of ``expected`` (same shape)."""
    error = (output - expected).abs().max().item()
    bound = COMPILED_RTOL * expected.abs().max().item()
    if not error <= bound:  # NaN fails too
        raise RuntimeError(f"item 5: {name} is {error:.3g} from the output it should match (tolerance {bound:.3g}); "
                           "the ratio would compare different work")
