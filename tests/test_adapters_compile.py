"""cogpe.adapters under torch.compile and in half precision: the ways people run the models.

Compiling: every order of compiling and applying a strategy — a ``torch.compile(transformer)`` wrapper
given to ``use_strategy``, ``transformer.compile()`` in place, the strategy applied first and the model
compiled after — gives the eager patched output, and the unpatched output once the strategy is removed
(Dynamo does not guard on hooks: :mod:`cogpe.adapters.compiled`). Under a strategy the compiled model
has as many graphs and graph breaks as unpatched (one, none) over several denoising steps at a fixed
size, and compiles with ``fullgraph=True``. Most tests compile with the ``eager`` backend (Dynamo's
tracing, guards and graph breaks without code generation: exact); one compiles with inductor and holds
the adapted model to the unpatched model's own compile tolerance.

Half precision: at the trained grid every strategy gives the unpatched model's output bit for bit in
bfloat16 and float16, whether the model was cast whole or loaded with its float32 modules kept.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

import adapters_families_support as fam
import adapters_wan_hunyuan_support as wh
from adapters_support import (
    BASE,
    BASE_2B,
    generate,
    inputs,
    one_thread,  # noqa: F401 (autouse fixture)
    tiny_2b,
    tiny_pipeline,
    tiny_transformer,
)
from cogpe.adapters import use_strategy
from cogpe.strategy import ENCODINGS

dynamo = pytest.importorskip("torch._dynamo")
CompileCounter = pytest.importorskip("torch._dynamo.testing").CompileCounter

GRID = (5, 8, 12)  # about twice the base grid 3×4×6 of every tiny model here

# name -> (make the model, the strategy's keyword arguments, the strategy, the grid it runs at)
MODELS = {
    "cogvideox-1.0": (lambda: tiny_transformer("1.0"), {}, "yarn", GRID),
    "cogvideox-1.5": (lambda: tiny_transformer("1.5"), {"base_grid": BASE}, "riflex", GRID),
    "cogvideox-i2v": (lambda: tiny_transformer("1.0", learned=True), {}, "yarn", GRID),  # learned table resampled
    "cogvideox-2b": (lambda: tiny_2b(), {}, "interpolate", (2, 30, 30)),  # its sincos table, index divided
    "wan": (lambda: wh.tiny("wan", layers=1), {"base_grid": wh.BASE}, "yarn", GRID),
    "hunyuan": (lambda: wh.tiny("hunyuan"), {"base_grid": wh.BASE}, "ntk", GRID),
    "mochi": (lambda: fam.tiny_mochi(layers=1), {"base_grid": fam.BASE}, "interpolate", (5, 8, 9)),  # new aspect
}


@pytest.fixture(autouse=True)
def fresh_compiler(compiled_available):
    """Each test starts and ends with no compiled code (a test's graphs must not serve the next)."""
    dynamo.reset()
    yield
    dynamo.reset()


def model_inputs(name: str, grid, step: int = 500):
    """``(args, kwargs)`` of a forward of model ``name`` at token ``grid`` and timestep ``step`` (seeded)."""
    if name.startswith("cogvideox"):
        version = "1.5" if name == "cogvideox-1.5" else "1.0"
        channels = 8 if name == "cogvideox-i2v" else 4
        return inputs(version, grid, 1, channels, step), {}
    if name == "mochi":
        hidden, text, _, mask = fam.inputs(grid)
        return (hidden, text, torch.tensor([step]), mask), {}
    t, h, w = grid
    g = torch.Generator().manual_seed(1)
    hidden, text = torch.randn(1, 4, t, 2 * h, 2 * w, generator=g), torch.randn(1, wh.TEXT, wh.TEXT_DIM, generator=g)
    if name == "wan":
        return (hidden, torch.tensor([step]), text), {}
    mask, pooled = torch.ones(1, wh.TEXT, dtype=torch.bool), torch.randn(1, 8, generator=g)
    return (hidden, torch.tensor([step]), text, mask, pooled), {"guidance": torch.tensor([6000.0])}


def forward(model, args, kwargs):
    with torch.no_grad():
        return model(*args, **kwargs).sample


def call(model, name: str, grid, step: int = 500):
    """``model``'s output at token ``grid`` and timestep ``step`` on seeded inputs (its family's layout)."""
    return forward(model, *model_inputs(name, grid, step))


def eager_results(name):
    """The model, the strategy's arguments, and its eager outputs at the grid: unpatched and patched."""
    make, kw, strategy, grid = MODELS[name]
    model = make()
    with use_strategy(model, strategy, **kw):
        patched = call(model, name, grid)
    plain = None if name == "cogvideox-i2v" else call(model, name, grid)  # diffusers refuses I2V's other sizes
    return model, kw, strategy, grid, plain, patched


@pytest.mark.parametrize("name", list(MODELS))
def test_every_order_of_compiling_and_patching_gives_the_eager_result(name):
    model, kw, strategy, grid, plain, patched = eager_results(name)
    # 1. compiled first, then the wrapper given to use_strategy (it is refused no more)
    compiled = torch.compile(model, backend="eager")
    if plain is not None:
        assert torch.equal(call(compiled, name, grid), plain)
    with use_strategy(compiled, strategy, **kw) as handle:
        assert handle.transformer is model
        assert torch.equal(call(compiled, name, grid), patched)
    if plain is not None:
        assert torch.equal(call(compiled, name, grid), plain)  # removed: compiled code without the hooks again
    # 2. compiled in place
    dynamo.reset()
    again = MODELS[name][0]()
    again.compile(backend="eager")
    if plain is not None:
        assert torch.equal(call(again, name, grid), plain)
    with use_strategy(again, strategy, **kw):
        assert torch.equal(call(again, name, grid), patched)
    if plain is not None:
        assert torch.equal(call(again, name, grid), plain)
    # 3. patched first, compiled under the strategy
    dynamo.reset()
    with use_strategy(model, strategy, **kw):
        later = torch.compile(model, backend="eager")
        assert torch.equal(call(later, name, grid), patched)
    if plain is not None:
        assert torch.equal(call(later, name, grid), plain)  # the traced hooks are discarded with the strategy


@pytest.mark.parametrize("name", [name for name in MODELS if name != "mochi"])
def test_no_graph_break_or_recompilation_the_unpatched_model_does_not_have(name):
    """Three denoising steps at one size: one graph, patched or not; no graph break; fullgraph=True compiles.
    (Not Mochi: its own attention breaks the graph, at ``nonzero`` of the text mask, and the tables' ops
    then make one more graph between those breaks; its compiled output is the eager one, above.)"""
    make, kw, strategy, grid = MODELS[name]
    model = make()
    plain_grid = BASE if name == "cogvideox-i2v" else grid  # diffusers runs I2V at its own grid only
    graphs = {}
    for patched in (False, True):
        dynamo.reset()
        counter = CompileCounter()
        with use_strategy(model, strategy, **kw) if patched else contextlib.nullcontext():
            compiled = torch.compile(model, backend=counter, fullgraph=True)
            for step in (900, 500, 100):
                call(compiled, name, grid if patched else plain_grid, step)
            dynamo.reset()
            args, kwargs = model_inputs(name, grid if patched else plain_grid)
            explained = dynamo.explain(forward)(model, args, kwargs)
        graphs[patched] = (counter.frame_count, explained.graph_count, explained.graph_break_count)
    assert graphs[True] == graphs[False] == (1, 1, 0)


def test_inductor_keeps_the_adapted_model_within_the_unpatched_compile_tolerance():
    """Wan under YaRN, compiled with inductor, in the three orders: as far from the eager patched output
    as the compiled unpatched model is from the eager one (at most twice, and below 1e-5)."""
    model, kw, strategy, grid, plain, patched = eager_results("wan")
    compiled = torch.compile(model)
    tolerance = max(2 * (call(compiled, "wan", grid) - plain).abs().max().item(), 1e-6)
    assert tolerance < 1e-5
    with use_strategy(compiled, strategy, **kw):
        assert (call(compiled, "wan", grid) - patched).abs().max().item() <= tolerance
    dynamo.reset()
    with use_strategy(model, strategy, **kw):
        assert (call(torch.compile(model), "wan", grid) - patched).abs().max().item() <= tolerance


def test_a_pipeline_with_a_compiled_transformer():
    """``pipe.transformer = torch.compile(pipe.transformer)``, as diffusers' docs show: the pipeline is
    adapted, its latents under the strategy are the eager pipeline's, and removal restores them."""
    transformer = tiny_transformer("1.0")
    pipeline = tiny_pipeline(transformer)
    call_kw = dict(num_frames=17, height=128, width=192)
    expected = generate(pipeline, **call_kw)
    with use_strategy(pipeline, "yarn"):
        eager = generate(pipeline, **call_kw)
    pipeline.transformer = torch.compile(transformer, backend="eager")
    with use_strategy(pipeline, "yarn") as handle:
        assert handle.transformer is transformer
        assert torch.equal(generate(pipeline, **call_kw), eager)
    assert torch.equal(generate(pipeline, **call_kw), expected)


def test_a_timestep_schedule_compiles_one_graph_for_both_phases():
    """The phase is decided on the timestep's device, inside the forward: one graph serves both phases."""
    model = tiny_transformer("1.0")
    with use_strategy(model, "interpolate", late="ntk", watershed=0.3):
        eager = {step: call(model, "cogvideox-1.0", GRID, step) for step in (900, 100)}
    counter = CompileCounter()
    with use_strategy(model, "interpolate", late="ntk", watershed=0.3):
        compiled = torch.compile(model, backend=counter)
        for step in (900, 100, 900, 100):
            assert torch.equal(call(compiled, "cogvideox-1.0", GRID, step), eager[step])
    assert counter.frame_count == 1  # no recompilation when the phase changes


def _half(model, dtype, keep_float32: bool):
    """``model`` in ``dtype``: cast whole, or as ``from_pretrained(torch_dtype=dtype)`` loads it (the modules
    its class keeps in float32 left alone)."""
    if not keep_float32:
        return model.to(dtype)
    kept = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    for path, module in model.named_modules():
        if any(part in kept for part in path.split(".")):
            continue
        for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            if tensor.is_floating_point():
                tensor.data = tensor.data.to(dtype)
    return model


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("keep_float32", [False, True], ids=["cast", "loaded"])
@pytest.mark.parametrize("family", wh.FAMILIES)
def test_half_precision_models_are_their_own_at_the_trained_grid(family, dtype, keep_float32):
    model = _half(wh.tiny(family, layers=1), dtype, keep_float32)
    name = "wan" if family == "wan" else "hunyuan"

    def run(grid):
        t, h, w = grid
        g = torch.Generator().manual_seed(1)
        hidden = torch.randn(1, 4, t, 2 * h, 2 * w, generator=g).to(dtype)
        text = torch.randn(1, wh.TEXT, wh.TEXT_DIM, generator=g).to(dtype)
        with torch.no_grad():
            if name == "wan":
                return model(hidden, torch.tensor([500]), text).sample
            pooled = torch.randn(1, 8, generator=g).to(dtype)
            mask = torch.ones(1, wh.TEXT, dtype=torch.bool)
            return model(hidden, torch.tensor([500]), text, mask, pooled, guidance=torch.tensor([6000.0])).sample

    own, larger = run(wh.BASE), run(GRID)
    for strategy in ENCODINGS["rope"]:
        with use_strategy(model, strategy, base_grid=wh.BASE):
            assert torch.equal(run(wh.BASE), own), strategy
            given = run(GRID)
        assert given.dtype == dtype and torch.isfinite(given).all()
        if strategy == "extrapolate":
            assert torch.equal(given, larger)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_half_precision_cogvideox_is_the_pipeline_at_the_trained_grid(dtype):
    """CogVideoX takes its tables from the pipeline (float32 whatever the model's dtype): fed them, the
    unpatched model equals the adapted one under every strategy."""
    from adapters_support import pipeline_tables

    model = tiny_transformer("1.0").to(dtype)
    hidden, text, step = inputs("1.0", BASE, 1, 4, 500)
    hidden, text = hidden.to(dtype), text.to(dtype)
    with torch.no_grad():
        own = model(hidden, text, step, image_rotary_emb=pipeline_tables(model, "1.0", BASE)).sample
        for strategy in ENCODINGS["rope"]:
            with use_strategy(model, strategy):
                assert torch.equal(model(hidden, text, step).sample, own), strategy
    two_b = tiny_2b().to(dtype)
    hidden, text, step = inputs("1.0", BASE_2B, 1, 4, 500)
    with torch.no_grad():
        own = two_b(hidden.to(dtype), text.to(dtype), step).sample
        with use_strategy(two_b, "interpolate"):
            assert torch.equal(two_b(hidden.to(dtype), text.to(dtype), step).sample, own)
