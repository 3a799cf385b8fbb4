"""Where a model runs: the one choice of torch device for the classifiers and the detector."""

from __future__ import annotations

import torch

from strike_pose.errors import StrikePoseError


def pick_device(device: str | None = None) -> torch.device:
    """The torch device a model runs on: `device` when given and present here, else CUDA when there is a GPU,
    else the CPU."""
    if device:
        try:
            chosen = torch.device(device)
        except RuntimeError:
            raise StrikePoseError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise StrikePoseError(f"device {device!r}: no CUDA GPU is available here (torch.cuda.is_available() is "
                                  "False); use --device cpu") from None
        if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise StrikePoseError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s); "
                                  "use cuda:0 or --device cpu") from None
        return chosen
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
