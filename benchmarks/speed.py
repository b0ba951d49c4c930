"""Speed of deepfake-ssat in one run, every figure measured here and the machine named.

Rows (CPU; the GPU rows run too when CUDA is present):
- the machine's own matmul rate (torch GEMM, sizes 512-3072), the yardstick of every utilisation figure;
- an SSAT train step of ours against a Hugging Face transformers reference of the same math on the
  same shapes (classification pass + masked reconstruction pass sharing one encoder, 0.1·CE + 0.9·MSE,
  AdamW step), with HF's SDPA and eager attention, rounds interleaved so machine noise hits all alike;
- the SSAT / supervised step-time ratio, and achieved FLOP/s ÷ the matmul rate (FLOPs counted by
  torch.utils.flop_counter);
- inference seconds per 16-frame segment in fp32 and with int8 dynamic quantisation of the Linear
  layers, with the largest logit difference;
- fp32 against bf16 autocast (what ``precision: auto`` picks on CPUs with native bf16 units): the matmul
  rate, the SSAT train step (``videomae_small`` and the experiments' ``videomae_tiny`` 8×112²), inference,
  all interleaved, with the largest probability difference (``--only precision`` runs these alone);
- clips/s of one loader worker from stored face-track clips, with and without the DFDC augmentations;
- predict end to end on a 10-second 720p one-face clip, with its stages;
- the console script answering ``--help`` and an argument error, in a fresh interpreter;
- GPU (CUDA): ``videomae_base`` 16×224² SSAT at bf16: clips/s, FLOP utilisation against the GPU's
  measured bf16 matmul rate, the SDPA kernel used, peak memory, loader workers needed to feed it.

    python benchmarks/speed.py                  # everything (about 10 minutes on a 2-core CPU)
    python benchmarks/speed.py --quick          # tiny shapes: checks that every row runs
    python benchmarks/speed.py --only precision # the fp32 / bf16 rows alone (about 4 minutes)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deepfake_ssat.config import load_config
from deepfake_ssat.models import create_model
from deepfake_ssat.tables import markdown_table

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --------------------------------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], None]], rounds: int, device: torch.device, warmup: int = 1
                ) -> dict[str, float]:
    """Median seconds per call of each function, the functions taking turns round by round."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def matmul_rate(device: torch.device, dtype: torch.dtype, sizes: tuple[int, ...], reps: int = 3) -> float:
    """The best FLOP/s of square GEMMs (2·n³ FLOPs each) over ``sizes``."""
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        _sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best


def _register_cpu_attention_flops() -> None:
    """torch's flop counter knows the CUDA attention kernels but not the CPU flash kernel, which would count
    attention (40 % of a ViT-S/16×224² forward) as free; give it the same formula."""
    from torch.utils import flop_counter as fc

    aten = torch.ops.aten
    if aten._scaled_dot_product_flash_attention_for_cpu in fc.flop_registry:
        return

    @fc.register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu, get_raw=True)
    def _fwd(query, key, value, *args, **kwargs) -> int:
        return fc.sdpa_flop_count(query.shape, key.shape, value.shape)

    @fc.register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu_backward, get_raw=True)
    def _bwd(grad_out, query, key, value, *args, **kwargs) -> int:
        return fc.sdpa_backward_flop_count(grad_out.shape, query.shape, key.shape, value.shape)


def count_flops(fn: Callable[[], None]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    _register_cpu_attention_flops()
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


# --------------------------------------------------------------------------------------- train steps
def ours_step(name: str, mode: str, batch: int, frames: int, size: int, mask: float, device: torch.device,
              dtype: torch.dtype | None, compiled: bool = False, **options) -> Callable[[], None]:
    """One optimiser step of ours; ``compiled`` compiles the model in place as ``train.compile`` does;
    ``options``: further model options (e.g. ``decoder_keep_ratio``)."""
    model = create_model(name, mode=mode, num_frames=frames, img_size=size, mask_ratio=mask, drop_path=0.0,
                         **options).to(device)
    if compiled:
        model.compile()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, frames, size, size, device=device)
    y = torch.randint(0, 2, (batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(x, y)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def hf_step(attn: str, name: str, batch: int, frames: int, size: int, mask: float, device: torch.device,
            dtype: torch.dtype | None) -> Callable[[], None]:
    """The same math with Hugging Face VideoMAE: one encoder, a classification pass on the full clip and a
    pre-training pass on the tube-masked clip, loss 0.1·CE + 0.9·reconstruction MSE."""
    from transformers import VideoMAEConfig, VideoMAEForPreTraining, VideoMAEForVideoClassification

    from deepfake_ssat.masking import tube_mask
    from deepfake_ssat.models import get_spec

    spec = get_spec(name)
    cfg = VideoMAEConfig(image_size=size, patch_size=spec.patch_size, num_frames=frames, tubelet_size=spec.tubelet,
                         hidden_size=spec.embed_dim, num_hidden_layers=spec.depth, num_attention_heads=spec.num_heads,
                         intermediate_size=int(spec.embed_dim * spec.mlp_ratio), decoder_hidden_size=spec.decoder_dim,
                         decoder_num_hidden_layers=spec.decoder_depth, decoder_num_attention_heads=spec.decoder_heads,
                         decoder_intermediate_size=int(spec.decoder_dim * 4), num_labels=2, use_mean_pooling=True,
                         norm_pix_loss=True, attn_implementation=attn)
    cls = VideoMAEForVideoClassification(cfg).to(device)
    pre = VideoMAEForPreTraining(cfg).to(device)
    pre.videomae = cls.videomae  # one encoder, two passes (SSAT)
    params = list({id(p): p for p in [*cls.parameters(), *pre.parameters()]}.values())
    opt = torch.optim.AdamW(params, lr=1e-4)
    x = torch.randn(batch, frames, 3, size, size, device=device)  # HF takes (B, T, C, H, W)
    y = torch.randint(0, 2, (batch,), device=device)
    grid = (frames // spec.tubelet, (size // spec.patch_size) ** 2)
    hidden = tube_mask(batch, grid[0], grid[1], mask, device).as_bool()

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = 0.1 * cls(x, labels=y).loss + 0.9 * pre(x, bool_masked_pos=hidden).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


# --------------------------------------------------------------------------------------- inference
def inference_rows(name: str, frames: int, size: int, batch: int, rounds: int, rate: float) -> list[tuple]:
    from torch.ao.quantization import quantize_dynamic

    model = create_model(name, mode="scratch", num_frames=frames, img_size=size).eval()
    x = torch.randn(batch, 3, frames, size, size)
    int8 = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    with torch.inference_mode():
        fp32_fn = lambda: model(x)  # noqa: E731
        int8_fn = lambda: int8(x)  # noqa: E731
        flops = count_flops(fp32_fn)
        t = interleaved({"fp32": fp32_fn, "int8": int8_fn}, rounds, torch.device("cpu"))
        diff = (model(x)["logits"] - int8(x)["logits"]).abs().max().item()
    return [
        (f"{name} inference, {frames}×{size}², batch {batch}, fp32", f"{t['fp32'] / batch:.3f} s/segment",
         f"{flops / t['fp32'] / rate:.0%} of matmul"),
        ("same, int8 dynamic (Linear layers)", f"{t['int8'] / batch:.3f} s/segment",
         f"{t['fp32'] / t['int8']:.2f}× fp32; largest logit change {diff:.1e}"),
    ]


# --------------------------------------------------------------------------------------- precision
def attention_share(fn: Callable[[], object]) -> float:
    """Share of one call's CPU time spent in scaled-dot-product attention (torch profiler, self time):
    tells whether attention or the Linear layers bound a precision's speed-up."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    attention = sum(e.self_cpu_time_total for e in events if "scaled_dot_product" in e.key)
    return attention / total if total else 0.0


def precision_rows(name: str, frames: int, size: int, rounds: int, rate: float, quick: bool) -> list[tuple]:
    """fp32 against bf16 autocast, interleaved: matmul, train steps, inference (and int8 beside them)."""
    from torch.ao.quantization import quantize_dynamic

    from deepfake_ssat.runtime import cpu_bf16_units, cpu_has_native_bf16, resolve_amp_dtype

    cpu, bf16 = torch.device("cpu"), torch.bfloat16
    native = cpu_has_native_bf16()
    auto = "bf16" if resolve_amp_dtype("auto", cpu) is bf16 else "fp32"
    rate16 = matmul_rate(cpu, bf16, (256, 512) if quick else (1024, 2048, 3072))
    units = ", ".join(cpu_bf16_units()) or "reported by torch's CPUID check"
    rows = [("bf16 on this CPU", f"native ({units})" if native else "emulated (no bf16 units)",
             f"precision auto picks {auto}; bf16 matmul {rate16 / 1e9:.0f} GFLOP/s = {rate16 / rate:.2f}× fp32")]
    shapes = [(name, frames, size, 1)] + ([] if quick else [("videomae_tiny", 8, 112, 4)])
    for model_name, t_frames, t_size, batch in shapes:
        steps = {p: ours_step(model_name, "ssat", batch, t_frames, t_size, 0.9, cpu, d)
                 for p, d in (("fp32", None), ("bf16", bf16))}
        t = interleaved(steps, rounds, cpu)
        rows.append((f"SSAT train step, {model_name} {t_frames}×{t_size}², batch {batch}: fp32 / bf16",
                     f"{t['fp32']:.2f} s / {t['bf16']:.2f} s", f"bf16 {t['fp32'] / t['bf16']:.2f}× fp32"))
        del steps
    model = create_model(name, mode="scratch", num_frames=frames, img_size=size).eval()
    int8 = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    x = torch.randn(4 if not quick else 2, 3, frames, size, size)

    def in_bf16():
        with torch.autocast("cpu", dtype=bf16):
            return model(x)

    with torch.inference_mode():
        fns = {"fp32": lambda: model(x), "bf16": in_bf16, "int8": lambda: int8(x)}
        t = interleaved(fns, rounds, cpu)
        probs = {k: fn()["logits"].float().softmax(1) for k, fn in fns.items()}
        share = {k: attention_share(fns[k]) for k in ("fp32", "bf16")}
    n = len(x)
    rows.append((f"{name} inference, {frames}×{size}², batch {n}: fp32 / bf16 / int8",
                 " / ".join(f"{t[k] / n:.3f}" for k in fns) + " s/segment",
                 f"bf16 {t['fp32'] / t['bf16']:.2f}× fp32, int8 {t['fp32'] / t['int8']:.2f}×; largest probability "
                 f"change bf16 {(probs['bf16'] - probs['fp32']).abs().max():.1e}, "
                 f"int8 {(probs['int8'] - probs['fp32']).abs().max():.1e}"))
    rows.append(("same inference, share of time in attention (SDPA): fp32 / bf16",
                 f"{share['fp32']:.0%} / {share['bf16']:.0%}", "torch profiler, self CPU time of one batch"))
    return rows


# --------------------------------------------------------------------------------------- loading
def loader_rate(size: int, frames: int, augment: bool, clips: int, workers: int = 1) -> float:
    """Clips/s of ``workers`` DataLoader processes reading 16-frame clips from stored tracks (JPEG zips)."""
    from torch.utils.data import DataLoader

    from deepfake_ssat.config import VideoAugmentConfig
    from deepfake_ssat.data.augment import build_clip_augment
    from deepfake_ssat.data.video import ClipDataset, collate_clips
    from preprocessing.clips import write_clip

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        rows = []
        for k in range(8):  # eight stored tracks of 64 smooth random frames at the store's 224 px
            import cv2

            base = cv2.GaussianBlur(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8), (0, 0), 3)
            track = np.stack([np.roll(base, t, axis=1) for t in range(64)])
            write_clip(Path(tmp) / f"t{k}.zip", track)
            rows.append({"video_id": f"v{k}", "track": 0, "clip": f"t{k}.zip", "num_frames": 64, "status": "ok",
                         "label": k % 2, "frame_indices": list(range(64)), "fps": 25.0})
        aug = build_clip_augment(VideoAugmentConfig(enabled=augment), size)
        ds = ClipDataset(rows, tmp, frames, 1, size, (0.45,) * 3, (0.225,) * 3, augment=aug)
        sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=clips)
        loader = DataLoader(ds, batch_size=1, sampler=sampler, num_workers=workers, collate_fn=collate_clips)
        it = iter(loader)
        next(it)  # worker start-up outside the timing
        t = time.perf_counter()
        n = sum(1 for _ in it)
        return n / (time.perf_counter() - t)


# --------------------------------------------------------------------------------------- predict
def untrained_checkpoint(path: Path, name: str) -> Path:
    """A checkpoint of an untrained model in the format ``train`` writes (for timing, not for scores)."""
    from deepfake_ssat.checkpoint import save_checkpoint
    from deepfake_ssat.configschema import to_dict

    cfg = load_config(overrides=[f"model.name={name}", "model.mode=scratch", "data.dataset=folder"])
    model = create_model(cfg.model)
    data = {**model.data_config(), "dataset": "untrained (speed benchmark)", "class_names": ["real", "fake"],
            "clip_stride": 1, "segment_step": None, "threshold": 0.5}
    return save_checkpoint(path, {"model": model.state_dict(), "arch": model.spec.to_dict(), "config": to_dict(cfg),
                                  "loss": {"num_classes": 2}, "data_config": data, "metrics": {}, "state": {}})


def ten_second_720p(path: Path) -> Path | None:
    """portrait_landscape_720p.mp4 of ../shared/data played forward and back to 300 frames (10 s at 30 fps)."""
    from preprocessing.video import VideoReader, write_video

    src = DATA / "portrait_landscape_720p.mp4"
    if not src.is_file():
        return None
    frames = [f for _, f in VideoReader(src).frames(range(282))]
    frames = (frames + frames[::-1])[:300]
    return write_video(path, frames, fps=30)


def predict_rows(name: str, repeats: int) -> list[tuple]:
    from deepfake_ssat.inference import PredictOptions, Predictor

    with tempfile.TemporaryDirectory() as tmp:
        video = ten_second_720p(Path(tmp) / "clip.mp4")
        if video is None:
            return [("predict, 10-s 720p one-face clip", "skipped", f"no {DATA}/portrait_landscape_720p.mp4")]
        ckpt = untrained_checkpoint(Path(tmp) / "best.pt", name)
        predictors = {precision: Predictor.from_checkpoint(
            ckpt, device="cpu", options=PredictOptions(max_segments_per_track=None, int8=precision == "int8",
                                                       precision="fp32" if precision == "int8" else precision))
            for precision in ("fp32", "bf16", "int8")}
        for predictor in predictors.values():
            predictor.predict(video)  # warm-up: the detector's first call, allocations
        runs: dict[str, list] = {precision: [] for precision in predictors}
        for _ in range(repeats):  # interleaved, so machine noise hits both alike
            for precision, predictor in predictors.items():
                runs[precision].append(predictor.predict(video))
    rows = []
    for precision, results in runs.items():
        best = min(results, key=lambda r: r.timings["total"])
        stages = " · ".join(f"{k} {best.timings[k]:.1f}"
                            for k in ("decode", "detect", "track", "crop", "prepare", "model"))
        totals = ", ".join(f"{r.timings['total']:.1f}" for r in results)
        rows.append((f"predict end to end, 10-s 720p clip, {name} {precision}, every segment "
                     f"({best.counts['segments']})", f"{best.timings['total']:.1f} s (runs: {totals})",
                     f"seconds: {stages}"))
    return rows


# --------------------------------------------------------------------------------------- CLI
def cli_rows(repeats: int) -> list[tuple]:
    """Wall time of the console script answering --help and an argument error, each in a fresh interpreter."""
    cases = {"deepfake-ssat --help": ["--help"],
             "an argument error (train --no-such-flag)": ["train", "--no-such-flag"]}
    rows = []
    for what, args in cases.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, check=False)
            times.append(time.perf_counter() - start)
        rows.append((what, f"{min(times):.2f} s", f"fresh interpreter, best of {repeats}: "
                     + ", ".join(f"{t:.2f}" for t in times)))
    return rows


# --------------------------------------------------------------------------------------- GPU
def gpu_rows(batch: int, rounds: int, loader_clips_s: float) -> list[tuple]:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dev = torch.device("cuda")
    rate = matmul_rate(dev, torch.bfloat16, (2048, 4096, 8192), reps=10)
    step = ours_step("videomae_base", "ssat", batch, 16, 224, 0.9, dev, torch.bfloat16)
    torch.cuda.reset_peak_memory_stats(dev)
    t = interleaved({"ours": step}, rounds, dev, warmup=3)["ours"]
    peak = torch.cuda.max_memory_allocated(dev) / 2**30
    flops = count_flops(step)
    q = torch.randn(batch, 12, 1568, 64, device=dev, dtype=torch.bfloat16)
    kernel = "math"
    for backend in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
        try:
            with sdpa_kernel(backend):
                F.scaled_dot_product_attention(q, q, q)
            kernel = backend.name.lower()
            break
        except RuntimeError:
            continue
    clips_s = batch / t
    return [
        ("GPU", torch.cuda.get_device_name(dev), f"bf16 matmul {rate / 1e12:.0f} TFLOP/s (measured)"),
        (f"videomae_base 16×224² SSAT step, bf16, batch {batch}", f"{t * 1e3:.0f} ms = {clips_s:.1f} clips/s",
         f"{flops / t / rate:.0%} of the bf16 matmul rate; SDPA kernel: {kernel}; peak memory {peak:.1f} GiB"),
        ("loader workers to feed it (DFDC augmentations, 224²)", f"{clips_s / loader_clips_s:.1f}",
         f"at {loader_clips_s:.1f} clips/s per worker (the CPU row)"),
    ]


# --------------------------------------------------------------------------------------- main
def _cpu_model() -> str:
    """The CPU's model name and family/model numbers (as lscpu prints them), else the architecture."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in info.items()}
        return f"{fields['model name']} (family {fields['cpu family']}, model {fields['model']})"
    except (OSError, KeyError):
        return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny shapes and few rounds: checks that every row runs")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per measurement")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--only", choices=["all", "precision"], default="all", help="precision: the fp32/bf16 rows alone")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    name = "test_videomae" if quick else "videomae_small"
    frames, size = (4, 32) if quick else (16, 224)
    rounds = 2 if quick else args.rounds
    cpu = torch.device("cpu")
    rate = matmul_rate(cpu, torch.float32, (256, 512) if quick else (512, 1024, 2048, 3072))
    host = f"{_cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, " \
           f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f} at start"
    rows: list[tuple] = [("machine", host, f"fp32 matmul {rate / 1e9:.0f} GFLOP/s (measured)")]
    if args.only == "precision":
        rows += precision_rows(name, frames, size, rounds, rate, quick)
        sys.stdout.write(markdown_table(("what", "measured", "notes"), rows) + "\n")
        return 0

    steps = {"ours, SSAT": ours_step(name, "ssat", 1, frames, size, 0.9, cpu, None),
             "ours, supervised": ours_step(name, "scratch", 1, frames, size, 0.9, cpu, None),
             "ours, SSAT, decoder keep 0.5": ours_step(name, "ssat", 1, frames, size, 0.9, cpu, None,
                                                      decoder_keep_ratio=0.5),
             "ours, SSAT, compiled": ours_step(name, "ssat", 1, frames, size, 0.9, cpu, None, compiled=True),
             "ours, supervised, compiled": ours_step(name, "scratch", 1, frames, size, 0.9, cpu, None, compiled=True),
             "HF VideoMAE, sdpa": hf_step("sdpa", name, 1, frames, size, 0.9, cpu, None),
             "HF VideoMAE, eager": hf_step("eager", name, 1, frames, size, 0.9, cpu, None)}
    flops = count_flops(steps["ours, SSAT"])
    compile_s = {}
    for key in ("ours, SSAT, compiled", "ours, supervised, compiled"):  # the first call compiles
        start = time.perf_counter()
        steps[key]()
        compile_s[key] = time.perf_counter() - start
    t = interleaved(steps, rounds, cpu)
    sc, uc = t["ours, SSAT, compiled"], t["ours, supervised, compiled"]
    rows += [
        (f"SSAT train step, {name} {frames}×{size}², batch 1, mask 0.9, ours", f"{t['ours, SSAT']:.2f} s",
         f"{flops / t['ours, SSAT'] / rate:.0%} of matmul; {t['HF VideoMAE, sdpa'] / t['ours, SSAT']:.2f}× HF sdpa, "
         f"{t['HF VideoMAE, eager'] / t['ours, SSAT']:.2f}× HF eager"),
        ("same, Hugging Face reference (sdpa / eager attention)",
         f"{t['HF VideoMAE, sdpa']:.2f} s / {t['HF VideoMAE, eager']:.2f} s", "two passes sharing one encoder"),
        ("SSAT step ÷ supervised step (same shapes)", f"{t['ours, SSAT'] / t['ours, supervised']:.2f}",
         f"supervised {t['ours, supervised']:.2f} s"),
        ("SSAT step ÷ supervised step, model.decoder_keep_ratio 0.5 (VideoMAE V2's decoder masking)",
         f"{t['ours, SSAT, decoder keep 0.5'] / t['ours, supervised']:.2f}",
         f"SSAT step {t['ours, SSAT, decoder keep 0.5']:.2f} s; the decoder sees half the hidden tubes"),
        ("same SSAT step with train.compile (torch.compile, in place)", f"{sc:.2f} s",
         f"{flops / sc / rate:.0%} of matmul; {t['HF VideoMAE, sdpa'] / sc:.2f}× HF sdpa; "
         f"first step (compiling) {compile_s['ours, SSAT, compiled']:.0f} s"),
        ("SSAT step ÷ supervised step, both compiled", f"{sc / uc:.2f}",
         f"supervised {uc:.2f} s; first step {compile_s['ours, supervised, compiled']:.0f} s"),
    ]
    del steps
    rows += inference_rows(name, frames, size, 4 if not quick else 2, rounds, rate)
    rows += precision_rows(name, frames, size, rounds, rate, quick)
    n_clips = 8 if quick else 60
    plain = loader_rate(size, frames, False, n_clips)
    augmented = loader_rate(size, frames, True, n_clips)
    rows.append((f"one loader worker, {frames}×{size}² clips from stored tracks", f"{plain:.1f} clips/s plain",
                 f"{augmented:.1f} clips/s with the DFDC augmentations"))
    rows += predict_rows(name, 1 if quick else 3)
    rows += cli_rows(2 if quick else 5)
    if torch.cuda.is_available() and not quick:
        rows += gpu_rows(8, rounds, loader_rate(224, 16, True, 60))
    elif not quick:
        rows.append(("GPU", "none on this machine", "the GPU rows run where CUDA is available"))
    sys.stdout.write(markdown_table(("what", "measured", "notes"), rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
