"""`strike-pose models fetch torchvision:NAME | timm:NAME`: served from a loopback HTTP server, landing where
`create_classifier` looks, checked by hash, and failing in one line, never hanging, when nothing answers.

Nothing here reaches beyond 127.0.0.1: torchvision's URL and the Hugging Face endpoint are pointed at
servers in this process, and the caches at temporary folders.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading

import pytest

from strike_pose.cli import main
from strike_pose.errors import StrikePoseError
from strike_pose.models import create_classifier, hub

TV_NAME = "torchvision:squeezenet1_1"  # torchvision's smallest ImageNet classifier
TIMM_NAME = "timm:test_resnet"  # timm's test model: half a million parameters
HF_REPO = "timm/test_resnet.r160_in1k"
HF_PATH = f"/{HF_REPO}/resolve/main/model.safetensors"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch hub and Hugging Face caches under tmp_path, and a short timeout."""
    from huggingface_hub import constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))  # read once, at import
    monkeypatch.setattr(hub, "TIMEOUT_S", 2.0)
    return tmp_path


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(files: dict[str, tuple[bytes, dict]]):
    """An HTTP server on the loopback serving `files` (path -> (body, headers)) to HEAD and GET, with a log
    of the paths asked for; the caller shuts it down."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, body: bool):
            asked.append(self.path)
            if self.path not in files:
                self.send_error(404)
                return
            content, headers = files[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(content)

        def do_HEAD(self):
            self._answer(False)

        def do_GET(self):
            self._answer(True)

        def log_message(self, *args):
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", asked


@pytest.fixture
def serve():
    servers = []

    def start(files):
        server, base, asked = _serve(files)
        servers.append(server)
        return base, asked

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _state_dict_bytes(model) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def _point_torchvision_at(monkeypatch, url: str) -> None:
    import torchvision.models as tvm

    monkeypatch.setattr(tvm.get_model_weights("squeezenet1_1").DEFAULT.value, "url", url)


def _point_hub_at(monkeypatch, base: str) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", base)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", base + "/{repo_id}/resolve/{revision}/{filename}")


def _files_under(folder) -> list:
    return sorted(p for p in folder.rglob("*") if not p.is_dir())


# ---------------------------------------------------------------------------------------- torchvision

def test_torchvision_fetch_lands_where_the_classifier_looks(caches, serve, monkeypatch, capsys):
    import torchvision

    content = _state_dict_bytes(torchvision.models.squeezenet1_1())
    name = f"squeezenet1_1-{hashlib.sha256(content).hexdigest()[:8]}.pth"
    base, asked = serve({f"/{name}": (content, {})})
    _point_torchvision_at(monkeypatch, f"{base}/{name}")
    with pytest.raises(StrikePoseError, match=f"strike-pose models fetch {TV_NAME}"):
        create_classifier(TV_NAME)

    assert main(["models", "fetch", TV_NAME]) == 0
    out, err = capsys.readouterr()
    path = caches / "torch" / "hub" / "checkpoints" / name
    assert out.split() == [TV_NAME, str(path)]
    assert "100%" in err  # torch.hub's progress bar
    assert path.read_bytes() == content and _files_under(caches) == [path]
    assert create_classifier(TV_NAME).input_size == 224  # offline, from the cache

    assert main(["models", "fetch", TV_NAME]) == 0  # a second fetch asks nothing
    assert "already fetched" in capsys.readouterr().err and len(asked) == 1


def test_torchvision_download_with_a_wrong_hash_is_refused_and_leaves_nothing(caches, serve, monkeypatch, capsys):
    name = "squeezenet1_1-0badc0de.pth"
    base, _ = serve({f"/{name}": (b"not the weights the name promises", {})})
    _point_torchvision_at(monkeypatch, f"{base}/{name}")
    assert main(["models", "fetch", TV_NAME]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: the download of") and "SHA-256" in error and "nothing was written" in error
    assert not any(caches.iterdir())


# ---------------------------------------------------------------------------------------------- timm

def _hf_file(content: bytes, etag: str | None = None) -> dict:
    headers = {"ETag": f'"{etag or hashlib.sha256(content).hexdigest()}"', "X-Repo-Commit": COMMIT}
    return {HF_PATH: (content, headers)}


def _safetensors_bytes(model) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def test_timm_fetch_lands_where_the_classifier_looks(caches, serve, monkeypatch, capsys):
    import timm

    content = _safetensors_bytes(timm.create_model("test_resnet"))
    base, asked = serve(_hf_file(content))
    _point_hub_at(monkeypatch, base)
    monkeypatch.setenv("TQDM_POSITION", "-1")  # huggingface_hub draws its bar on a terminal; this stands for one
    with pytest.raises(StrikePoseError, match=f"strike-pose models fetch {TIMM_NAME}"):
        create_classifier(TIMM_NAME)

    assert main(["models", "fetch", TIMM_NAME]) == 0
    out, err = capsys.readouterr()
    path = caches / "hf" / "hub" / "models--timm--test_resnet.r160_in1k" / "snapshots" / COMMIT / "model.safetensors"
    assert out.split() == [TIMM_NAME, str(path)]
    assert "100%" in err  # huggingface_hub's progress bar
    assert path.read_bytes() == content
    assert create_classifier(TIMM_NAME).input_size == 160  # offline, from the cache

    requests = len(asked)
    assert main(["models", "fetch", TIMM_NAME]) == 0  # a second fetch asks nothing
    assert "already fetched" in capsys.readouterr().err and len(asked) == requests


def test_timm_download_that_differs_from_its_etag_is_refused_and_not_kept(caches, serve, monkeypatch, capsys):
    base, _ = serve(_hf_file(b"corrupt weights", etag="ab" * 32))
    _point_hub_at(monkeypatch, base)
    assert main(["models", "fetch", TIMM_NAME]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: the download of") and "SHA-256" in error and "nothing was kept" in error
    assert hub.hf_cached(HF_REPO) is None
    assert not [p for p in _files_under(caches) if p.name in ("model.safetensors", "ab" * 32)]


# ----------------------------------------------------------------------------------- no answer at all

@pytest.fixture(params=["refused", "silent"])
def dead_address(request):
    """A loopback port that refuses connections (bound, not listening), or one that accepts them into its
    backlog and never answers; closed after the test, or after 60 s whatever happens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    if request.param == "silent":
        sock.listen(8)
    closer = threading.Timer(60, sock.close)  # a fetch without its timeout would then fail, not hang
    closer.start()
    yield request.param, f"http://127.0.0.1:{sock.getsockname()[1]}"
    closer.cancel()
    sock.close()


@pytest.mark.parametrize("name", [TV_NAME, TIMM_NAME])
def test_fetch_with_nothing_answering_fails_in_one_line(name, dead_address, caches, monkeypatch, capsys):
    kind, base = dead_address
    _point_torchvision_at(monkeypatch, f"{base}/squeezenet1_1-12345678.pth")
    _point_hub_at(monkeypatch, base)
    assert main(["models", "fetch", name]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: could not download the {name} weights from {base}/")
    assert "fetching needs internet" in error and "--weights FILE" in error
    if kind == "silent":  # the timeout ended it, not the server going away
        assert "no answer within 2 s" in error
    assert not any(caches.iterdir())


# ------------------------------------------------------------------------------------------- names

@pytest.mark.parametrize("name, words", [
    ("torchvision:no_such_net", "unknown torchvision model 'no_such_net'"),
    ("timm:no_such_net", "unknown timm model 'no_such_net'"),
    ("timm:resnet18.no_such_tag", "unknown timm model 'resnet18.no_such_tag'"),
    ("resnet", "'resnet' has no weights to fetch; fetchable: yolov3_tiny, torchvision:NAME, timm:NAME"),
])
def test_unknown_names_are_refused_before_anything_is_fetched(name, words, caches, capsys):
    assert main(["models", "fetch", name, "yolov3_tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {words}") and err.count("\n") == 1


def test_a_timm_tag_the_model_lacks_is_one_line_when_loading_too():
    with pytest.raises(StrikePoseError, match="unknown timm model 'resnet18.no_such_tag'"):
        create_classifier("timm:resnet18.no_such_tag")


def test_fetch_answered_with_an_http_error_fails_in_one_line(caches, serve, monkeypatch, capsys):
    base, _ = serve({})
    _point_torchvision_at(monkeypatch, f"{base}/squeezenet1_1-12345678.pth")
    assert main(["models", "fetch", TV_NAME]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "(the server answered HTTP 404)" in error and "--weights FILE" in error
    assert not any(caches.iterdir())


def test_fetch_into_a_cache_that_cannot_be_written_is_refused(caches, monkeypatch, capsys):
    (caches / "a-file").write_text("")
    monkeypatch.setenv("TORCH_HOME", str(caches / "a-file" / "torch"))
    assert main(["models", "fetch", TV_NAME]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: cannot write the weights into") and "set TORCH_HOME" in error
    assert [p.name for p in caches.iterdir()] == ["a-file"]
