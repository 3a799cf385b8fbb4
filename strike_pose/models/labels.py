"""ImageNet-1k class names (from torchvision's bundled metadata: no download) and look-ups."""

from __future__ import annotations

import difflib
from functools import lru_cache

from strike_pose.errors import StrikePoseError


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 labels, read from torchvision's metadata file without importing torch (which takes
    seconds); through torchvision's API if that file ever moves."""
    import ast
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("torchvision")
    meta = Path(spec.origin).parent / "models" / "_meta.py" if spec and spec.origin else None
    if meta is not None and meta.is_file():
        for node in ast.parse(meta.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_IMAGENET_CATEGORIES":
                labels = tuple(ast.literal_eval(node.value))
                if len(labels) == 1000:
                    return labels
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def resolve_class(value: str | int, where: str = "class") -> int:
    """An ImageNet index from an index (int or digits) or a label (case-insensitive)."""
    labels = imagenet_labels()
    if isinstance(value, bool):
        raise StrikePoseError(f"{where} must be an ImageNet label or index, got {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        index = int(value)
        if not 0 <= index < len(labels):
            raise StrikePoseError(f"{where} index {index} is out of range; ImageNet indices are 0 to {len(labels) - 1}")
        return index
    if not isinstance(value, str):
        raise StrikePoseError(f"{where} must be an ImageNet label or index, got {value!r}")
    wanted = value.strip().lower().replace("_", " ")
    lowered = [label.lower() for label in labels]
    if wanted in lowered:
        return lowered.index(wanted)
    close = difflib.get_close_matches(wanted, lowered, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(labels[lowered.index(c)]) for c in close)}?" if close else (
        "; `strike-pose classes` lists all 1000 labels"
    )
    raise StrikePoseError(f"{where} {value!r} is not an ImageNet class{hint}")


def label_of(index: int) -> str:
    return imagenet_labels()[index]
