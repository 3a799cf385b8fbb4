"""Opening files and models in the visualizer without freezing it: one loader thread.

A scene (.toml), a mesh, a background image or a model loads in the background; the window goes on
drawing. When it is ready the session switches to it, but only if it renders: a file that loads but
cannot be shown leaves the previous scene in place, with the reason in the status line. One load
runs at a time.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from strike_pose.errors import StrikePoseError


@dataclass
class Loading:
    kind: str  # "scene", "mesh", "background" or "model"
    what: str  # shown while it loads
    future: Future


class Loader:
    def __init__(self, session):
        self.session = session
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
            self.session.say("type a model name", error=True)
            return False
        return self._load("model", name, lambda: create_classifier(name))

    def _load(self, kind: str, what: str, load: Callable[[], Any]) -> bool:
        if self.loading is not None:
            self.session.say(f"still loading {self.loading.what}; wait for it", error=True)
            return False
        self.loading = Loading(kind, what, self._pool.submit(load))
        self.session.say(f"loading {kind} {what}...")
        return True

    def update(self) -> None:
        """Once a frame: when a load has finished, switch to what it loaded (or say why not)."""
        loading, s = self.loading, self.session
        if loading is None or not loading.future.done():
            return
        self.loading = None
        try:
            result = loading.future.result()
        except StrikePoseError as exc:
            s.say(f"could not open {loading.kind}: {exc} (kept the previous one)", error=True)
            return
        except Exception as exc:  # a broken file can fail anywhere in a third-party loader
            s.say(f"could not open {loading.kind} {loading.what}: {type(exc).__name__}: {exc} "
                  "(kept the previous one)", error=True)
            return
        if loading.kind == "model":
            s.use_model(result, loading.what)
            s.say(f"model {loading.what} loaded (input {result.input_size} px)")
            return
        base = s.base_scene
        if loading.kind == "scene":
            if s.use_scene(result, result.pose):
                s.start_pose = result.pose
                s.say(f"opened scene {loading.what}")
            return
        if loading.kind == "mesh":
            new_base = replace(base, mesh=result, name=Path(loading.what).stem,
                               source={**base.source, "mesh": loading.what})
        else:
            new_base = replace(base, background=result, source={**base.source, "background": loading.what})
        if s.use_scene(new_base, s.pose):
            s.say(f"opened {loading.kind} {loading.what}")

    def close(self) -> None:
        if self.loading is not None:
            self.loading.future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
