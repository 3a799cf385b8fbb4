"""MS COCO's classes, as the detector names them, and the COCO class of a scene's object.

No torch here: scenes check their `detector_class` with it.
"""

from __future__ import annotations

from strike_pose.errors import StrikePoseError

CONF_THRESHOLD = 0.5  # Darknet's `detect` default: the least score of a detection
NMS_THRESHOLD = 0.45  # Darknet's: boxes of one class overlapping more than this are one

# MS COCO's 80 classes in Darknet's order (coco.names; the fetched file is checked against this list).
COCO_LABELS = (
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa",
    "pottedplant", "bed", "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush")

# The COCO class a scene's ImageNet class is seen as (a scene may name its own: `detector_class`).
_COCO_OF_IMAGENET = {
    "bus": ("school bus", "trolleybus", "minibus"),
    "traffic light": ("traffic light",),
    "sports ball": ("soccer ball", "tennis ball", "basketball", "baseball", "golf ball", "volleyball",
                    "rugby ball", "ping-pong ball"),
    "bench": ("park bench",),
    "aeroplane": ("airliner", "warplane"),
    "car": ("racer", "sports car", "convertible", "cab", "limousine", "jeep", "minivan", "beach wagon",
            "police van", "Model T"),
    "truck": ("moving van", "trailer truck", "pickup", "fire engine", "garbage truck", "tow truck", "ambulance"),
    "boat": ("catamaran", "trimaran", "yawl", "schooner", "speedboat", "canoe", "lifeboat", "fireboat",
             "container ship", "liner", "gondola"),
    "bicycle": ("mountain bike", "bicycle-built-for-two"),
    "motorbike": ("moped", "motor scooter"),
    "train": ("passenger car", "electric locomotive", "steam locomotive", "bullet train", "freight car"),
    "umbrella": ("umbrella",), "backpack": ("backpack",), "teddy bear": ("teddy",), "laptop": ("laptop",),
    "mouse": ("mouse",), "remote": ("remote control",), "cell phone": ("cellular telephone",),
    "toaster": ("toaster",), "microwave": ("microwave",), "refrigerator": ("refrigerator",),
    "clock": ("wall clock",), "vase": ("vase",), "bottle": ("water bottle", "wine bottle"), "cup": ("coffee mug",),
    "pizza": ("pizza",), "banana": ("banana",), "orange": ("orange",), "broccoli": ("broccoli",),
    "hot dog": ("hotdog",), "zebra": ("zebra",), "elephant": ("African elephant",), "bear": ("brown bear",),
    "cow": ("ox",), "horse": ("sorrel",), "tvmonitor": ("television", "desktop computer"),
    "sofa": ("studio couch",), "chair": ("rocking chair", "folding chair", "barber chair"),
    "diningtable": ("dining table",),
}
COCO_OF_IMAGENET = {imagenet: coco for coco, names in _COCO_OF_IMAGENET.items() for imagenet in names}
DOGS, CATS = range(151, 269), range(281, 286)  # ImageNet's dog breeds and domestic cats


def coco_class_index(label: str, where: str = "detector_class") -> int:
    """The COCO index of a label (Darknet's spelling, e.g. "aeroplane", "tvmonitor"), or one clear error."""
    if label in COCO_LABELS:
        return COCO_LABELS.index(label)
    close = [c for c in COCO_LABELS if label.lower() in c or c in label.lower()]
    raise StrikePoseError(f"{where}: {label!r} is not a COCO class"
                          + (f" (did you mean {', '.join(repr(c) for c in close[:4])}?)" if close else "")
                          + "; the detector's 80 classes are listed in strike_pose/models/coco.py (COCO_LABELS)")


def coco_class_of(scene) -> int | None:
    """The COCO class the detector should see the scene's object as: the scene's `detector_class`, else
    the one its ImageNet class maps to; None when COCO has no such class (a teapot, a space shuttle)."""
    named = getattr(scene, "detector_class", None)
    if named:
        return coco_class_index(named)
    if scene.true_class is None:
        return None
    from strike_pose.models.labels import label_of

    if scene.true_class in DOGS:
        return COCO_LABELS.index("dog")
    if scene.true_class in CATS:
        return COCO_LABELS.index("cat")
    coco = COCO_OF_IMAGENET.get(label_of(scene.true_class))
    return None if coco is None else COCO_LABELS.index(coco)


def require_coco_class(scene) -> int:
    """coco_class_of, or one line saying that the object has no COCO class and how to give it one."""
    index = coco_class_of(scene)
    if index is None:
        from strike_pose.models.labels import label_of

        what = label_of(scene.true_class) if scene.true_class is not None else "no class"
        raise StrikePoseError(f"scene {scene.name!r} ({what}) has no MS COCO class for the detector; give one with "
                              "detector_class = \"LABEL\" in the scene file (a COCO label such as \"car\", \"truck\")")
    return index
