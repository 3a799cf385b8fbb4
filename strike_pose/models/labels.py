"""ImageNet-1k class names (from torchvision's bundled metadata: no download) and look-ups."""

from __future__ import annotations

import difflib
from functools import lru_cache

from strike_pose.errors import StrikePoseError, shown


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
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise StrikePoseError(f"{where} must be an ImageNet label or index, got {shown(value)}")
    index = value if isinstance(value, int) else _integer(value)
    if index is not None:
        if not 0 <= index < len(labels):
            shown_index = index if abs(index) < 10**12 else shown(value)
            raise StrikePoseError(f"{where} index {shown_index} is out of range; ImageNet indices are 0 to "
                                  f"{len(labels) - 1}")
        return index
    wanted = value.strip().lower().replace("_", " ")
    if not wanted:
        raise StrikePoseError(f"{where} is empty; give an ImageNet label or index (`strike-pose classes WORD` finds labels)")
    lowered = [label.lower() for label in labels]
    if wanted in lowered:
        return lowered.index(wanted)
    close = difflib.get_close_matches(wanted, lowered, n=3, cutoff=0.6) if len(wanted) <= 200 else []
    hint = f"; did you mean {', '.join(repr(labels[lowered.index(c)]) for c in close)}?" if close else (
        "; `strike-pose classes` lists all 1000 labels"
    )
    raise StrikePoseError(f"{where} {shown(value)} is not an ImageNet class{hint}")


def _integer(text: str) -> int | None:
    """The integer that `text` spells in decimal digits, with an optional sign (' 12', '-1', '+3'), or None."""
    digits = text.strip()
    if digits[:1] in ("+", "-"):
        digits = digits[1:]
    if not digits or not digits.isdecimal():
        return None
    try:
        return int(text.strip())
    except ValueError:  # more digits than Python converts
        return None


def label_of(index: int) -> str:
    return imagenet_labels()[index]
