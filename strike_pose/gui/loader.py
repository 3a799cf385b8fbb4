"""Opening files and models in the visualizer without freezing it: one loader thread.

A scene (.toml), a mesh, a background image or a model loads in the background; the window goes on
drawing. When it is ready the visualizer switches to it, but only if it renders: a file that loads but
cannot be shown leaves the previous scene in place, with the reason in the status line. One load
runs at a time. The Loader is given what it needs as LoaderPorts, a few callbacks that the session
wires; it keeps no reference to the session.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from strike_pose.errors import StrikePoseError
from strike_pose.scene import Pose, Scene


@dataclass
class Loading:
    kind: str  # "scene", "mesh", "background" or "model"
    what: str  # shown while it loads
    future: Future


@dataclass(frozen=True)
class LoaderPorts:
    """What the Loader needs from the visualizer, as callbacks."""

    say: Callable[..., None]  # say(message, error=False): the status line
    scene: Callable[[], Scene]  # the scene a mesh or background goes into (without the view's toggles)
    pose: Callable[[], Pose]  # the pose, which a new mesh or background keeps
    use_scene: Callable[[Scene, Pose], bool]  # switch to a scene if it renders (else say why and keep the old)
    use_model: Callable[[Any, str], None]  # switch to a loaded classifier, with its name
    set_start: Callable[[Pose], None]  # where Backspace returns: a newly opened scene's own pose


class Loader:
    def __init__(self, ports: LoaderPorts):
        self.ports = ports
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader")
        self.loading: Loading | None = None

    def open_file(self, kind: str, path: str | Path) -> bool:
        """Load a scene (.toml), mesh or background image in the loader thread."""
        from strike_pose.assets import load_background, load_mesh
        from strike_pose.scenes import load_scene

        path = str(Path(path).expanduser())
        loaders = {"scene": lambda: load_scene(path), "mesh": lambda: load_mesh(path),
                   "background": lambda: load_background(path)}
        if kind not in loaders:
            raise ValueError(f"unknown kind {kind!r}")
        return self._load(kind, path, loaders[kind])

    def open_named_scene(self, name: str) -> bool:
        from strike_pose.scenes import load_scene

        return self._load("scene", name, lambda: load_scene(name))

    def set_model(self, name: str) -> bool:
        from strike_pose.models import create_classifier

        name = name.strip()
        if not name:
            self.ports.say("type a model name", error=True)
            return False
        return self._load("model", name, lambda: create_classifier(name))

    def _load(self, kind: str, what: str, load: Callable[[], Any]) -> bool:
        if self.loading is not None:
            self.ports.say(f"still loading {self.loading.what}; wait for it", error=True)
            return False
        self.loading = Loading(kind, what, self._pool.submit(load))
        self.ports.say(f"loading {kind} {what}...")
        return True

    def update(self) -> None:
        """Once a frame: when a load has finished, switch to what it loaded (or say why not)."""
        loading, ports = self.loading, self.ports
        if loading is None or not loading.future.done():
            return
        self.loading = None
        try:
            result = loading.future.result()
        except StrikePoseError as exc:
            ports.say(f"could not open {loading.kind}: {exc} (kept the previous one)", error=True)
            return
        except Exception as exc:  # a broken file can fail anywhere in a third-party loader
            ports.say(f"could not open {loading.kind} {loading.what}: {type(exc).__name__}: {exc} "
                  "(kept the previous one)", error=True)
            return
        if loading.kind == "model":
            ports.use_model(result, loading.what)
            ports.say(f"model {loading.what} loaded (input {result.input_size} px)")
            return
        base = ports.scene()
        if loading.kind == "scene":
            if ports.use_scene(result, result.pose):
                ports.set_start(result.pose)
                ports.say(f"opened scene {loading.what}")
            return
        if loading.kind == "mesh":
            new_base = replace(base, mesh=result, name=Path(loading.what).stem,
                               source={**base.source, "mesh": loading.what})
        else:
            new_base = replace(base, background=result, source={**base.source, "background": loading.what})
        if ports.use_scene(new_base, ports.pose()):
            ports.say(f"opened {loading.kind} {loading.what}")

    def close(self) -> None:
        if self.loading is not None:
            self.loading.future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
