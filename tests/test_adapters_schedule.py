"""cogpe.adapters.use_strategy with a timestep schedule (``late=``, ``watershed=``): Lumina-Next's time-aware
scaling — one strategy while the denoising progress 1 − t/1000 is below the watershed, another after.

Oracle: the same model under each strategy alone (tests/test_adapters*.py check those against diffusers
and cogpe.strategy). With watershed 0.3 the switch is between t = 701 (progress 0.299: early) and t = 700
(progress 0.3: late).
"""

from __future__ import annotations

import pytest
import torch

import adapters_wan_hunyuan_support as wh
from adapters_support import (
    BASE,
    BASE_2B,
    generate,
    one_thread,  # noqa: F401 (autouse fixture)
    pipeline_tables,
    run,
    tiny_2b,
    tiny_pipeline,
    tiny_transformer,
)
from cogpe.adapters import use_strategy
from cogpe.adapters.schedule import TimestepSchedule
from cogpe.strategy import ENCODINGS, Strategy

GRID = (5, 8, 12)  # about twice the trained 3×4×6: both strategies act on every axis
EARLY, LATE = (999, 701), (700, 1)  # timesteps on either side of watershed 0.3


@pytest.fixture(scope="module")
def cogvideox():
    return tiny_transformer("1.0")


def received(transformer):
    """A list that gets the ``image_rotary_emb`` the first block's attention runs with, call by call (its
    ``forward``, which runs after every hook)."""
    seen = []
    attention = transformer.transformer_blocks[0].attn1
    forward = attention.forward

    def spy(*args, **kwargs):
        seen.append(kwargs["image_rotary_emb"])
        return forward(*args, **kwargs)

    attention.forward = spy
    return seen


@pytest.mark.parametrize("early, late", [("interpolate", "ntk"), ("linspace-crop-diffusers", "yarn"),
                                         (Strategy("riflex", riflex_k=0), {"rope_type": "yarn", "factor": 2.0})],
                         ids=["pi-ntk", "crop-yarn", "objects"])
def test_each_phase_is_exactly_its_strategy(early, late):
    """Above the watershed's timestep the model's output is the early strategy's alone, below it the late
    one's, bit for bit — YaRN's temperature on q included; the blocks receive exactly those tables."""
    transformer = tiny_transformer("1.0")
    seen = received(transformer)
    alone = {}
    for phase, strategy in (("early", early), ("late", late)):
        with use_strategy(transformer, strategy) as handle:
            alone[phase] = {t: run(transformer, "1.0", GRID, step=t) for t in EARLY + LATE}
            alone[phase]["tables"] = handle.tables(GRID)
    with use_strategy(transformer, early, late=late, watershed=0.3) as handle:
        for phase, steps in (("early", EARLY), ("late", LATE)):
            for t in steps:
                assert torch.equal(run(transformer, "1.0", GRID, step=t), alone[phase][t]), (phase, t)
                assert all(torch.equal(a, b) for a, b in zip(seen[-1], alone[phase]["tables"])), (phase, t)
                assert all(torch.equal(a, b) for a, b in zip(seen[-1], handle.tables(GRID, timestep=t)))  # that phase's
        assert handle.schedule.phase(701) == "early" and handle.schedule.phase(700) == "late"
    assert not torch.equal(alone["early"][999], alone["late"][999])  # the two strategies differ here


def test_tables_of_both_phases_are_built_once(cogvideox):
    with use_strategy(cogvideox, "interpolate", late="ntk", watershed=0.3) as handle:
        first = {t: handle.tables(GRID, timestep=t) for t in (999, 1)}
        for t in (999, 1, 999, 1):
            run(cogvideox, "1.0", GRID, step=t)
        assert all(handle.tables(GRID, timestep=t) is first[t] for t in first)
        assert first[999] is not first[1] and handle.tables(GRID) is first[999]  # no timestep: the early one


@pytest.mark.parametrize("late", ["ntk", "yarn", "riflex", "extrapolate"])
def test_training_grid_is_bit_identical_in_both_phases(cogvideox, late):
    expected = {t: run(cogvideox, "1.0", BASE, pipeline_tables(cogvideox, "1.0", BASE), step=t) for t in (999, 1)}
    with use_strategy(cogvideox, "interpolate", late=late, watershed=0.5):
        for t, out in expected.items():
            assert torch.equal(run(cogvideox, "1.0", BASE, None, step=t), out), t


def test_yarn_temperature_follows_the_phase(cogvideox):
    with use_strategy(cogvideox, "ntk", late="yarn", watershed=0.3) as handle:
        assert handle.q_scale(GRID, timestep=999) == 1.0 and handle.q_scale(GRID, timestep=1) > 1.05


def test_2b_schedule_interpolates_early_and_extrapolates_late():
    """On CogVideoX-2B's sincos table: interpolate while noisy, then diffusers' own (extrapolated) positions."""
    transformer, grid = tiny_2b(), (3, 30, 30)
    own = {t: run(transformer, "1.0", grid, step=t) for t in (999, 1)}
    with use_strategy(transformer, "interpolate") as handle:
        interpolated = run(transformer, "1.0", grid, step=999)
    with use_strategy(transformer, "interpolate", late="extrapolate", watershed=0.3) as handle:
        assert torch.equal(run(transformer, "1.0", grid, step=999), interpolated)
        assert torch.equal(run(transformer, "1.0", grid, step=1), own[1])
        assert handle.patch_table(grid, timestep=1) is None and handle.patch_table(grid, timestep=999) is not None
        assert handle.patch_table(BASE_2B, timestep=999) is None
    assert not torch.equal(interpolated, own[999])


@pytest.mark.parametrize("family", wh.FAMILIES)
def test_wan_and_hunyuan_read_the_timestep_too(family):
    transformer = wh.tiny(family)
    alone = {}
    for name in ("interpolate", "ntk"):
        with use_strategy(transformer, name, base_grid=wh.BASE):
            alone[name] = {t: wh.run(transformer, GRID, step=t) for t in (999, 1)}
    with use_strategy(transformer, "interpolate", late="ntk", watershed=0.3, base_grid=wh.BASE):
        assert torch.equal(wh.run(transformer, GRID, step=999), alone["interpolate"][999])
        assert torch.equal(wh.run(transformer, GRID, step=1), alone["ntk"][1])


def test_a_pipeline_switches_between_its_steps():
    """diffusers' CogVideoXPipeline, 2 DDIM steps (t = 500, then 0; one forward each, guidance batched)
    under interpolate → ntk at watershed 0.6: the first step (progress 0.5) gets interpolate's tables,
    the second (progress 1) NTK's."""
    transformer = tiny_transformer("1.0")
    pipeline = tiny_pipeline(transformer)
    steps, seen = [], received(transformer)
    transformer.register_forward_pre_hook(lambda m, a, k: steps.append(int(k["timestep"][0])), with_kwargs=True)
    call = dict(num_frames=17, height=128, width=192)  # 5 x 8 x 12 tokens
    with use_strategy(pipeline, "interpolate", late="ntk", watershed=0.6) as handle:
        assert handle.schedule.num_train_timesteps == pipeline.scheduler.config.num_train_timesteps == 1000
        scheduled = generate(pipeline, **call)
        expected = [handle.tables(GRID, timestep=t) for t in steps]
        assert [handle.schedule.phase(t) for t in steps] == ["early", "late"]
    assert steps == [500, 0]
    assert all(torch.equal(a, b) for tables, e in zip(seen, expected) for a, b in zip(tables, e))
    assert expected[0] is not expected[1]
    with use_strategy(pipeline, "interpolate"):
        assert not torch.equal(generate(pipeline, **call), scheduled)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"late": "ntk"}, TypeError, r"late= needs watershed=: a timestep schedule"),
        ({"watershed": 0.3}, TypeError, r"watershed= needs late="),
        ({"late": "ntk", "watershed": 1.5}, ValueError, r"watershed=1.5 is outside \[0, 1\].*for a timestep t\* pass 1 − t\*/1000"),
        ({"late": "ntk", "watershed": "0.3"}, TypeError, r"watershed must be a number in \[0, 1\]"),
        ({"late": "ntk", "watershed": True}, TypeError, r"watershed must be a number"),
        ({"late": "resample", "watershed": 0.3}, ValueError, r"strategy='resample' cannot be used by CogVideoX 1.0.*valid strategies"),
        ({"late": {"rope_type": "longrope"}, "watershed": 0.3}, ValueError, r"unknown rope_type 'longrope'"),
        ({"late": Strategy("riflex", riflex_k=2), "watershed": 0.3}, ValueError, r"riflex_k\[0\] \(t\)"),
    ],
)
def test_bad_schedules_are_refused_before_anything_runs(kwargs, error, message):
    transformer = tiny_transformer("1.0", layers=1)
    with pytest.raises(error, match=message):
        use_strategy(transformer, "interpolate", **kwargs)
    with use_strategy(transformer, "ntk"):  # nothing was left active
        pass


def test_a_sincos_model_refuses_a_rope_late_strategy():
    with pytest.raises(ValueError, match=r"strategy='ntk' cannot be used by CogVideoX-2B.*'extrapolate', 'interpolate'"):
        use_strategy(tiny_2b(layers=1), "interpolate", late="ntk", watershed=0.3)


def test_a_call_without_a_timestep_is_refused_and_changes_nothing(cogvideox):
    hidden = torch.zeros(1, 3, 4, 8, 12)
    with use_strategy(cogvideox, "interpolate", late="ntk", watershed=0.3):
        with pytest.raises(ValueError, match=r"picks the strategy by the timestep the transformer receives, but this call passed none"):
            cogvideox(hidden, torch.zeros(1, 3, 8), None)
    with pytest.raises(TypeError, match=r"timestep must be a number or a tensor"):
        TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3).phase("500")
    for name in ENCODINGS["rope"][:2]:
        with use_strategy(cogvideox, name):
            pass


# --- the phase decided on the device (TimestepSchedule.is_early / select): no device→host copy per step ---

SCHEDULES = [TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), w, n)
             for w, n in ((0.3, 1000), (0.0, 1000), (1.0, 1000), (0.5, 1000), (0.123456789, 1000), (0.3, 7), (1 / 3, 1))]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.uint8]


def _candidates(schedule, dtype):
    """Timesteps of ``dtype`` around the watershed's timestep (each neighbour of the boundary), and far off."""
    edge = schedule.num_train_timesteps * (1 - schedule.watershed)
    if not dtype.is_floating_point:
        info = torch.iinfo(dtype)
        values = [round(edge) + d for d in range(-3, 4)] + [0, 1, 999, 1000, 1001, info.min, info.max]
        return torch.tensor([v for v in values if info.min <= v <= info.max], dtype=torch.int64).to(dtype)
    centre = torch.tensor([edge, 0.0, 1.0, 700.0, 701.0, 999.0, 1000.0, -1.0, 1e30], dtype=torch.float64).to(dtype)
    up, down = centre.clone(), centre.clone()
    steps = [centre]
    for _ in range(3):  # three representable neighbours on each side
        up = torch.nextafter(up.double(), torch.full_like(up.double(), float("inf"))).to(dtype)
        down = torch.nextafter(down.double(), torch.full_like(down.double(), -float("inf"))).to(dtype)
        if dtype in (torch.float16, torch.bfloat16):  # nextafter of the double rounds back: step in its own ulps
            up = torch.where(up == centre, centre + centre.abs().clamp(min=1) * torch.finfo(dtype).eps, up).to(dtype)
            down = torch.where(down == centre, centre - centre.abs().clamp(min=1) * torch.finfo(dtype).eps, down).to(dtype)
        steps += [up, down]
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0]).to(dtype)
    return torch.cat(steps + [special])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: f"w{s.watershed:g}-n{s.num_train_timesteps}")
def test_the_phase_decided_on_the_device_is_the_host_phase(schedule, dtype):
    """is_early(t) == (phase(t) == "early") at every representable neighbour of the switch, at 0, ±inf and NaN
    (late, as on the host), for one timestep and for a batch or a token's map whose largest entry decides."""
    values = _candidates(schedule, dtype)
    for value in values:
        assert bool(schedule.is_early(value)) == (schedule.phase(value) == "early"), (float(value), dtype)
    for batch in (values, values.reshape(-1, 1).expand(-1, 3), torch.stack([values, torch.zeros_like(values)], 1)):
        for row in batch:
            assert bool(schedule.is_early(row)) == (schedule.phase(row) == "early"), row
    for number in (700, 701, 700.0, 700.0000001, 0, 1000):
        assert bool(schedule.is_early(number)) == (schedule.phase(number) == "early")


def test_the_switch_is_where_phase_puts_it():
    schedule = TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3)
    assert [bool(schedule.is_early(torch.tensor(t))) for t in (999, 701, 700, 1)] == [True, True, False, False]
    assert [bool(schedule.is_early(torch.tensor(t, dtype=torch.float32))) for t in (700.0, 700.00007)] == [False, True]
    assert bool(schedule.is_early(torch.tensor([0, 0, 999]))) and not schedule.is_early(torch.tensor([700, 0])).item()


class NoHostReads(torch.Tensor):
    """A tensor that raises where its values would be read on the host (what a CUDA tensor syncs for)."""

    READS = {"item", "tolist", "numpy", "__float__", "__int__", "__bool__", "__index__", "__array__", "__format__",
             "__repr__", "nonzero", "any", "all", "equal"}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in cls.READS:
            raise AssertionError(f"read on the host: {func.__name__}")
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64], ids=str)
def test_the_phase_is_decided_without_reading_the_timestep_on_the_host(dtype):
    """No entry of the timestep (nor of anything computed from it) reaches Python: on an accelerator, no
    device→host copy and no wait per step. (The host rule, phase(), does read it: the subclass catches that.)"""
    schedule = TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3)
    early_tables = (torch.full((6, 4), 1.0), torch.full((6, 4), 2.0))
    late_tables = (torch.full((6, 4), 3.0), torch.full((6, 4), 4.0))
    for t, expected in ((999, early_tables), (1, late_tables)):
        timestep = torch.full((2, 5), t, dtype=dtype).as_subclass(NoHostReads)
        chosen = schedule.select(schedule.is_early(timestep), early_tables, late_tables)
        assert all(torch.equal(c.as_subclass(torch.Tensor), e) for c, e in zip(chosen, expected))
    with pytest.raises(AssertionError, match="read on the host"):
        schedule.phase(torch.full((2,), 999, dtype=dtype).as_subclass(NoHostReads))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA to count device syncs")
def test_no_cuda_sync_decides_the_phase():
    schedule = TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3)
    tables = torch.zeros(6, 4, device="cuda"), torch.ones(6, 4, device="cuda")
    timesteps = [torch.full((2,), t, device="cuda") for t in (999, 1)]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        chosen = [schedule.select(schedule.is_early(t), *tables) for t in timesteps]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.equal(chosen[0], tables[0]) and torch.equal(chosen[1], tables[1])


def test_select_picks_exactly_and_refuses_mismatches():
    early = torch.tensor(True)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.equal(TimestepSchedule.select(early, a, b), a) and torch.equal(TimestepSchedule.select(~early, a, b), b)
    with pytest.raises(TypeError, match=r"early must be a 0-d bool tensor"):
        TimestepSchedule.select(True, a, b)
    with pytest.raises(TypeError, match=r"early must be a 0-d bool tensor"):
        TimestepSchedule.select(torch.tensor([True, False]), a, b)
    with pytest.raises(ValueError, match=r"tensors of one shape, got \(3, 4\) and \(4, 3\)"):
        TimestepSchedule.select(early, a, b.T)
    with pytest.raises(TypeError, match=r"two tensors or two tuples of tensors of one length"):
        TimestepSchedule.select(early, (a, b), (a,))
    for bad, error in ((None, ValueError), ("500", TypeError), (torch.tensor([True]), ValueError), (torch.zeros(0), ValueError)):
        with pytest.raises(error, match="timestep"):
            TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3).is_early(bad)


def test_the_schedule_compiles_one_graph_for_both_phases(compiled_available):
    """Tables picked by the schedule inside a compiled forward: no graph break (torch._dynamo.explain),
    fullgraph=True compiles, and one graph serves every timestep of both phases (no recompilation)."""
    dynamo = pytest.importorskip("torch._dynamo")
    counter = pytest.importorskip("torch._dynamo.testing").CompileCounter()
    schedule = TimestepSchedule(Strategy("interpolate"), Strategy("ntk"), 0.3)
    early_tables, late_tables = (torch.randn(6, 4), torch.randn(6, 4)), (torch.randn(6, 4), torch.randn(6, 4))

    def forward(x, timestep):  # x (6, 4): rotated by the tables of the phase, as a RoPE attention would be
        cos, sin = schedule.select(schedule.is_early(timestep), early_tables, late_tables)
        return x * cos + x.flip(-1) * sin

    x = torch.randn(6, 4)
    dynamo.reset()
    try:
        explained = dynamo.explain(forward)(x, torch.tensor([999.0, 999.0]))
        assert (explained.graph_count, explained.graph_break_count) == (1, 0)
        compiled = torch.compile(forward, backend=counter, fullgraph=True)
        for t in (999.0, 701.0, 700.0, 1.0, 999.0):
            timestep = torch.tensor([t, t])
            assert torch.equal(compiled(x, timestep), forward(x, timestep)), t
        assert counter.frame_count == 1
    finally:
        dynamo.reset()
