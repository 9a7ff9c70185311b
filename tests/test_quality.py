"""Chapter 7's sample-quality metric. The Fréchet distance is the 2-Wasserstein distance of two fitted
Gaussians (checked against closed forms and a literal eigenvalue reference); on the lab's feature network
it puts two data splits close together and blurred, frozen, shuffled and noisy videos far away, and the
classifier two-sample test agrees.

Measured numbers (default :class:`FeatureConfig`, 256 videos a set, one CPU build; other machines round
the convolutions differently, so the assertions leave margins) are in each test's docstring.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from cogpe.data import DataConfig, VideoDataset, sample_scenes, trajectory
from cogpe.quality import (
    FeatureConfig,
    FeatureNet,
    cached_feature_net,
    classifier_two_sample_test,
    frechet_distance,
    frechet_video_distance,
    gaussian_blur,
    load_feature_net,
    save_feature_net,
    shuffle_frames,
    target_maps,
    train_feature_net,
    video_features,
    video_two_sample_test,
)

N = 256  # videos a set


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These small convolutions and the C2ST's tiny MLP gain nothing from threads, and on a busy machine
    thread hand-offs make them many times slower; one thread also fixes the reduction order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
SIZES = [(8, 16, 16), (8, 32, 32)]
TINY = FeatureConfig(sizes=((4, 8, 8),), videos=8, steps=3, batch=4, width=4)


def reference_frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """d² literally: tr (Σ_a Σ_b)^{1/2} from the eigenvalues of the (non-symmetric) product, those at the
    level of rounding (numerical rank) set to 0."""
    a, b = a.double(), b.double()
    d = a.shape[1]
    cov_a, cov_b = torch.cov(a.T).reshape(d, d), torch.cov(b.T).reshape(d, d)
    eig = torch.linalg.eigvals(cov_a @ cov_b).real
    eig = torch.where(eig > eig.abs().max() * d * 1e-15, eig, torch.zeros_like(eig))
    return float((a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * eig.sqrt().sum())


def random_features(n: int, d: int, seed: int, rank: int | None = None) -> torch.Tensor:
    """``(n, d)`` features with a random mean and correlated columns (of ``rank`` where given)."""
    g = torch.Generator().manual_seed(seed)
    rank = d if rank is None else rank
    mix = torch.randn(rank, d, generator=g, dtype=torch.float64)
    return torch.randn(n, rank, generator=g, dtype=torch.float64) @ mix + torch.randn(d, generator=g, dtype=torch.float64)


# --- the Fréchet distance: mathematics ---------------------------------------------------------------------

SHAPES = [(50, 1), (40, 3), (64, 16), (200, 7), (7, 12), (3, 30)]  # the last two: N <= D, singular covariances


@pytest.mark.parametrize("n,d", SHAPES)
def test_frechet_matches_the_literal_eigenvalue_reference(n, d):
    a, b = random_features(n, d, 1), random_features(n + 5, d, 2)
    assert frechet_distance(a, b) == pytest.approx(reference_frechet(a, b), rel=1e-8, abs=1e-8)


def test_frechet_in_one_dimension_is_mean_gap_plus_spread_gap_squared():
    a, b = random_features(30, 1, 3), random_features(45, 1, 4)
    expected = (a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2  # unbiased spreads, like torch.cov
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("n,d", SHAPES)
def test_frechet_closed_forms_translation_and_scaling(n, d):
    """d²(a, a + v) = |v|² and d²(a, c·a) = (1 − c)² (|μ|² + tr Σ), singular covariances included."""
    a = random_features(n, d, 5)
    shift = torch.linspace(-1.0, 2.0, d, dtype=torch.float64)
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift.square().sum()), rel=1e-8, abs=1e-9)
    c = 0.3
    cov = torch.cov(a.T).reshape(d, d)
    expected = (1 - c) ** 2 * float(a.mean(0).square().sum() + cov.trace())
    assert frechet_distance(a, c * a) == pytest.approx(expected, rel=1e-8, abs=1e-9)


@pytest.mark.parametrize("n,d", SHAPES)
def test_frechet_is_symmetric_zero_on_itself_and_rotation_invariant(n, d):
    a, b = random_features(n, d, 6), random_features(n, d, 7, rank=max(1, d // 2))
    scale = float(a.var(0).sum()) + 1.0  # tr Σ_a
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8, abs=1e-9 * scale)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9 * scale)
    q, _ = torch.linalg.qr(random_features(d, d, 8))  # an orthogonal (D, D)
    assert frechet_distance(a @ q, b @ q) == pytest.approx(frechet_distance(a, b), rel=1e-7, abs=1e-9 * scale)
    assert frechet_distance(a, b) >= 0.0


def test_frechet_takes_numpy_and_float32_and_constant_features():
    a, b = random_features(40, 5, 9), random_features(40, 5, 10)
    assert frechet_distance(a.numpy(), b.float()) == pytest.approx(frechet_distance(a, b), rel=1e-5)
    ones = torch.ones(10, 4, dtype=torch.float64)
    assert frechet_distance(ones, ones + 2.0) == pytest.approx(16.0, rel=1e-12)  # zero covariances


@pytest.mark.parametrize("bad,error,words", [
    ([[0.0, 1.0], [1.0, 0.0]], TypeError, "features_a must be a tensor"),
    (torch.zeros(5), ValueError, "features_a must have shape (N, D)"),
    (torch.zeros(1, 3), ValueError, "N >= 2"),
    (torch.full((4, 3), math.nan), ValueError, "NaN"),
    (torch.zeros(4, 3, dtype=torch.bool), TypeError, "real numbers"),
    (torch.zeros(4, 2), ValueError, "D=2"),
])
def test_frechet_rejects_bad_features_naming_them(bad, error, words):
    with pytest.raises(error) as info:
        frechet_distance(bad, torch.zeros(4, 3))
    assert words in str(info.value)


# --- the classifier two-sample test: mechanics -------------------------------------------------------------


def test_c2st_is_near_chance_on_one_distribution_and_certain_on_two():
    one = random_features(400, 4, 11)  # one distribution, two samples
    same = classifier_two_sample_test(one[:200], one[200:])
    assert same.low <= 0.5 <= same.high and same.p_value > 0.01
    far = classifier_two_sample_test(random_features(200, 4, 12), random_features(200, 4, 12) + 5.0)
    assert far.accuracy == 1.0 and far.p_value == pytest.approx(2.0 ** -far.n_test) and far.n_test == 200
    assert far.low < far.accuracy <= far.high


def test_c2st_interval_and_p_value_are_the_wilson_interval_and_binomial_tail():
    r = classifier_two_sample_test(random_features(60, 3, 13), random_features(60, 3, 14) + 0.5)
    correct, n, z = round(r.accuracy * r.n_test), r.n_test, 1.959964
    tail = sum(math.comb(n, k) for k in range(correct, n + 1)) / 2**n
    assert r.p_value == pytest.approx(tail, rel=1e-12)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (r.low, r.high) == pytest.approx((centre - half, centre + half), rel=1e-12)


def test_c2st_is_deterministic_under_its_seed_and_rejects_unequal_sets():
    a, b = random_features(40, 3, 15), random_features(40, 3, 16)
    assert classifier_two_sample_test(a, b, seed=3) == classifier_two_sample_test(a, b, seed=3)
    with pytest.raises(ValueError, match="same shape"):
        classifier_two_sample_test(a, b[:30])
    with pytest.raises(ValueError, match="N >= 4"):
        classifier_two_sample_test(a[:3], b[:3])
    with pytest.raises(TypeError, match="seed"):
        classifier_two_sample_test(a, b, seed=1.5)


# --- corruptions --------------------------------------------------------------------------------------------


def test_blur_keeps_flat_videos_and_totals_and_smooths_edges():
    flat = torch.full((2, 3, 2, 7, 9), 0.25)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat)
    step = torch.zeros(1, 1, 1, 1, 40)
    step[..., 20:] = 1.0
    blurred = gaussian_blur(step, 2.0)[0, 0, 0, 0]
    assert blurred[19] == pytest.approx(0.5 - 0.5 * math.erf(0.5 / (2.0 * math.sqrt(2))), abs=2e-3)  # Φ(−½/σ)
    assert torch.all(blurred[1:] >= blurred[:-1])
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(step, 0.0)


def test_shuffle_permutes_each_videos_own_frames():
    videos = torch.arange(2 * 1 * 6, dtype=torch.float32).reshape(2, 1, 6, 1, 1).expand(2, 1, 6, 2, 3)
    shuffled = shuffle_frames(videos, seed=4)
    for b in range(2):
        order = shuffled[b, 0, :, 0, 0]
        assert sorted(order.tolist()) == videos[b, 0, :, 0, 0].tolist()
        assert torch.equal(shuffled[b, :, :, 1, 2], shuffled[b, :, :, 0, 0])
    assert not torch.equal(shuffled, videos) and torch.equal(shuffled, shuffle_frames(videos, seed=4))


# --- the feature network ------------------------------------------------------------------------------------


def test_target_maps_show_the_front_objects_kind_velocity_and_spin():
    """At an object's centre pixel the maps hold its kind's code, its velocity after bounces (whose size
    bounces keep) and its spin; over 60 frames every object bounces at least once."""
    data = DataConfig(min_objects=1, max_objects=1, shapes=("disc", "triangle", "square"))
    codes = {0: (1, 1, 1), 2: (-1, 1, -1), 3: (-1, -1, 1)}
    scenes = sample_scenes(data, range(6), split="val")
    frames, side = 60, 32
    maps = target_maps(scenes, frames, side, side, data)  # (6, 6, 60, 32, 32)
    assert maps.shape == (6, 6, frames, side, side)
    centres = trajectory(scenes, frames)[:, 0]  # (B, T, 2)
    pixel = (centres * side).floor().long()  # (B, T, 2): the pixel holding the centre
    b, t = torch.meshgrid(torch.arange(6), torch.arange(frames), indexing="ij")
    at_centre = maps[b, :, t, pixel[..., 0], pixel[..., 1]]  # (B, T, 6)
    kind = torch.tensor([codes[int(k)] for k in scenes.kind[:, 0]], dtype=torch.float32)
    assert torch.allclose(at_centre[..., :3], kind[:, None].expand(-1, frames, -1))
    speed = scenes.velocity[:, 0].abs() / data.speed[1]  # (B, 2): |dy|, |dx| survive bounces
    assert torch.allclose(at_centre[..., 3:5].abs(), speed[:, None].float().expand(-1, frames, -1), atol=1e-4)
    step = centres[:, 1:] - centres[:, :-1]  # (B, T − 1, 2)
    sign = torch.sign(at_centre[:, :-1, 3:5])
    smooth = torch.sign(step[:, 1:]) == torch.sign(step[:, :-1])  # no bounce next to frame t
    assert torch.equal(sign[:, 1:][smooth], torch.sign(step[:, :-1])[smooth].float())
    assert (~smooth).flatten(1).any(dim=1).all()  # every scene bounces: the signs are not all the first ones
    assert torch.allclose(at_centre[..., 5], (scenes.spin[:, :1] / data.spin).float().expand(-1, frames))
    background = maps[..., :3].abs().amax(dim=1) == 0  # corners far from the only object
    assert background.any()


@pytest.mark.parametrize("size", [(1, 5, 7), (3, 16, 9), (8, 16, 16), (5, 33, 20)])
def test_features_take_videos_of_any_size(size):
    net = FeatureNet(channels=1, width=4)
    features = video_features(net, torch.zeros(3, 1, *size), batch_size=2)
    assert features.shape == (3, net.dim) and features.dtype == torch.float64
    assert torch.isfinite(features).all()
    if size[0] == 1:
        assert torch.all(features[:, 3 * net.width:] == 0)  # no frame-to-frame change in one frame


def test_training_is_deterministic_and_saves_and_caches(tmp_path, monkeypatch):
    one, two = train_feature_net(TINY), train_feature_net(TINY)
    assert all(torch.equal(one.state_dict()[k], v) for k, v in two.state_dict().items())
    other = train_feature_net(dataclasses.replace(TINY, seed=1))
    assert not torch.equal(one.readout.weight, other.readout.weight)
    save_feature_net(one, tmp_path / "net.pt")
    back = load_feature_net(tmp_path / "net.pt")
    videos = torch.rand(2, 3, 4, 8, 8) * 2 - 1
    assert torch.equal(video_features(back, videos), video_features(one, videos))
    assert back.config == TINY and FeatureConfig.from_dict(TINY.to_dict()) == TINY
    first = cached_feature_net(TINY, tmp_path / "cache")
    monkeypatch.setattr("cogpe.quality.train_feature_net", lambda config: pytest.fail("trained again"))
    second = cached_feature_net(TINY, tmp_path / "cache")
    assert torch.equal(first.readout.weight, second.readout.weight) and len(list((tmp_path / "cache").iterdir())) == 1
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a feature network"):
        load_feature_net(tmp_path / "other.pt")


@pytest.mark.parametrize("kwargs,error,words", [
    ({"data": "default"}, TypeError, "data must be a DataConfig"),
    ({"sizes": ()}, TypeError, "sizes must be a non-empty tuple"),
    ({"sizes": ((8, 16),)}, ValueError, "sizes[0]"),
    ({"videos": 0}, ValueError, "videos"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"width": 5}, ValueError, "width=5"),
    ({"seed": -1}, ValueError, "seed"),
])
def test_feature_config_rejects_bad_fields_naming_them(kwargs, error, words):
    with pytest.raises(error) as info:
        FeatureConfig(**kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize("bad,error,words", [
    (np.zeros((2, 3, 4, 8, 8)), TypeError, "videos must be a tensor"),
    (torch.zeros(3, 4, 8, 8), ValueError, "(B, C, T, H, W)"),
    (torch.zeros(2, 1, 4, 8, 8), ValueError, "1 channels"),
    (torch.zeros(2, 3, 4, 8, 8, dtype=torch.uint8), TypeError, "floating point"),
])
def test_video_features_reject_bad_videos_naming_them(bad, error, words):
    with pytest.raises(error) as info:
        video_features(FeatureNet(width=4), bad)
    assert words in str(info.value)
    with pytest.raises(TypeError, match="net must be a FeatureNet"):
        video_features(torch.nn.Identity(), torch.zeros(2, 3, 4, 8, 8))  # type: ignore[arg-type]


# --- validation: the metric on data and on corrupted data ---------------------------------------------------

BLURS = (1 / 32, 1 / 16, 1 / 8)  # Gaussian σ as a fraction of the frame side: 0.5, 1, 2 pixels at 16×16


@pytest.fixture(scope="module")
def net() -> FeatureNet:
    """The default feature network, trained once for this module (about 20 s on one busy CPU thread)."""
    return train_feature_net()


@pytest.fixture(scope="module", params=SIZES, ids=lambda s: "x".join(map(str, s)))
def features(request, net):
    """Features ``(N, D)`` of N ``"val"`` videos (``"reference"``) and of N videos of each kind compared
    with them: ``"test"`` videos, other ``"val"`` videos, and corruptions of the ``"test"`` videos."""
    frames, height, width = request.param
    dataset = VideoDataset(DataConfig(), frames, height, width, length=2 * N, split="val")
    test = VideoDataset(DataConfig(), frames, height, width, length=N, split="test").batch(range(N))
    g = torch.Generator().manual_seed(1)
    sets = {
        "reference": dataset.batch(range(N)),
        "test": test,
        "other val": dataset.batch(range(N, 2 * N)),
        **{f"blur {s:g}": gaussian_blur(test, s * height) for s in BLURS},
        "shuffled": shuffle_frames(test),
        "frozen": test[:, :, :1].expand_as(test),  # the first frame held
        "noise": torch.rand(test.shape, generator=g) * 2 - 1,
        "noisy 0.1": test + 0.1 * torch.randn(test.shape, generator=g),
        "noisy 0.3": test + 0.3 * torch.randn(test.shape, generator=g),
    }
    return {name: video_features(net, videos) for name, videos in sets.items()}


def distances(features) -> dict[str, float]:
    return {name: frechet_distance(features["reference"], f) for name, f in features.items() if name != "reference"}


def test_two_data_splits_are_close_and_noise_is_far(features):
    """Measured d² from the reference (8×16×16 | 8×32×32): test split 0.00074 | 0.00087, other val
    videos 0.00064 | 0.00073 (the floor: two finite samples of one distribution); uniform noise
    0.71 | 1.05 — about a thousand times the floor."""
    d = distances(features)
    floor = max(d["test"], d["other val"])
    assert floor < 0.003
    assert d["noise"] > 100 * floor


def test_blur_raises_the_distance_with_its_strength(features):
    """Measured d² for σ = 1/32, 1/16, 1/8 of the frame: 0.0016, 0.0087, 0.033 at 8×16×16 and 0.0035,
    0.018, 0.065 at 8×32×32 (floor 0.0007–0.0009): monotone; 1/16 of the frame is 12–20× the floor."""
    d = distances(features)
    floor = max(d["test"], d["other val"])
    blurred = [d[f"blur {s:g}"] for s in BLURS]
    assert blurred[0] < blurred[1] < blurred[2]
    assert blurred[0] > floor and blurred[1] > 3 * floor


def test_the_distance_sees_motion(features):
    """Every frame a data frame, the motion wrong: shuffled frames measure 0.0068 | 0.013 and the first
    frame held 0.011 | 0.026 (8×16×16 | 8×32×32; floor 0.0007–0.0009)."""
    d = distances(features)
    floor = max(d["test"], d["other val"])
    assert d["shuffled"] > 3 * floor
    assert d["frozen"] > 5 * floor


def test_the_distance_sees_noise_in_the_videos(features):
    """Gaussian noise of σ 0.1 (a 20th of the value range) measures 0.0012 | 0.0014 — barely above the
    floor — and of σ 0.3 0.021 | 0.027 (8×16×16 | 8×32×32). The C2ST sees the weak noise better."""
    d = distances(features)
    floor = max(d["test"], d["other val"])
    assert d["noisy 0.3"] > 10 * floor and d["noisy 0.3"] > d["noisy 0.1"]


def test_c2st_cannot_tell_data_from_data_and_tells_corruptions(features):
    """Measured held-out accuracy (8×16×16 | 8×32×32, 256 test features): test split 0.49 | 0.48, other
    val videos 0.53 | 0.50; blur 1/16 of the frame 0.82 | 0.95, shuffled frames 0.95 | 0.98, frozen
    0.996 | 0.992, noise σ 0.1 0.84 | 0.95, uniform noise 1.0."""
    ref = features["reference"]
    for name in ("test", "other val"):
        r = classifier_two_sample_test(ref, features[name])
        assert abs(r.accuracy - 0.5) < 0.1 and r.p_value > 1e-3, (name, r)
    for name, least in (("blur 0.0625", 0.7), ("shuffled", 0.85), ("frozen", 0.95), ("noise", 0.99),
                        ("noisy 0.1", 0.7)):
        r = classifier_two_sample_test(ref, features[name])
        assert r.accuracy > least and r.p_value < 1e-6, (name, r)


def test_video_level_helpers_embed_then_compare(net):
    videos = VideoDataset(DataConfig(), 8, 16, 16, length=24, split="val").batch(range(24))
    other = gaussian_blur(videos, 1.0)
    fa, fb = video_features(net, videos), video_features(net, other, batch_size=5)
    assert frechet_video_distance(videos, other, net) == pytest.approx(frechet_distance(fa, fb), rel=1e-9)
    assert video_two_sample_test(videos, other, net, seed=2) == classifier_two_sample_test(fa, fb, seed=2)


def test_constructors_reject_bad_arguments_naming_them():
    with pytest.raises(ValueError, match="channels must be 3"):
        FeatureNet(channels=2)
    with pytest.raises(ValueError, match="width=7"):
        FeatureNet(width=7)
    with pytest.raises(TypeError, match="data must be a DataConfig"):
        target_maps(sample_scenes(DataConfig(), [0]), 2, 8, 8, data=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="config must be a FeatureConfig"):
        train_feature_net({"steps": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="net must be a FeatureNet"):
        save_feature_net(torch.nn.Linear(2, 2), "unused.pt")  # type: ignore[arg-type]
