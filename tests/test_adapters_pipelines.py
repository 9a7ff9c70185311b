"""cogpe.adapters.use_strategy on whole diffusers pipelines: a tiny run per model family, start to finish.

Each test builds the family's real pipeline class around tiny models (random weights from configs, no
download, no tokenizer or text encoder: prompt embeddings are passed in), runs 2 denoising steps at
about twice the training grid in frames and size, and compares the latents it returns:

- under the strategy that reproduces the pipeline's own positions they are the unpatched pipeline's,
  bit for bit, at the same seed;
- under YaRN and RIFLEx (new frequencies at scale 2) they differ, with the same shape;
- after the handle is removed the pipeline gives its unpatched latents again.
"""

from __future__ import annotations

import pytest
import torch

from adapters_support import (
    BASE_KW,
    diffusers,
    generate,
    one_thread,  # noqa: F401 (autouse fixture)
    tiny_pipeline,
    tiny_transformer,
)
from cogpe.adapters import use_strategy

# --- CogVideoX: one pipeline class, 1.0 and 1.5 told apart by the transformer's patch_size_t ----------------

# Training grid 3×4×6 tokens (tests/adapters_support.py). About twice it: 1.0 takes 8N+1 frames, 17 →
# 5 latent frames = 5 tokens; 1.5 takes 16N+1, 33 → 9 latent, padded to 10 → 5 tokens; 128×192 pixels →
# 16×24 latent → 8×12 tokens.
COGVIDEOX_CALLS = {"1.0": dict(num_frames=17, height=128, width=192), "1.5": dict(num_frames=33, height=128, width=192)}
COGVIDEOX_LATENTS = {"1.0": (1, 5, 4, 16, 24), "1.5": (1, 10, 4, 16, 24)}  # 1.5's latents keep the padding frame
# The strategy giving each pipeline's own positions: 1.0's linspace over the crop region (diffusers >= 0.32),
# 1.5's integer positions.
COGVIDEOX_OWN = {"1.0": "linspace-crop-diffusers", "1.5": "extrapolate"}


@pytest.mark.parametrize("version", ["1.0", "1.5"])
def test_cogvideox_pipeline_at_twice_the_grid(version):
    # DDIM for 1.0, the multistep DPM solver for 1.5: both of CogVideoXPipeline's scheduler paths
    scheduler = diffusers.CogVideoXDDIMScheduler() if version == "1.0" else diffusers.CogVideoXDPMScheduler()
    pipeline = tiny_pipeline(tiny_transformer(version), scheduler)
    call, kw = COGVIDEOX_CALLS[version], BASE_KW[version]
    expected = generate(pipeline, **call)
    assert expected.shape == COGVIDEOX_LATENTS[version]
    with use_strategy(pipeline, COGVIDEOX_OWN[version], **kw):
        assert torch.equal(generate(pipeline, **call), expected)
    for name in ("yarn", "riflex"):
        with use_strategy(pipeline, name, **kw):
            given = generate(pipeline, **call)
        assert given.shape == expected.shape and torch.isfinite(given).all()
        assert (given - expected).abs().max() > 1e-3, name
    assert torch.equal(generate(pipeline, **call), expected)
