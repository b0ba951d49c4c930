"""bf16 where the CPU has it: the choice of ``precision: auto``, and bf16 scores against fp32 on a trained
checkpoint (evaluation and predict)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from ssat_helpers import sample_paths, trained_checkpoint

from deepfake_ssat import runtime
from deepfake_ssat.cli import main
from deepfake_ssat.inference import PredictOptions, Predictor

# bf16 keeps 8 bits of mantissa: a probability moves by a few 1e-3 through a small ViT; 0.01 is the bound
# the tests hold bf16 video scores to (measured on the test checkpoint: see test output on failure).
BF16_TOLERANCE = 0.01


@pytest.fixture
def cpu_kind(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) native bf16 matrix units."""
    def set_kind(native: bool) -> None:
        monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    return set_kind


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, None)])
def test_auto_precision_is_bf16_exactly_on_cpus_with_native_bf16(cpu_kind, native, expected):
    cpu_kind(native)
    cpu = torch.device("cpu")
    assert runtime.resolve_amp_dtype("auto", cpu) is expected
    assert runtime.local_runtime("cpu").amp_dtype is expected
    assert runtime.resolve_amp_dtype("fp32", cpu) is None  # an explicit choice always wins
    assert runtime.resolve_amp_dtype("bf16", cpu) is torch.bfloat16


@pytest.mark.parametrize(("probes", "flags", "native"), [
    ((False, False), {"avx2", "fma"}, False),  # an AVX2-only x86 CPU
    ((False, False), {"avx512f", "avx512_bf16"}, True),  # Cooper Lake: AVX512-BF16 without AMX
    ((True, False), set(), True),  # torch's CPUID probe finds AMX tiles
    ((False, False), {"asimd", "bf16"}, True),  # Arm with the BF16 extension
])
def test_native_bf16_is_detected_from_the_cpu_not_from_a_model_name(monkeypatch, probes, flags, native):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: probes[0], raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: probes[1], raising=False)
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: flags)
    runtime.cpu_has_native_bf16.cache_clear()
    try:
        assert runtime.cpu_has_native_bf16() is native
    finally:
        runtime.cpu_has_native_bf16.cache_clear()


def test_bf16_units_are_named_as_the_cpu_reports_them(monkeypatch):
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})
    assert runtime.cpu_bf16_units() == ["amx_bf16", "avx512_bf16"]
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "fma"})
    assert runtime.cpu_bf16_units() == []


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return trained_checkpoint(tmp_path_factory.getbasetemp() / "ssat_ckpt")


def _eval_scores(ckpt, faces, out, precision: str) -> tuple[dict[str, float], dict]:
    assert main(["eval", "--checkpoint", str(ckpt), "--data-root", str(faces), "--split", "test", "--device", "cpu",
                 "--precision", precision, "--out", str(out), "--json", str(out / "report.json")]) == 0
    with open(out / "predictions.csv", newline="") as f:
        scores = {r["video_id"]: float(r["fake_probability"]) for r in csv.DictReader(f) if r["status"] == "ok"}
    return scores, json.loads((out / "report.json").read_text())["overall"]


def test_bf16_video_scores_follow_fp32_and_rank_videos_alike(ckpt, tmp_path, capsys):
    _, faces = sample_paths()
    fp32, m32 = _eval_scores(ckpt, faces, tmp_path / "fp32", "fp32")
    bf16, m16 = _eval_scores(ckpt, faces, tmp_path / "bf16", "bf16")
    capsys.readouterr()
    assert fp32.keys() == bf16.keys() and len(fp32) >= 4
    diff = max(abs(fp32[v] - bf16[v]) for v in fp32)
    assert diff < BF16_TOLERANCE, f"largest bf16 − fp32 video score difference {diff:.4f}"
    assert fp32 != bf16  # the bf16 run really ran in bf16
    assert m16["auc"] == pytest.approx(m32["auc"])
    assert m16["n"] == m32["n"]


def test_predict_in_bf16_follows_fp32_segment_by_segment(ckpt):
    raw, _ = sample_paths()
    video = sorted(raw.rglob("*.mp4"))[0]
    runs = {p: Predictor.from_checkpoint(ckpt, device="cpu", options=PredictOptions(precision=p)).predict(video)
            for p in ("fp32", "bf16")}
    a, b = runs["fp32"], runs["bf16"]
    assert a.counts["segments"] == b.counts["segments"] > 0
    seg = np.array([[x.fake_prob, y.fake_prob] for x, y in zip(a.segments, b.segments, strict=True)])
    assert np.abs(seg[:, 0] - seg[:, 1]).max() < BF16_TOLERANCE
    assert b.score == pytest.approx(a.score, abs=BF16_TOLERANCE)
