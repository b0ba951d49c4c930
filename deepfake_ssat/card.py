"""The detector card: what a checkpoint was trained on, so nobody mistakes a model trained on 33 videos
(or on the sample generator) for a general detector. Every checkpoint stores one in its data config;
``predict`` and the demo show it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .tables import plural

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
