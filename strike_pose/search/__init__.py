"""Pose search: one objective, several strategies, each yielding its steps.

    for step in search(scene, classifier, start=pose, method="grad", cancel=event):
        show(step.pose, step.probs, step.loss)      # the CLI, the GUI and experiments alike
    # the last step says whether the search succeeded (step.success)

Every strategy stops when it succeeds, when its steps or time budget run out, or when the cancel
token (a threading.Event) is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strike_pose.scene import Pose

METHODS = ("grad", "random", "fd", "cmaes")


@dataclass(frozen=True)
class Step:
    index: int  # 1-based count of steps taken
    pose: Pose  # the pose this step reached (for population methods: the best so far)
    probs: np.ndarray  # (1000,) classifier probabilities at `pose`, from the OpenGL render
    loss: float  # the objective at `pose` (lower is better)
    success: bool  # untargeted: top-1 is not the true class; targeted: top-1 is the target
    seconds: float  # since the search started
    evaluations: int  # classifier forward passes so far
