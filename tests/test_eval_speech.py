"""gen_media.eval: the digit classifier on log-mels, inception score, Frechet distance, checkpoints.

The classifier is trained once (module fixture, ~1-2 s) on a synthetic 10-class log-mel set: each class is a
pair of formant-like tracks with its own start and end bands, spoken at a random time, length, loudness and
small band offset, over a noisy silence floor.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from gen_media.eval import (
    DigitClassifier,
    augment,
    classifier_scores,
    embed,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    inception_score,
    load_classifier,
    predict,
    save_classifier,
    train_classifier,
)

N_MELS, N_FRAMES, N_CLASSES = 32, 32, 10
FLOOR = math.log(1e-5)
SMALL = dict(channels=(48, 48), embed_dim=32)  # a smaller network than the default keeps the tests fast


def synthetic_mels(n: int, seed: int, band_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(n, N_MELS, N_FRAMES)`` float32 log-mels and ``(n,)`` int64 labels, classes in turn."""
    table = np.random.default_rng(1234).uniform(3, N_MELS - 4, size=(N_CLASSES, 2, 2))  # (class, track, start|end)
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % N_CLASSES
    mels = FLOOR + 0.3 * rng.standard_normal((n, N_MELS, N_FRAMES))
    bands = np.arange(N_MELS)[:, None]
    for k, c in enumerate(labels):
        length = rng.integers(14, 22)
        onset = rng.integers(0, N_FRAMES - length + 1)
        level = rng.uniform(-2.0, 1.0)
        shift = rng.uniform(-1.0, 1.0) + band_offset
        t = np.linspace(0.0, 1.0, length)
        word = np.full((N_MELS, length), -np.inf)
        for start, end in table[c]:
            centre = start + (end - start) * t + shift  # (length,)
            word = np.maximum(word, level - 0.5 * ((bands - centre) / 1.2) ** 2)
        seg = mels[k, :, onset:onset + length]
        mels[k, :, onset:onset + length] = np.maximum(seg, word)
    return mels.astype(np.float32), labels


@pytest.fixture(scope="module")
def data():
    train = synthetic_mels(600, seed=0)
    test = synthetic_mels(300, seed=1)
    return train, test


@pytest.fixture(scope="module")
def trained(data):
    (xtr, ytr), (xte, yte) = data
    model, acc = train_classifier(xtr, ytr, xte, yte, steps=150, batch_size=32, seed=0, progress=False, **SMALL)
    return model, acc


def test_train_classifier_generalises(data, trained):
    (xtr, _), (xte, yte) = data
    model, acc = trained
    assert acc >= 0.95, acc
    assert not model.training
    assert model.meta["val_accuracy"] == acc and model.meta["steps"] == 150
    scores = classifier_scores(model, xte, yte, reference_embeddings=embed(model, xtr))
    assert scores["n"] == len(xte)
    assert scores["accuracy"] == pytest.approx(acc)
    assert len(scores["per_class_accuracy"]) == N_CLASSES and min(scores["per_class_accuracy"]) > 0.8
    assert sum(scores["class_histogram"]) == len(xte)
    assert scores["inception_score"] > 8.0  # confident and balanced on real held-out data
    assert 0.0 <= scores["frechet_distance"] < 10.0


def test_scores_separate_good_from_bad(data, trained):
    (xtr, _), (xte, yte) = data
    model, _ = trained
    ref = gaussian_stats(embed(model, xtr))  # (mean, cov) works as the reference too
    real = classifier_scores(model, xte, yte, reference_embeddings=ref)
    # collapsed: every clip is the same digit -> IS near 1 and a large FD
    one = xte[yte == 3]
    collapsed = classifier_scores(model, one, np.full(len(one), 3), reference_embeddings=ref)
    assert collapsed["accuracy"] > 0.9
    assert collapsed["inception_score"] < 1.5
    assert collapsed["frechet_distance"] > 2 * real["frechet_distance"]
    # wrong conditioning labels: chance accuracy, same IS and FD
    wrong = classifier_scores(model, xte, (yte + 1) % N_CLASSES, reference_embeddings=ref)
    assert wrong["accuracy"] < 0.1
    assert wrong["inception_score"] == pytest.approx(real["inception_score"])
    # a shifted distribution (formants moved up by 4 bands) is farther from the real one
    xsh, ysh = synthetic_mels(300, seed=2, band_offset=4)
    shifted = classifier_scores(model, xsh, ysh, reference_embeddings=ref)
    assert shifted["frechet_distance"] > 2 * real["frechet_distance"]
    # gain does not matter (utterance referenced to its maximum), noise only a little
    louder = classifier_scores(model, xte + 1.5, yte, reference_embeddings=ref)
    assert louder["accuracy"] == pytest.approx(real["accuracy"])
    noisy = classifier_scores(model, xte + 0.3 * np.random.default_rng(5).standard_normal(xte.shape).astype(np.float32),
                              yte)
    assert noisy["accuracy"] > 0.9 and "frechet_distance" not in noisy


def test_inception_score_on_probabilities():
    eye = np.eye(N_CLASSES)
    confident = np.tile(eye, (20, 1))  # (200, 10): one-hot, every class equally often
    assert inception_score(confident)[0] == pytest.approx(10.0, rel=1e-6)
    assert inception_score(np.tile(eye[4], (50, 1)))[0] == pytest.approx(1.0)  # collapsed
    assert inception_score(np.full((50, N_CLASSES), 0.1))[0] == pytest.approx(1.0)  # never confident
    half = np.tile(eye[:5], (10, 1))  # five classes used
    assert inception_score(half)[0] == pytest.approx(5.0, rel=1e-6)
    soft = 0.9 * confident + 0.1 / N_CLASSES  # confident-ish: between the extremes
    assert 1.0 < inception_score(soft)[0] < 10.0
    mean, std = inception_score(confident, splits=4)
    assert mean == pytest.approx(10.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(np.random.default_rng(0).standard_normal((8, 10)) + 5)  # logits, not probabilities
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        inception_score(np.ones(10) / 10)
    with pytest.raises(ValueError, match="splits"):
        inception_score(confident, splits=0)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    d = 8
    a = rng.standard_normal((4000, d))
    b = rng.standard_normal((4000, d))
    same = frechet_distance(a, b)
    assert 0.0 <= same < 0.05
    shifted = frechet_distance(a, b + 1.0)  # mean moved by 1 in every dimension: |dmu|^2 = d
    assert shifted == pytest.approx(d, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # closed form for diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    v1, v2 = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance_from_stats(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(want, rel=1e-9)
    # rotated (non-diagonal) covariances: FD is invariant to a common rotation
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    got = frechet_distance_from_stats(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2, q @ np.diag(v2) @ q.T)
    assert got == pytest.approx(want, rel=1e-6)
    # fewer samples than dimensions: singular covariances still give a finite, non-negative value quietly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = frechet_distance(rng.standard_normal((5, 16)), rng.standard_normal((6, 16)))
    assert math.isfinite(small) and small >= 0.0
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, b[:, :4])
    with pytest.raises(ValueError, match="sigma2"):
        frechet_distance_from_stats(mu1, np.diag(v1), mu2, np.eye(d + 1))


def test_save_load_round_trip(tmp_path, data, trained):
    (_, _), (xte, _) = data
    model, _ = trained
    path = save_classifier(tmp_path / "sub" / "clf.pt", model, label_names=[str(i) for i in range(N_CLASSES)])
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    loaded = load_classifier(path)
    assert isinstance(loaded, DigitClassifier) and not loaded.training
    assert loaded.config == model.config
    assert loaded.meta["label_names"][3] == "3" and loaded.meta["val_accuracy"] == model.meta["val_accuracy"]
    x = torch.from_numpy(xte[:64])
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
        assert torch.equal(loaded.embed(x), model.embed(x))
    assert torch.equal(loaded.mel_mean, model.mel_mean) and torch.equal(loaded.mel_std, model.mel_std)
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a digit-classifier checkpoint"):
        load_classifier(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="save_classifier"):
        load_classifier(tmp_path / "missing.pt")


def test_shape_and_label_errors(data, trained):
    (xtr, ytr), (xte, yte) = data
    model, _ = trained
    expected = r"expected log-mels of shape \(N, n_mels=32, n_frames=32\), got \(4, 40, 32\)"
    with pytest.raises(ValueError, match=expected):
        model(torch.zeros(4, 40, 32))
    with pytest.raises(ValueError, match=r"got \(32, 32\)"):
        model.embed(torch.zeros(32, 32))
    with pytest.raises(ValueError, match=r"n_frames=32\), got \(4, 32, 63\)"):
        classifier_scores(model, np.zeros((4, 32, 63), np.float32))
    with pytest.raises(ValueError, match=r"labels: expected shape \(300,\)"):
        classifier_scores(model, xte, yte[:-1])
    with pytest.raises(ValueError, match=r"values in \[0, 10\)"):
        classifier_scores(model, xte, yte + 5)
    with pytest.raises(TypeError, match="integer class indices"):
        classifier_scores(model, xte, yte.astype(np.float32))
    with pytest.raises(ValueError, match=r"reference_embeddings: expected shape \(M, embed_dim=32\)"):
        classifier_scores(model, xte, reference_embeddings=np.zeros((10, 7)))
    with pytest.raises(ValueError, match=r"val_mels: expected log-mels of shape \(N, n_mels=32, n_frames=32\)"):
        train_classifier(xtr, ytr, xte[:, :, :20], yte, steps=1)
    with pytest.raises(ValueError, match="both val_mels and val_labels"):
        train_classifier(xtr, ytr, xte, None, steps=1)
    with pytest.raises(ValueError, match=r"train_mels: expected log-mels of shape \(N, n_mels, n_frames\)"):
        train_classifier(xtr[0], ytr, steps=1)
    with pytest.raises(ValueError, match="kernel_size"):
        DigitClassifier(32, 32, 10, kernel_size=4)


def test_training_is_seeded_and_leaves_global_rng_alone(data):
    (xtr, ytr), (xte, _) = data
    torch.manual_seed(123)
    before = torch.get_rng_state()
    kw = dict(steps=3, batch_size=16, progress=False, **SMALL)
    m1, acc1 = train_classifier(xtr, ytr, seed=7, **kw)
    assert torch.equal(torch.get_rng_state(), before)
    m2, _ = train_classifier(xtr, ytr, seed=7, **kw)
    m3, _ = train_classifier(xtr, ytr, seed=8, **kw)
    x = torch.from_numpy(xte[:16])
    with torch.no_grad():
        assert torch.equal(m1(x), m2(x))
        assert not torch.equal(m1(x), m3(x))
    assert math.isnan(acc1)


def test_predict_is_batch_consistent(data, trained):
    (_, _), (xte, _) = data
    model, _ = trained
    whole = predict(model, xte[:40])
    pieces = torch.cat([predict(model, xte[i:min(i + 7, 40)], batch_size=3) for i in range(0, 40, 7)])
    torch.testing.assert_close(pieces, whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(whole.sum(dim=1), torch.ones(40))
    emb = embed(model, xte[:40], batch_size=9)
    assert emb.shape == (40, model.config.embed_dim) and emb.dtype == np.float64


def test_augment_keeps_shape_and_is_seeded():
    x = torch.from_numpy(synthetic_mels(8, seed=3)[0])
    a = augment(x, torch.Generator().manual_seed(0))
    b = augment(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    # a pure time shift moves the frames and fills the gap with the clip's floor
    g = torch.Generator().manual_seed(1)
    s = augment(x, g, max_shift=4, max_freq_shift=0, blur=0.0, noise_std=0.0, time_mask=0, freq_mask=0)
    for k in range(len(x)):
        matches = [d for d in range(-4, 5)
                   if torch.equal(s[k, :, max(d, 0):N_FRAMES + min(d, 0)], x[k, :, max(-d, 0):N_FRAMES - max(d, 0)])]
        assert matches, k
