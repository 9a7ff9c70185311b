"""cogpe.cogvideox: presets and the exact tables of SAT and diffusers (chapter 2, section 2.5; chapter 3,
section 3.6; chapter 6, sections 6.3 and 6.4)."""

import numpy as np
import pytest
import torch

from cogpe import crop_region, rope_3d, sincos_3d
from cogpe.cogvideox import (
    PRESETS,
    diffusers_rope_tables,
    diffusers_sincos_table,
    get_preset,
    sat_rope_tables,
    sat_sincos_table,
    token_grid,
)


def test_presets_hold_the_published_configuration():
    two, five, i2v, one5 = (PRESETS[k] for k in ("cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b"))
    assert (two.hidden_size, two.num_layers, two.num_heads, two.head_dim) == (1920, 30, 30, 64)
    assert (five.hidden_size, five.num_layers, five.num_heads, five.head_dim) == (3072, 42, 48, 64)
    assert two.pos_embedding == "sincos" and two.spatial_interpolation == 1.875 == 30 / 16 == 45 / 24
    assert five.pos_embedding == one5.pos_embedding == i2v.pos_embedding == "rope"
    assert i2v.learned_pos_embedding and not five.learned_pos_embedding and i2v.in_channels == 32
    assert five.rope_split == (16, 24, 24) and five.theta == 10000.0
    assert two.base_grid == five.base_grid == (13, 30, 45)
    assert one5.base_grid == (11, 48, 85) and one5.rope_max_grid == (21, 150, 150)
    assert (two.text_length, one5.text_length) == (226, 224)
    assert token_grid("cogvideox-2b", 49, 256, 384) == (13, 16, 24)  # the 1.875 stage: 30/16 = 45/24


# --- sincos (CogVideoX-2B) -----------------------------------------------------------------------


def test_sat_and_diffusers_sincos_agree_at_480x720(diffusers_embeddings):
    sat = sat_sincos_table()
    ref = diffusers_embeddings.get_3d_sincos_pos_embed(1920, (45, 30), 13, 1.875, 1.0, output_type="pt")
    assert sat.dtype == torch.float32 and sat.shape == (17550, 1920)
    torch.testing.assert_close(diffusers_sincos_table(), ref.reshape(-1, 1920), rtol=0, atol=0)
    # SAT stores float32 (chapter 2, section 2.5): measured max diff 2.97e-8 against diffusers' float64 buffer
    assert (sat.double() - ref.reshape(-1, 1920)).abs().max() < 6e-8


def test_diffusers_sincos_matches_the_patch_embedding(diffusers_embeddings):
    """CogVideoXPatchEmbed regenerates the table for 768x1360 with the same 1.875 (chapter 2, section 2.5)."""
    embed = diffusers_embeddings.CogVideoXPatchEmbed(embed_dim=1920, text_embed_dim=8)
    for height, width in ((480, 720), (768, 1360), (256, 384)):
        ref = embed._get_positional_embeddings(height // 8, width // 8, 49)[0, 226:]
        ours = diffusers_sincos_table(height=height, width=width)
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_sat_sincos_text_rows_and_frame_prefix():
    full = sat_sincos_table(with_text=True)
    assert full.shape == (226 + 17550, 1920) and torch.all(full[:226] == 0)
    short = sat_sincos_table(num_frames=33)  # 9 latent frames: a prefix of the 13-frame table
    assert short.shape == (9 * 1350, 1920)
    torch.testing.assert_close(short, full[226 : 226 + 9 * 1350], rtol=0, atol=0)


def test_sat_sincos_reference_numbers():
    table = sat_sincos_table().double()
    np.testing.assert_allclose(table[1, 480:484], [0.50840657, 0.49675992, 0.48532068, 0.47408983], atol=1e-7)
    np.testing.assert_allclose(table[-1, 480:484], [-0.99546451, -0.77249186, -0.30026095, 0.2553683], atol=1e-7)
    assert table.sum().item() == pytest.approx(15167673.328, abs=0.05)


def test_2b_interpolation_is_exact_on_the_low_res_positions():
    """Every 480x720 row whose position i/1.875 is an integer equals a 256x384 (16x24) row at that integer."""
    hi = sincos_3d(1920, (1, 30, 45), (1, 1.875, 1.875), dtype=torch.float64).reshape(30, 45, 1920)
    lo = sincos_3d(1920, (1, 16, 24), dtype=torch.float64).reshape(16, 24, 1920)
    torch.testing.assert_close(hi[15, 15], lo[8, 8], rtol=0, atol=1e-12)
    torch.testing.assert_close(hi[0, 30], lo[0, 16], rtol=0, atol=1e-12)


# --- RoPE (CogVideoX-5B, 1.5) --------------------------------------------------------------------


def test_sat_and_diffusers_rope_agree_at_480x720(diffusers_embeddings):
    sat_cos, sat_sin = sat_rope_tables()
    dif_cos, dif_sin = diffusers_rope_tables()
    ref_cos, ref_sin = diffusers_embeddings.get_3d_rotary_pos_embed(64, ((0, 0), (30, 45)), (30, 45), 13)
    for ours in (sat_cos, dif_cos):
        torch.testing.assert_close(ours, ref_cos, rtol=0, atol=0)
    for ours in (sat_sin, dif_sin):
        torch.testing.assert_close(ours, ref_sin, rtol=0, atol=0)


@pytest.mark.parametrize("height, width", [(768, 1360), (480, 480), (720, 480), (960, 1440), (240, 368)])
def test_diffusers_rope_1_0_matches_the_pipeline_recipe(diffusers_embeddings, diffusers_crop_region, height, width):
    """The 1.0 pipeline: crop region of the 30x45 base box, then linspace (chapter 6, sections 6.3, 6.4 (a))."""
    T, H, W = token_grid("cogvideox-5b", 49, height, width)
    crops = diffusers_crop_region((H, W), 45, 30)
    ref_cos, ref_sin = diffusers_embeddings.get_3d_rotary_pos_embed(64, crops, (H, W), T)
    cos, sin = diffusers_rope_tables("cogvideox-5b", 49, height, width)
    torch.testing.assert_close(cos, ref_cos, rtol=0, atol=0)
    torch.testing.assert_close(sin, ref_sin, rtol=0, atol=0)


def test_diffusers_rope_768x1360_reference_rows():
    assert crop_region((48, 85), (30, 45)) == ((2, 0), (27, 45))
    cos, _ = diffusers_rope_tables("cogvideox-5b", 49, 768, 1360)
    rows = cos.reshape(13, 48, 85, 64)
    np.testing.assert_allclose(rows[0, 0, 1, 40:44], [0.86310428, 0.86310428, 0.96995974, 0.96995974], atol=1e-7)
    np.testing.assert_allclose(rows[0, 1, 0, 16:20], [-0.81292105, -0.81292105, 0.39046869, 0.39046869], atol=1e-7)


def test_cogvideox_1_5_slices_arange(diffusers_embeddings):
    cos, sin = sat_rope_tables("cogvideox1.5-5b", 81, 768, 1360)
    assert cos.shape == (44880, 64)
    ref_cos, ref_sin = diffusers_embeddings.get_3d_rotary_pos_embed(
        64, None, (48, 85), 11, grid_type="slice", max_size=(150, 150)
    )
    for ours in (cos, diffusers_rope_tables("cogvideox1.5-5b", 81, 768, 1360)[0]):
        torch.testing.assert_close(ours, ref_cos, rtol=0, atol=0)
    torch.testing.assert_close(sin, ref_sin, rtol=0, atol=0)
    # plain arange: the same as cogpe's default table up to float32 rounding of the angles
    torch.testing.assert_close(cos, rope_3d(64, (11, 48, 85))[0], rtol=0, atol=1e-5)


def test_cogvideox_1_5_cap_is_the_config_sample_size(diffusers_embeddings):
    """Released 1.5 configs say sample 96×170 (later) or 300×300 (conversion script): the same integer
    positions at 768×1360, but with 96×170 a portrait 1360×768 grid is beyond the table — diffusers fails
    there, cogpe says so."""
    ref_cos, _ = diffusers_embeddings.get_3d_rotary_pos_embed(
        64, None, (48, 85), 11, grid_type="slice", max_size=(48, 85)
    )
    for sample in ((96, 170), (300, 300)):
        cos, _ = diffusers_rope_tables("cogvideox1.5-5b", 81, 768, 1360, sample_hw=sample)
        torch.testing.assert_close(cos, ref_cos, rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        diffusers_embeddings.get_3d_rotary_pos_embed(64, None, (85, 48), 11, grid_type="slice", max_size=(48, 85))
    with pytest.raises(ValueError, match=r"grid \(11, 85, 48\) has H = 85 tokens, beyond the 48 × 85 table"):
        diffusers_rope_tables("cogvideox1.5-5b", 81, 1360, 768, sample_hw=(96, 170))
    portrait, _ = diffusers_rope_tables("cogvideox1.5-5b", 81, 1360, 768)  # the 150 × 150 table holds it
    assert portrait.shape == (11 * 85 * 48, 64)


def test_sat_rope_1_0_takes_frame_prefixes():
    full, _ = sat_rope_tables()
    short, _ = sat_rope_tables(num_frames=41)  # 11 latent frames
    torch.testing.assert_close(short, full[: 11 * 1350], rtol=0, atol=0)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: get_preset("cogvideox-7b"), ValueError, r"unknown preset 'cogvideox-7b'; valid: 'cogvideox-2b'"),
        (lambda: sat_sincos_table("cogvideox-5b"), ValueError, r"uses rope position encodings, not sincos; sincos presets: 'cogvideox-2b'"),
        (lambda: sat_rope_tables("cogvideox-2b"), ValueError, r"uses sincos position encodings, not rope"),
        (lambda: sat_sincos_table(height=768, width=1360), ValueError, r"13x30x45 token grid .* mis-indexed"),
        (lambda: sat_rope_tables("cogvideox-5b", 53, 480, 720), ValueError, r"T <= 13"),
        (lambda: sat_rope_tables("cogvideox1.5-5b", 81, 2416, 1360), ValueError, r"n=151 is larger than the table"),
        (lambda: diffusers_rope_tables("cogvideox1.5-5b", 81, 768, 2416), ValueError,
         r"W = 151 tokens, beyond the 150 × 150 table"),
        (lambda: diffusers_rope_tables("cogvideox1.5-5b", sample_hw=(96,)), ValueError, r"sample_hw must have 2 entries ordered \(H, W\), got 1"),
        (lambda: diffusers_sincos_table(height=770), ValueError, r"height=770 is not a multiple of"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
