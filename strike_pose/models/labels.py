"""ImageNet-1k class names (from torchvision's bundled metadata: no download) and look-ups: a class
from a label or index (`resolve_class`), the classes a text names (`find_classes`), and the ones a
misspelt name may mean (`similar_classes`)."""

from __future__ import annotations

import difflib
import re
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
        raise StrikePoseError(f"{where} is empty; "
                              "give an ImageNet label or index (`strike-pose classes WORD` finds labels)")
    lowered = [label.lower() for label in labels]
    if wanted in lowered:
        return lowered.index(wanted)
    close = similar_classes(wanted)
    hint = f"; did you mean {', '.join(repr(label) for _, label in close)}?" if close else (
        "; `strike-pose classes` lists all 1000 labels"
    )
    raise StrikePoseError(f"{where} {shown(value)} is not an ImageNet class{hint}")


def _words(label: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", label.lower())


def _normal(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").split())


def find_classes(text: str | None = None, limit: int | None = None) -> list[tuple[int, str]]:
    """The (index, label) pairs that `text` names, in index order: the class of that index when `text`
    is one ("779"), and every label that contains `text` (case-insensitive, "_" read as a space); all
    1000 when `text` is empty. At most `limit` of them. The one filter of labels, for the command line's
    `classes` and the visualizer's class list."""
    labels = imagenet_labels()
    wanted = _normal(text or "")
    index = _integer(wanted) if wanted else None
    found = [(i, label) for i, label in enumerate(labels)
             if i == index or wanted in label.lower().replace("_", " ")]
    return found[:limit] if limit is not None else found


def similar_classes(text: str, n: int = 3) -> list[tuple[int, str]]:
    """Up to `n` (index, label) pairs for a misspelt or partial class name, best first: labels with
    `text` as a word ("bus": 'school bus'), then labels containing it (ending with it first:
    'minibus'), then labels with a word that looks like it ('buss'), then labels that do ('school buss')."""
    labels = imagenet_labels()
    wanted = _normal(text)
    if not wanted or len(wanted) > 200:  # difflib takes quadratic time
        return []
    lowered = [label.lower() for label in labels]
    ranked: list[int] = [i for i, label in enumerate(lowered) if wanted in _words(label)]
    ranked += sorted((i for i, label in enumerate(lowered) if wanted in label),
                     key=lambda i: (not any(w.endswith(wanted) for w in _words(lowered[i])), i))
    words = sorted({w for label in lowered for w in _words(label)}) if " " not in wanted else []
    for word in difflib.get_close_matches(wanted, words, n=n, cutoff=0.75):
        ranked += [i for i, label in enumerate(lowered) if word in _words(label)]
    ranked += [lowered.index(c) for c in difflib.get_close_matches(wanted, lowered, n=n, cutoff=0.6)]
    unique = list(dict.fromkeys(ranked))
    return [(i, labels[i]) for i in unique[:n]]


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
