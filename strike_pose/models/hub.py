"""The weights of `torchvision:NAME` and `timm:NAME` classifiers: where they lie, and fetching them.

`strike-pose models fetch torchvision:NAME` downloads the file torchvision names for the model's
default weights with torch.hub's own function (a progress bar; the SHA-256 prefix in the file's name
checked; written to a temporary file and renamed) into `torch.hub.get_dir()/checkpoints`.
`timm:NAME` downloads the model's pretrained file from the Hugging Face Hub with huggingface_hub's
`hf_hub_download` (a progress bar; renamed into its cache once complete), and its SHA-256 is checked
against the Hub's ETag. Both land exactly where `create_classifier` looks, so the model then loads
offline. Every request has a timeout: without internet a fetch fails within seconds, in one line.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from pathlib import Path
from typing import Callable

from strike_pose.errors import StrikePoseError, one_line

PREFIXES = ("torchvision:", "timm:")
TIMEOUT_S = 10.0  # seconds to connect, and the longest silence while downloading
HF_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm loads from a Hub repository, in its order


def is_hub_name(name: str) -> bool:
    return name.startswith(PREFIXES)


def check_hub_name(name: str) -> None:
    """Refuse a `torchvision:NAME` or `timm:NAME` whose library has no such model, before anything is fetched."""
    library, _, model = name.partition(":")
    if library == "torchvision":
        torchvision_weights(model)
    elif library == "timm":
        timm_hub_id(model)
    else:
        raise StrikePoseError(f"{name!r} is not torchvision:NAME or timm:NAME")


# ------------------------------------------------------------------------------------- where they lie

def torchvision_weights(model: str):
    """The model's default torchvision weights and the file they load from: (weights, path in the torch
    hub cache). An unknown model is refused."""
    import torch
    import torchvision.models as tvm

    try:
        default = tvm.get_model_weights(model).DEFAULT
    except (ValueError, KeyError):
        raise StrikePoseError(f"unknown torchvision model {model!r}; see torchvision.models.list_models()") from None
    return default, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(default.url)


def timm_hub_id(model: str) -> str | None:
    """The Hugging Face repository of the model's pretrained weights (`timm/NAME.TAG[@REVISION]`), or None
    when timm has none for it. An unknown model is refused."""
    import timm
    from timm.models import get_pretrained_cfg

    if not timm.is_model(model):
        raise StrikePoseError(f"unknown timm model {model!r}; see timm.list_models()")
    try:
        cfg = get_pretrained_cfg(model)
    except RuntimeError as exc:  # a tag the architecture does not have
        raise StrikePoseError(f"unknown timm model {model!r} ({one_line(exc)}); see timm.list_pretrained()") from None
    return getattr(cfg, "hf_hub_id", None) or None


def hf_cached(hub_id: str) -> str | None:
    """The weights file of a Hub repository in the local Hugging Face cache, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo, _, revision = hub_id.partition("@")
    for filename in HF_FILES:
        path = try_to_load_from_cache(repo, filename, revision=revision or None)
        if isinstance(path, str) and os.path.isfile(path):
            return path
    return None


# ------------------------------------------------------------------------------------------ fetching

def fetch_hub_weights(name: str, say: Callable[[str], None] = print, force: bool = False) -> Path:
    """Download the weights of `torchvision:NAME` or `timm:NAME` into the cache `create_classifier` reads;
    a no-op when they are there (unless `force`). Returns the file."""
    check_hub_name(name)
    fetch = _fetch_torchvision if name.startswith("torchvision:") else _fetch_timm
    return fetch(name, name.partition(":")[2], say, force)


def _fetch_torchvision(name: str, model: str, say: Callable[[str], None], force: bool) -> Path:
    import torch

    weights, path = torchvision_weights(model)
    if path.is_file() and not force:
        say(f"{name}: already fetched ({path})")
        return path
    match = torch.hub.HASH_REGEX.search(path.name)
    size = weights.meta.get("_file_size")
    say(f"downloading the {name} weights{f' ({size:.0f} MB)' if size else ''} from {weights.url}")
    try:
        with _folder(path.parent, "TORCH_HOME"), _socket_timeout(TIMEOUT_S):
            torch.hub.download_url_to_file(weights.url, str(path), match.group(1) if match else None, progress=True)
    except RuntimeError as exc:
        if "hash" not in str(exc):
            raise
        raise StrikePoseError(f"the download of {weights.url} does not match the SHA-256 prefix in its name "
                              f"({one_line(exc)}): it is corrupt or the file changed; nothing was written") from None
    except OSError as exc:  # urllib's errors, timeouts and refusals are all OSErrors
        raise StrikePoseError(_unreachable(name, weights.url, exc)) from None
    say(f"{name}: fetched -> {path}")
    return path


def _fetch_timm(name: str, model: str, say: Callable[[str], None], force: bool) -> Path:
    hub_id = timm_hub_id(model)
    if hub_id is None:
        raise StrikePoseError(f"timm has no pretrained weights on the Hugging Face Hub for {model!r}; "
                              "pass a weights file with --weights FILE")
    cached = hf_cached(hub_id)
    if cached and not force:
        say(f"{name}: already fetched ({cached})")
        return Path(cached)
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.utils import EntryNotFoundError

    repo, _, revision = hub_id.partition("@")
    with _folder(Path(constants.HF_HUB_CACHE), "HF_HOME"):
        for filename in HF_FILES:
            url = hf_hub_url(repo, filename, revision=revision or None)
            try:
                # One request with our timeout first: hf_hub_download, finding no answer, retries for a minute.
                get_hf_file_metadata(url, timeout=TIMEOUT_S)
            except EntryNotFoundError:
                continue
            except Exception as exc:  # the HTTP client's own errors differ between huggingface_hub versions
                raise StrikePoseError(_unreachable(name, url, exc)) from None
            say(f"downloading the {name} weights from {url}")
            try:
                path = Path(hf_hub_download(repo, filename, revision=revision or None, etag_timeout=TIMEOUT_S,
                                            force_download=force))
            except Exception as exc:
                raise StrikePoseError(_unreachable(name, url, exc)) from None
            _check_hf_blob(path, url)
            say(f"{name}: fetched -> {path}")
            return path
        raise StrikePoseError(f"{hub_id} on the Hugging Face Hub has none of {', '.join(HF_FILES)}; "
                              "pass a weights file with --weights FILE")


def _check_hf_blob(path: Path, url: str) -> None:
    """The Hub names a large file's blob by its SHA-256 (its ETag): a blob whose content differs is
    removed, with the link to it, and refused."""
    from strike_pose.cache import sha256_of

    blob = Path(os.path.realpath(path))
    if not re.fullmatch(r"[0-9a-f]{64}", blob.name):
        return  # a small file's ETag is no SHA-256: nothing to check it against
    found = sha256_of(blob)
    if found != blob.name:
        for file in (path, blob):
            with contextlib.suppress(OSError):
                os.remove(file)
        raise StrikePoseError(f"the download of {url} has SHA-256 {found[:16]}..., not {blob.name[:16]}... as the "
                              "Hub says: it is corrupt; nothing was kept")


@contextlib.contextmanager
def _folder(folder: Path, variable: str):
    """`folder`, made for a download once it is known to be writable; when the download fails, the
    folders made for it are removed again (those left empty), so a failed fetch writes nothing."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    writable = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    why = None if writable else f"{existing} is not a writable folder"
    if why is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = exc.strerror or str(exc)
    if why:
        raise StrikePoseError(f"cannot write the weights into {folder} ({why}); "
                              f"set {variable} to a folder you can write")
    try:
        yield
    except BaseException:
        made = folder
        while made != existing:
            with contextlib.suppress(OSError):
                made.rmdir()
            made = made.parent
        raise


def _unreachable(name: str, url: str, exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    status = getattr(exc, "code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        why = f"the server answered HTTP {status}"
    elif isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError) or "Timeout" in type(exc).__name__:
        why = f"no answer within {TIMEOUT_S:g} s; fetching needs internet"
    else:
        why = one_line(reason if reason is not None else (str(exc) or type(exc).__name__), 200)
        why += "; fetching needs internet"
    return (f"could not download the {name} weights from {url} ({why}); download that file on a machine "
            "with internet and pass it here with --weights FILE")


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """urllib, which torch.hub uses, takes its timeout from the socket default."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)
