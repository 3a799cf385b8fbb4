"""What a search found, as every caller reports it: the command line, the visualizer and experiments.

A search yields Steps; its last Step holds the record (the first and the closest fooling pose, the
pose with the lowest loss). `SearchResult.of(step, ...)` reduces that record to one answer, the same
everywhere:

- the pose: in the "nearest" mode the closest fooling pose (or the first, when the closest, which lies
  on the boundary, does not hold on the single picture below and the first does), in the "first" mode
  the first; when
  nothing fooled the model, the pose with the lowest loss (never merely the last pose shown);
- its verdict, re-checked on a single OpenGL picture at the classifier's input size, which is what a
  user reproduces from the exported pose (the search itself classified tiles of a batch render);
- the start's own verdict, so that a start that is already misclassified is said;
- how it was found (its SearchOptions), turned into the JSON sidecar by `record()` and into the
  summary that `strike-pose search --json` prints by `summary()`.

The model may be a classifier or a detector (or an objective, search/objective.py): the verdicts are
then the detector's COCO scores on the object, labelled with COCO's names, and the summary and sidecar
also hold the detections on the reported picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from strike_pose.scene import Light, Pose, Scene
from strike_pose.search.context import Found, Step, light_summary
from strike_pose.search.options import SearchOptions


@dataclass(frozen=True)
class SearchResult:
    success: bool  # the pose fools the model (untargeted) or is the target (targeted), on OpenGL
    scene: Scene  # the scene searched, with the light found when the light was searched
    start: Pose
    pose: Pose  # the fooling pose reported (see the module docstring), else the lowest-loss pose
    light: Light | None  # the light found, when the light was searched
    image: np.ndarray  # the OpenGL picture at `pose`, (H, W, 3) uint8, the classifier's input size
    probs: np.ndarray  # (1000,) the classifier on `image`
    start_probs: np.ndarray  # (1000,) the classifier on the start's picture
    found: Found | None  # the fooling pose reported, as the search recorded it (None: nothing fooled)
    first: Found | None  # the first fooling pose the search met
    best: Found | None  # the pose reported, fooling or not (the lowest loss when nothing fooled)
    steps: int
    seconds: float
    evaluations: int
    rejected: int
    interrupted: bool
    options: SearchOptions  # how the search ran
    objective: Any  # what it ran against (search/objective.py, SearchObjective): the classifier's or the detector's
    files: dict = field(default_factory=dict)  # what run_search exported: {"image", "json"}
    export_error: str | None = None  # why the export failed, when it did (the pose is still here)

    # ---------------------------------------------------------------------------------- building

    @classmethod
    def of(cls, last: Step | None, scene: Scene, objective, start: Pose, options: SearchOptions | None = None, *,
           renderer=None, interrupted: bool = False) -> "SearchResult":
        """Reduce a search's last Step (None: it took no step) to its result, re-checked on OpenGL.

        objective: what the search ran against (search/objective.py; a classifier or a detector is made
        into its objective with `options`). options: how it ran.
        """
        from strike_pose.render import default_renderer
        from strike_pose.search.objective import make_objective

        renderer = renderer or default_renderer()
        options = options or SearchOptions()
        start = Pose.of(start)
        mode = options.mode
        objective = make_objective(scene, objective, options)
        found = None if last is None else (last.first if mode == "first" else last.closest)
        best = found or (last.lowest if last is not None else None)
        pose, light = (best.pose, best.light) if best is not None else (start, None)
        shown = replace(scene, light=light) if light is not None else scene
        size = objective.input_size
        image = renderer.render(shown, pose, size=size)
        start_image = image if best is None else renderer.render(scene, start, size=size)
        poses = np.array([pose.as_tuple(), start.as_tuple()], np.float64)
        probs, start_probs = (objective.verdicts(np.stack([image, start_image]), poses) if best is not None
                              else np.stack([objective.verdicts(image[None], poses[:1])[0]] * 2))
        fooled = objective.success(probs)
        if found is not None and not fooled and last.first is not None and last.first is not found:
            # the closest fooling pose lay on the boundary and did not hold on a single picture (the search
            # saw tiles of a batch render): report the first, a clearer one, when it holds
            first = last.first
            first_shown = replace(scene, light=first.light) if first.light is not None else scene
            first_image = renderer.render(first_shown, first.pose, size=size)
            first_probs = objective.verdicts(first_image[None], np.array([first.pose.as_tuple()], np.float64))[0]
            if objective.success(first_probs):
                found = best = first
                pose, light, shown, image, probs, fooled = (first.pose, first.light, first_shown, first_image,
                                                            first_probs, True)
        return cls(success=found is not None and fooled, scene=shown, start=start, pose=pose, light=light,
                   image=image, probs=probs, start_probs=start_probs, found=found,
                   first=last.first if last is not None else None, best=best,
                   steps=last.index if last is not None else 0, seconds=last.seconds if last is not None else 0.0,
                   evaluations=last.evaluations if last is not None else 0,
                   rejected=last.rejected if last is not None else 0, interrupted=interrupted,
                   options=options, objective=objective)

    # --------------------------------------------------------------------------------- reading

    @property
    def target(self) -> int | None:
        """The class a targeted search wanted, among the verdicts (None: untargeted)."""
        return self.objective.target

    @property
    def top1(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def true_index(self) -> int:
        """The object's class in the verdicts: ImageNet's for a classifier, COCO's for a detector."""
        return self.objective.true_class

    @property
    def margin(self) -> float:
        """How clearly the reported pose fools the model (probability margin; negative when it does not)."""
        return self.objective.margin(self.probs)

    @property
    def start_misclassified(self) -> bool:
        """The start itself is not classified as the true class (an untargeted search has nothing to do);
        against a detector: it does not see the object as its own class."""
        return self.objective.misses(self.start_probs)

    @property
    def confirmed(self) -> bool:
        """The OpenGL re-check agrees with the search's own verdict on the reported pose."""
        return self.found is None or self.success

    def distances(self) -> dict:
        """How far the reported pose is from the start: the rotation (geodesic degrees), the shift of the
        centre (scene units) and the distance the nearest mode ranks by, max(rotation, shift per axis in
        the region's units: 30 per scene unit)."""
        from strike_pose.search.region import Region, rotation_angle, translation_distance

        a, b = np.array(self.start.as_tuple()), np.array(self.pose.as_tuple())
        return {"rotation_from_start": rotation_angle(a, b), "translation_from_start": translation_distance(a, b),
                "distance": Region(a, self.scene.camera.fov_y).distance(b)}

    def record(self) -> dict:
        """The JSON sidecar of the reported pose: the scene, pose, light, model, top-5 and how it was found."""
        from strike_pose.export import shot_record

        d = self.distances()
        o = self.options
        how = {k: getattr(o, k) for k in ("method", "mode", "seed", "radius", "learning_rate", "loss", "in_view",
                                          "min_margin")}
        if self.objective.kind == "detector":
            how["objective"] = self.objective.name
        record = shot_record(self.scene, self.pose, self.objective, self.probs, target=self.target, **how,
                             search_light=o.search_light or None, success=self.success,
                             steps=self.steps, seconds=round(self.seconds, 3), evaluations=self.evaluations,
                             start_pose=self.start.as_dict(), rotation_from_start=round(d["rotation_from_start"], 3),
                             translation_from_start=round(d["translation_from_start"], 4),
                             distance=round(d["distance"], 3), margin=round(self.margin, 4))
        record["check"] = self.check()
        record.update(self._detector_part())
        return record

    def _detector_part(self) -> dict:
        """Against a detector: its detections on the reported picture (after NMS) and the object's box."""
        if self.objective.kind != "detector":
            return {}
        params = np.array(self.pose.as_tuple(), np.float64)
        box = self.objective.boxes_of(params)[0]
        h, w = self.image.shape[:2]
        return {"detections": self.objective.detections(self.image, params),
                "object_box": [round(float(v), 1) for v in box * [w, h, w, h]],
                "iou_on_object": self.objective.iou}

    def check(self) -> dict:
        return {"renderer": "opengl", "top1": self.top1, "fooled": self.success,
                "note": "the reported pose re-rendered with OpenGL and re-classified before anything is exported"}

    def summary(self) -> dict:
        """What `strike-pose search --json` prints."""
        model = self.objective
        true = self.true_index
        d = self.distances()
        start_top1 = int(np.argmax(self.start_probs))
        out = {
            "success": self.success,
            "method": self.options.method,
            "mode": self.options.mode,
            "steps": self.steps,
            "seconds": self.seconds,
            "seconds_per_step": self.seconds / self.steps if self.steps else 0.0,
            "evaluations": self.evaluations,
            "seed": self.options.seed,
            "start_pose": self.start.as_dict(),
            "start": {"top1": start_top1, "label": model.labels[start_top1],
                      "prob": float(self.start_probs[start_top1]),
                      "true_prob": float(self.start_probs[true]),
                      "misclassified": self.start_misclassified},
            "final_pose": self.pose.as_dict(),
            **d,
            "margin": self.margin,
            "in_view": self.options.in_view,
            "min_margin": self.options.min_margin,
            "first": self.first.summary() if self.first is not None else None,
            "top": model.top(self.probs, 5),
            "true_prob": float(self.probs[true]),
            "target_prob": float(self.probs[self.target]) if self.target is not None else None,
            "files": dict(self.files),
            "interrupted": self.interrupted,
            "rejected": self.rejected,
            "check": self.check(),
        }
        if self.export_error is not None:
            out["export_error"] = self.export_error
        if self.options.search_light:
            out["light"] = light_summary(self.light) if self.light is not None else None
        if self.objective.kind == "detector":
            o = self.objective
            out.update({"objective": o.name, "model": o.model_name, "labels": "coco", "conf_threshold": o.threshold,
                        "true_class": {"index": true, "label": o.labels[true]},
                        "target": None if o.target is None else {"index": o.target, "label": o.labels[o.target]},
                        "seen": o.seen_label(self.probs), **self._detector_part()})
        return out

    def export(self, out_dir) -> dict[str, str]:
        """Write the reported pose's picture and sidecar into `out_dir` (never overwriting): {"image", "json"}."""
        from strike_pose.export import export_shot

        stem = self.objective.shot_stem(self.scene.name, self.probs)
        return export_shot(out_dir, stem, self.image, self.record())


__all__ = ["SearchResult"]
