"""Self-blended video pseudo-fakes: the blend stays inside its mask, follows the landmarks, uses one draw
per clip, reproduces from a seed, and makes up the configured share of the training clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from ssat_helpers import sample_faces

from deepfake_ssat.card import card_summary
from deepfake_ssat.config import PseudoFakeConfig, load_config
from deepfake_ssat.data.pseudo_fakes import blend_mask, draw, self_blend
from deepfake_ssat.models import get_spec
from deepfake_ssat.tasks import build_task

# A face's five points (eyes, nose, mouth corners) in a 96-px frame.
LANDMARKS = np.array([[36, 40], [60, 40], [48, 52], [39, 64], [57, 64]], np.float32)


def _clip(t: int = 6, shift: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A textured 96-px clip panning ``shift`` px per frame, its face points fixed in the crop."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (96, 160, 3), dtype=np.uint8), (0, 0), 2)
    frames = np.stack([base[:, k * shift:k * shift + 96] for k in range(t)])
    lms = np.repeat(LANDMARKS[None], t, axis=0)  # the face stays where it is in the crop; the scene moves
    return np.ascontiguousarray(frames), lms


def test_pixels_outside_the_mask_are_unchanged_and_inside_they_change():
    frames, lms = _clip()
    cfg = PseudoFakeConfig(kind="sbv", opacity=(1.0, 1.0))
    fake, masks = self_blend(frames, lms, draw(cfg, np.random.default_rng(1)))
    outside = masks == 0
    assert outside.any() and (masks > 0.99).any()
    assert np.array_equal(fake[outside], frames[outside])  # bit for bit
    inside = masks > 0.99
    assert np.abs(fake[inside].astype(int) - frames[inside]).mean() > 2  # the blended copy differs


def test_the_mask_follows_the_landmarks():
    p = draw(PseudoFakeConfig(kind="sbv"), np.random.default_rng(2))
    a = blend_mask((96, 96), LANDMARKS, p)
    b = blend_mask((96, 96), LANDMARKS + [10, 4], p)
    ya, xa = np.nonzero(a > 0.5)
    yb, xb = np.nonzero(b > 0.5)
    assert xb.mean() - xa.mean() == pytest.approx(10, abs=0.6) and yb.mean() - ya.mean() == pytest.approx(4, abs=0.6)
    assert abs(int((a > 0.5).sum()) - int((b > 0.5).sum())) < 0.03 * (a > 0.5).sum()  # the same shape, moved


def test_every_frame_of_a_clip_uses_the_same_draw_and_a_seed_reproduces_it():
    frames = np.repeat(_clip(1)[0], 5, axis=0)  # five identical frames...
    lms = np.repeat(LANDMARKS[None], 5, axis=0)  # ...with identical landmarks
    cfg = PseudoFakeConfig(kind="sbv")
    fake, masks = self_blend(frames, lms, draw(cfg, np.random.default_rng(3)))
    assert all(np.array_equal(fake[0], f) for f in fake) and all(np.array_equal(masks[0], m) for m in masks)
    again, _ = self_blend(frames, lms, draw(cfg, np.random.default_rng(3)))
    other, _ = self_blend(frames, lms, draw(cfg, np.random.default_rng(4)))
    assert np.array_equal(fake, again) and not np.array_equal(fake, other)
    # jitter: a per-frame wobble of the mask, the temporal artefact of the option
    jittered, jm = self_blend(frames, lms, draw(cfg, np.random.default_rng(3)), jitter=0.05,
                              rng=np.random.default_rng(5))
    assert not all(np.array_equal(jm[0], m) for m in jm)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return sample_faces(tmp_path_factory.getbasetemp() / "ssat_ckpt")


def _task(faces, share: float):
    cfg = load_config(overrides=["data.dataset=dfdc", f"data.root={faces}", "data.num_workers=0",
                                 "model.name=test_videomae", "data.augment.enabled=false",
                                 "data.pseudo_fakes.kind=sbv", f"data.pseudo_fakes.share={share}"])
    return build_task(cfg, get_spec("test_videomae"))


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_the_synthetic_share_is_what_the_config_says_and_labels_count_it(faces, share):
    task = _task(faces, share)
    ds = task.train_set
    n_pseudo = sum(1 for _, pseudo in ds.items if pseudo)
    assert n_pseudo / len(ds) == pytest.approx(share, abs=0.5 / len(ds))
    assert list(ds.labels) == [1 if pseudo else ds.rows[i]["label"] for i, pseudo in ds.items]
    assert all(ds.rows[i]["label"] == 0 for i, pseudo in ds.items if pseudo)  # made from real tracks only
    k = next(k for k, (_, pseudo) in enumerate(ds.items) if pseudo)
    x, y = ds[k]
    assert y == 1 and x.shape == (3, 4, 32, 32)
    # validation: a fixed pseudo-fake twin per real track, the same every time it is read
    twins = [r for r in task.val_set.rows if r.get("pseudo_seed") is not None]
    assert len(twins) == sum(1 for r in task.val_set.rows if r["label"] == 0 and "pseudo_seed" not in r)
    i = next(i for i, (t, _) in enumerate(task.val_set.segments) if task.val_set.rows[t].get("pseudo_seed"))
    assert task.val_set[i][1] == 1 and np.array_equal(task.val_set[i][0], task.val_set[i][0])
    # the detector card says which fakes training saw: they are not in its video counts
    card = task.checkpoint_extras()["card"]
    assert card["pseudo_fakes"] == {"kind": "sbv", "share": share}
    line = card_summary(card)
    assert f"plus self-blended pseudo-fakes (sbv) of its reals as {share:.0%} of the training clips" in line


def test_data_without_landmarks_names_the_preprocess_command(faces, tmp_path):
    from preprocessing.manifest import read_manifest, write_manifest

    old = tmp_path / "old"
    old.mkdir()
    (old / "clips").symlink_to(faces / "clips")
    (old / ".state").symlink_to(faces / ".state")
    write_manifest(old / "manifest.jsonl", [{**r, "landmarks": False} for r in read_manifest(faces / "manifest.jsonl")])
    with pytest.raises(ValueError, match=r"before landmarks were kept.*deepfake-ssat preprocess --dataset"):
        _task(old, 0.5)
