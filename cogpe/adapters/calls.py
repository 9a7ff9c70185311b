"""Pipeline calls under a strategy: what a call asks for, checked before the pipeline runs, removably.

:func:`check_calls` swaps a pipeline's class for a subclass of the same name whose ``__call__`` first
hands the call's arguments to a check, then runs the pipeline's own ``__call__``; the undo restores the
class. :func:`call_grid` reads the token grid a call asks for — frames, height and width with the
pipeline's defaults — through :meth:`cogpe.adapters.models.RopeModel.video_grid`, which refuses what
the model cannot take before the prompt is encoded.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any, Callable, Mapping

import torch

from .models import RopeModel
from .tables import Grid, Tables

__all__ = ["Check", "call_grid", "check_calls", "pipeline_tables", "vae_factors"]

#: A check: ``check(pipeline, arguments)`` with the call's arguments bound by name (defaults applied).
Check = Callable[[object, Mapping[str, Any]], None]

# pipeline -> the check of the handle adapting it, weakly both ways (the handle holds the pipeline);
# pipeline class -> its checking subclass
_CHECKS: weakref.WeakKeyDictionary[object, weakref.WeakMethod[Check]] = weakref.WeakKeyDictionary()
_CHECKED_CLASSES: dict[type, type] = {}


def check_calls(pipeline: object, check: Check) -> Callable[[], None]:
    """Run ``check`` (a bound method) before every call of ``pipeline`` until the returned undo is called.

    ``check`` is held weakly: whatever keeps its object alive (the hooks of an adapter) keeps the check.
    Calls whose arguments do not bind to the signature are passed through: the pipeline reports its own
    argument errors.
    """
    original = type(pipeline)
    if not callable(pipeline):
        return lambda: None  # nothing calls it: the transformers' hooks check the latent grid
    checked = _CHECKED_CLASSES.get(original)
    if checked is None:
        call = original.__call__
        signature = inspect.signature(call)

        def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
            ref = _CHECKS.get(self)
            active = None if ref is None else ref()
            if active is not None:
                try:
                    bound = signature.bind(self, *args, **kwargs)
                except TypeError:
                    bound = None
                if bound is not None:
                    bound.apply_defaults()
                    active(self, bound.arguments)
            return call(self, *args, **kwargs)

        namespace = {"__call__": __call__, "__module__": original.__module__, "__doc__": original.__doc__}
        checked = type(original.__name__, (original,), namespace)
        checked.__qualname__ = original.__qualname__
        _CHECKED_CLASSES[original] = checked
    setattr(pipeline, "__class__", checked)
    _CHECKS[pipeline] = weakref.WeakMethod(check)  # a bound method, as documented

    def undo() -> None:
        _CHECKS.pop(pipeline, None)
        if type(pipeline) is checked:
            setattr(pipeline, "__class__", original)

    return undo


def call_grid(model: RopeModel, pipeline: object, arguments: Mapping[str, Any]) -> Grid | None:
    """The token grid a pipeline call asks for, or None where frames come from an input video.

    ``height``, ``width`` and ``num_frames`` are the call's (its signature's defaults applied); None
    takes the CogVideoX pipelines' config defaults (``sample_*``). The VAE factors are the pipeline's
    ``vae_scale_factor_spatial`` / ``_temporal`` (LTX-Video's ``vae_spatial_compression_ratio`` /
    ``_temporal_``; 8 and the model's where it has none). A call without
    ``num_frames`` (video-to-video, control) has its size checked only; a size still None is left to
    the pipeline to report.
    """
    scale, temporal = vae_factors(pipeline, model)
    sample = model.sample_hw
    height = arguments.get("height") or (sample[0] * scale if sample is not None else None)
    width = arguments.get("width") or (sample[1] * scale if sample is not None else None)
    if height is None or width is None:
        return None
    if "num_frames" not in arguments:
        model.video_grid(1, height, width, vae_scale=scale)
        return None
    frames = arguments["num_frames"] or model.sample_frames
    if frames is None:
        return None
    return model.video_grid(frames, height, width, vae_scale=scale, temporal_compression=temporal)


def vae_factors(pipeline: object, model: RopeModel) -> tuple[int, int]:
    """A pipeline's VAE compression ``(space, time)``: its ``vae_scale_factor_spatial`` / ``_temporal``, or LTX-Video's
    ``vae_spatial_compression_ratio`` / ``_temporal_``; 8 and the model's where it has none."""
    space = getattr(pipeline, "vae_scale_factor_spatial", getattr(pipeline, "vae_spatial_compression_ratio", 8))
    time = getattr(pipeline, "vae_scale_factor_temporal",
                   getattr(pipeline, "vae_temporal_compression_ratio", model.temporal_compression))
    return int(space), int(time)


def pipeline_tables(
    pipeline: object, model: RopeModel, tables: Callable[[Grid, torch.device | str], Tables]
) -> Callable[[], None]:
    """CogVideoX pipelines: their ``_prepare_rotary_positional_embeddings`` := ``tables(grid, device)``, until undone.

    The attentions' pre-hooks replace whatever the pipeline passes, so the pipeline's own tables are
    never used; building them is skipped, and with it 1.5's failure beyond ``sample_* // 2``.
    """
    name = "_prepare_rotary_positional_embeddings"
    if not callable(getattr(pipeline, name, None)):
        return lambda: None
    own = vars(pipeline).get(name)  # an instance attribute to restore, if there was one
    scale = int(getattr(pipeline, "vae_scale_factor_spatial", 8))
    pt, ph, pw = model.patch

    def prepare(height: int, width: int, num_frames: int, device: torch.device | str) -> Tables:
        # num_frames: latent frames (1.5: padded to a multiple of pt); height, width: pixels
        grid = (-(-int(num_frames) // pt), int(height) // (scale * ph), int(width) // (scale * pw))
        return tables(grid, device)

    setattr(pipeline, name, prepare)

    def undo() -> None:
        if own is None:
            vars(pipeline).pop(name, None)
        else:
            setattr(pipeline, name, own)

    return undo
