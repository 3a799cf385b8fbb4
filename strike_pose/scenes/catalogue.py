"""The catalogue's real objects as scenes: fetching them (strike_pose.assets.objects downloads, checks and
converts; each new scene must load here before it is kept) and checking that the model knows each one
at its catalogue pose (`strike-pose objects check`)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from strike_pose.assets import objects
from strike_pose.errors import StrikePoseError
from strike_pose.scenes import load_scene


def fetch_objects(chosen: list[objects.CatalogueObject], say: Callable[[str], None] = print,
                  force: bool = False) -> list[dict]:
    """Fetch catalogue objects (see strike_pose.assets.objects.fetch), each scene loaded before it is kept."""
    return objects.fetch(chosen, check=load_scene, say=say, force=force)


def check_objects(names: list[str], model: str = "efficientnet_lite0") -> list[dict]:
    """Classify each fetched object at its scene's pose: the figure that says it is recognisable."""
    from strike_pose.models import create_classifier
    from strike_pose.models.labels import label_of
    from strike_pose.render import render_image

    classifier = create_classifier(model)
    rows = []
    for name in names:
        if objects.fetched_scene(name) is None:
            raise StrikePoseError(f"{name} is not fetched; run strike-pose objects fetch {name}")
        scene = load_scene(name)
        probs = classifier.probabilities(render_image(scene, scene.pose)[None])[0]
        top1 = int(np.argmax(probs))
        rows.append({"name": name, "model": model, "true_class": label_of(scene.true_class),
                     "true_prob": float(probs[scene.true_class]), "top1": top1, "top1_label": label_of(top1),
                     "top1_prob": float(probs[top1]), "correct": top1 == scene.true_class,
                     "pose": scene.pose.as_dict(), "licence": scene.source.get("object", {}).get("licence")})
    return rows


__all__ = ["check_objects", "fetch_objects"]
