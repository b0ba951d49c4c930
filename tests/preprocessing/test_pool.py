"""The worker pool on its own: results come back per item, a crash or a hang costs one item, not its group."""

import os
import time

from preprocessing.pool import Pool


def _work(item: str, suffix: str) -> str:
    if item == "crash":
        os._exit(3)
    if item == "hang":
        time.sleep(60)
    return item + suffix


def test_pool_runs_every_item_and_survives_a_crash_and_a_hang():
    results, failures = {}, {}
    groups = [["a", "crash", "b"], ["c"], ["hang", "d"]]
    Pool(2, _work, ("!",), threads=0).run(groups, timeout=5,
                                         on_result=lambda item, r: results.__setitem__(item, r),
                                         on_failure=lambda item, why: failures.__setitem__(item, why))
    assert results == {"a": "a!", "b": "b!", "c": "c!", "d": "d!"}  # the rest of each group still ran
    assert failures["crash"] == "error: worker died (exit code 3)"
    assert failures["hang"] == "timeout"
