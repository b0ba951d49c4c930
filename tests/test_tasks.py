"""The Task contract: both dataset families satisfy the written Protocol, the engine and the entry
points use nothing else of a task, and the decision threshold is a value evaluation returns."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
from ssat_helpers import sample_faces

from deepfake_ssat.config import load_config
from deepfake_ssat.models import create_model, get_spec
from deepfake_ssat.runtime import local_runtime
from deepfake_ssat.tasks import Evaluation, ImageTask, Task, VideoTask, build_task

PKG = Path(__file__).resolve().parents[1] / "deepfake_ssat"
MEMBERS = {name for name in dir(Task) if not name.startswith("_")} | set(Task.__annotations__)


@pytest.fixture(scope="module")
def image_task(tmp_path_factory, make_idx_dataset) -> ImageTask:
    data = make_idx_dataset(tmp_path_factory.mktemp("fm"))
    cfg = load_config(overrides=["data.dataset=fashion_mnist", f"data.root={data}", "data.num_workers=0",
                                 "model.name=test_vit", "model.img_size=28", "model.patch_size=7"])
    return build_task(cfg, get_spec("test_vit", img_size=28, patch_size=7))


@pytest.fixture(scope="module")
def video_task(tmp_path_factory) -> VideoTask:
    faces = sample_faces(tmp_path_factory.getbasetemp() / "ssat_ckpt")
    cfg = load_config(overrides=["data.dataset=dfdc", f"data.root={faces}", "data.num_workers=0",
                                 "model.name=test_videomae", "data.augment.enabled=false"])
    return build_task(cfg, get_spec("test_videomae"))


@pytest.mark.parametrize("which", ["image_task", "video_task"])
def test_both_tasks_satisfy_the_protocol(which, request):
    task = request.getfixturevalue(which)
    assert isinstance(task, Task)  # every member present (runtime_checkable checks data members too)
    for name in MEMBERS:
        member = getattr(Task, name, None)
        if callable(member):  # same parameters as the contract
            assert list(inspect.signature(getattr(task, name)).parameters) == \
                list(inspect.signature(member).parameters)[1:], name
    assert task.kind in ("image", "video") and len(task.class_names) == task.num_classes
    assert len(task.mean) == len(task.std) == 3


def _task_attributes(path: Path) -> set[str]:
    """Attribute names read off ``task`` or ``ctx.task`` in a module."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            base = node.value
            if (isinstance(base, ast.Name) and base.id == "task") or \
                    (isinstance(base, ast.Attribute) and base.attr == "task"):
                names.add(node.attr)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and node.args:
            arg = node.args[0]
            assert not (isinstance(arg, ast.Name) and arg.id == "task"), f"{path.name}: getattr on a task"
            assert not (isinstance(arg, ast.Attribute) and arg.attr == "task"), f"{path.name}: getattr on a task"
    return names


@pytest.mark.parametrize("module", ["engine.py", "train.py"])
def test_the_engine_and_entry_points_use_only_the_contract(module):
    used = _task_attributes(PKG / module)
    assert used and used <= MEMBERS, sorted(used - MEMBERS)


def test_the_threshold_is_chosen_on_the_data_only_when_not_given(video_task):
    model = create_model("test_videomae", mode="scratch").eval()
    rt = local_runtime("cpu")
    chosen = video_task.evaluate(model, video_task.val_set, rt, 8, 0)
    assert isinstance(chosen, Evaluation) and chosen.threshold is not None
    assert chosen.metrics["threshold"] == chosen.threshold
    given = video_task.evaluate(model, video_task.val_set, rt, 8, 0, threshold=0.123)
    assert given.threshold == given.metrics["threshold"] == 0.123
    assert given.metrics["auc"] == chosen.metrics["auc"] or np.isnan(chosen.metrics["auc"])
    # evaluating never changes what the next evaluation does
    assert video_task.evaluate(model, video_task.val_set, rt, 8, 0).threshold == chosen.threshold


def test_images_have_no_threshold_and_no_real_weight(image_task):
    model = create_model("test_vit", mode="scratch", num_classes=10, img_size=28, patch_size=7).eval()
    result = image_task.evaluate(model, image_task.val_set, local_runtime("cpu"), 64, 0, threshold=0.3)
    assert result.threshold is None and "top1" in result.metrics
    with pytest.raises(ValueError, match="real_weight applies to real/fake video"):
        image_task.class_weights("auto")
    with pytest.raises(ValueError, match="--methods"):
        image_task.split_set("test", ["real"])
