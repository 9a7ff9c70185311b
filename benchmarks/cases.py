"""What the benchmarks measure: cases, their variants (the code timed side by side) and the ratios reported.

Item 1 — applying RoPE: ``apply_rope`` against diffusers ``apply_rotary_emb`` and ``x.clone()`` (a fresh
tensor of the same size: the memory-bound limit of any op that returns a new tensor).
Item 2 — building tables: ``sincos_3d`` / ``rope_3d`` against diffusers at the released geometries, and
``RotaryEmbedding3D`` returning its cached tables.

A case's ``build()`` creates its tensors only when it is measured, so the large ones of one case are
freed before the next.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Callable

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

Variants = dict[str, Callable[[], object]]

OPS = {"<=": lambda value, goal: value <= goal, ">=": lambda value, goal: value >= goal}


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two variants' median times; without a denominator, the time itself (s).

    ``goal = (op, value)`` with op ``"<="`` or ``">="``; ``None`` reports the figure for information.
    """

    numerator: str
    denominator: str | None = None
    goal: tuple[str, float] | None = None

    @property
    def label(self) -> str:
        return f"{self.numerator} / {self.denominator}" if self.denominator else f"{self.numerator} time"

    def passes(self, value: float) -> bool | None:
        return None if self.goal is None else OPS[self.goal[0]](value, self.goal[1])

    def goal_text(self) -> str:
        if self.goal is None:
            return "info"
        op, value = self.goal
        return f"{op} {value * 1e6:g} µs" if self.denominator is None else f"{op} {value:g}x"


@dataclass(frozen=True)
class Case:
    """One measured situation: ``build()`` returns the variants to time; ``ratios`` say what to report."""

    item: int
    name: str
    dtype: str
    params: dict
    build: Callable[[], Variants]
    ratios: tuple[Ratio, ...]
    notes: str = field(default="")


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
