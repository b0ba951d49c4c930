"""The detector card: what a checkpoint was trained on, so nobody mistakes a model trained on 33 videos
(or on the sample generator) for a general detector. Every checkpoint stores one in its data config;
``predict`` and the demo show it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .tables import markdown_table, plural

# Shown with every card: what the counts cannot say.
CAVEAT = ("a detector knows the manipulations and recording conditions it was trained on; on others its "
          "score means little")


def video_card(dataset: str, splits: Mapping[str, Iterable[dict]], generator: str | None = None,
               pseudo_fakes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per split: videos per method and distinct identities, from manifest rows (a video's tracks count once).
    ``generator``: the program that made the data when it is synthetic (the sample generator);
    ``pseudo_fakes``: ``{"kind", "share"}`` when training mixed in pseudo-fakes made from its reals."""
    out: dict[str, Any] = {"dataset": dataset, "kind": "video", "generator": generator,
                           "pseudo_fakes": dict(pseudo_fakes) if pseudo_fakes else None, "splits": {}}
    for split, rows in splits.items():
        videos: dict[str, set[str]] = defaultdict(set)
        people: set[str] = set()
        for r in rows:
            videos[r["method"]].add(r["video_id"])
            people.add(r.get("identity") or r["video_id"])
        out["splits"][split] = {"videos": {m: len(v) for m, v in sorted(videos.items())}, "identities": len(people)}
    return out


def image_card(dataset: str, counts: Mapping[str, int], num_classes: int) -> dict[str, Any]:
    return {"dataset": dataset, "kind": "image", "classes": num_classes,
            "splits": {s: {"images": n} for s, n in counts.items()}}


def card_summary(card: Mapping[str, Any] | None) -> str:
    """One line: 'trained on folder: 14 videos (5 real, 9 vasa1) of 14 identities; validated on …'."""
    if not card:
        return "trained on data this checkpoint does not describe (written before detector cards)"
    parts = []
    for split, verb in (("train", "trained on"), ("val", "validated on")):
        s = card.get("splits", {}).get(split)
        if not s:
            continue
        if "images" in s:
            parts.append(f"{verb} {s['images']} images")
            continue
        per = ", ".join(f"{n} {m}" for m, n in s["videos"].items())
        people = f"{s['identities']} identit{'y' if s['identities'] == 1 else 'ies'}"
        parts.append(f"{verb} {plural(sum(s['videos'].values()), 'video')} ({per}) of {people}")
        if split == "train" and card.get("pseudo_fakes"):  # the fakes it saw are not in the video counts
            pf = card["pseudo_fakes"]
            parts[-1] += (f", plus self-blended pseudo-fakes ({pf['kind']}) of its reals as {pf['share']:.0%} of "
                          "the training clips")
    name = card.get("dataset", "?")
    if card.get("generator"):
        name += (f" SAMPLE DATA made by {card['generator']} (procedural fakes of a few photographs: a pipeline "
                 "check, not a detector of real manipulations)")
    return f"{name}: " + "; ".join(parts)


_METRIC_NAMES = {"auc": "ROC AUC", "acc_at_threshold": "accuracy at the threshold", "acc": "accuracy",
                 "log_loss": "log loss", "ap": "average precision", "eer": "equal error rate",
                 "tpr_at_fpr1": "true-positive rate at 1 % false positives", "top1": "top-1 accuracy"}


def _metrics_table(metrics: Mapping[str, Any]) -> list[str]:
    rows = [(_METRIC_NAMES[k], f"{float(metrics[k]):.3f}") for k in _METRIC_NAMES if k in metrics]
    return markdown_table(("metric", "value"), rows).splitlines() if rows else ["(not recorded)"]


def model_card(doc: Mapping[str, Any], name: str) -> str:
    """The ``README.md`` of a detector folder (Hugging Face model-card layout, YAML front matter first),
    written from its ``config.json`` ``doc``: what it is, what it was trained and validated on, how well it
    did there, its threshold, what it never saw, and what it is and is not for."""
    data, model, arch = doc.get("data_config") or {}, (doc.get("config") or {}).get("model") or {}, doc["architecture"]
    card = data.get("card") or {}
    video = data.get("kind") == "video"
    val = doc.get("validation") or {}
    frames = f"{arch.get('num_frames')} frames of " if video else ""
    lines = [
        "---", "library_name: deepfake-ssat",
        f"pipeline_tag: {'video-classification' if video else 'image-classification'}",
        "tags: [deepfake-detection, ssat, vision-transformer" + (", videomae]" if video else "]"), "---", "",
        f"# {name}", "",
        f"A {'video deepfake detector' if video else 'image classifier'} trained with "
        "deepfake-ssat: a Vision Transformer trained on "
        + ("real/fake classification" if video else "classification")
        + (" jointly with masked reconstruction (SSAT, Das et al., WACV 2024)" if model.get("mode") == "ssat" else "")
        + ".", "",
        "## Model", "",
        f"- architecture: `{model.get('name')}`, width {arch['embed_dim']}, {arch['depth']} blocks, "
        f"{arch['num_heads']} heads; input {frames}{arch['img_size']}² px"
        + (f", tubelet {arch.get('tubelet')}" if video else ""),
        f"- training mode: `{model.get('mode')}`"
        + (f", mask ratio {model.get('mask_ratio')}, λ_cls {model.get('lambda_cls')}" if model.get("mode") == "ssat"
           else ""),
        f"- input normalisation: mean {data.get('mean')}, std {data.get('std')}",
    ]
    faces = data.get("faces")
    if faces:
        lines.append(f"- faces: detected with MTCNN and cropped at margin {faces.get('margin')} to "
                     f"{faces.get('size')} px, exactly as `deepfake-ssat predict` crops them")
    lines += ["", "## Training data", "", card_summary(card) + "."]
    for split, s in (card.get("splits") or {}).items():
        if "videos" in s:
            per = ", ".join(f"{m} {n}" for m, n in s["videos"].items())
            lines.append(f"- {split}: {per} ({s['identities']} identities)")
    lines += ["", "## Validation", "",
              f"On its validation split, at step {val.get('step')} (epoch {val.get('epoch')}), the checkpoint "
              "that was exported:", "", *_metrics_table(val.get("metrics") or {})]
    if doc.get("test"):
        lines += ["", "On the test split of its training run:", "", *_metrics_table(doc["test"])]
    if "threshold" in data:
        lines += ["", f"Decision threshold: **{float(data['threshold']):.4f}** (fake probability; chosen for the best "
                      "accuracy on the validation split)."]
    trained = sorted(m for s in (card.get("splits") or {}).values() for m in (s.get("videos") or {}) if m != "real")
    lines += ["", "## What it was not trained on", ""]
    if video:
        lines += [f"- any manipulation other than {', '.join(dict.fromkeys(trained)) or 'none'}"
                  + (", besides the self-blended pseudo-fakes named above" if card.get("pseudo_fakes") else "")
                  + ": other face swaps, reenactment, talking-head and lip-sync generators, diffusion video;",
                  "- faces cropped differently from the setting above, still images, and videos without a "
                  "detectable face (those are reported as inconclusive, not scored);",
                  "- people, cameras, compression and lighting unlike its training videos."]
    else:
        lines.append(f"- anything outside the classes of {card.get('dataset', 'its dataset')}.")
    lines += ["", "## Intended use and limits", "",
              f"Research and triage: a score to rank videos for a human to review, not proof. {CAVEAT[0].upper()}"
              f"{CAVEAT[1:]}; measure it on your own labelled videos (`deepfake-ssat eval`) before you trust its "
              "threshold there."]
    if card.get("generator"):
        lines += ["", f"**Trained on sample data made by {card['generator']}**: a pipeline check, not a detector of "
                      "real manipulations."]
    lines += ["", "## Use", "", "```bash"]
    if video:
        lines += [f"deepfake-ssat predict video.mp4 --checkpoint {name}",
                  f"deepfake-ssat eval --checkpoint {name} --dataset folder --data-root FACES --split test",
                  f"deepfake-ssat demo --checkpoint {name}"]
    else:
        lines.append(f"deepfake-ssat eval --checkpoint {name}")
    lines += ["```", "", f"Files: `model.safetensors` (weights), `config.json` (architecture, training config, "
                         f"preprocessing, threshold, metrics). Exported from `{doc.get('exported_from')}`.", ""]
    return "\n".join(lines)
