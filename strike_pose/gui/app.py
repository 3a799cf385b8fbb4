"""The window: pyglet for events, moderngl for the scene, imgui-bundle's pyglet backend for the panels,
all in one OpenGL context. Everything it does beyond wiring is in Session (strike_pose.gui.session).

Pitfalls handled here (what was seen: docs/PLATFORM.md): pyglet's GL error checks are off, since
reading the window back leaves a stale error; Escape does not close the window (the default handler
is replaced); PYOPENGL_PLATFORM=egl is dropped, since the window runs on a display; triton loads
before any GL.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from strike_pose.errors import StrikePoseError, warn

WINDOW_SIZE = (1360, 820)
UI_FPS = 60.0
INPUT_SETTLE = 0.5  # seconds of frames drawn after any input (imgui settles hover and clicks over a few)
IDLE_REDRAW = 0.25  # at rest the window is still drawn this often (a clock, a spinner)
# window events that are no input: they need no frame drawn
QUIET_EVENTS = frozenset({"on_draw", "on_refresh", "on_close"})
FONT_SIZE = 16.0
BACKGROUND_RGB = (0.11, 0.11, 0.12)
# pyglet's errors when no window can be opened (by name: their modules fail to import without a display)
WINDOW_ERRORS = ("NoSuchDisplayException", "WindowException", "ContextException", "NoSuchConfigException",
                 "GLException")


class WindowUnavailable(StrikePoseError):
    """No window could be opened (no display, or no OpenGL on it)."""


def display_available() -> bool:
    """Whether a window can be tried: an X display (or Wayland, or macOS/Windows) is there."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def require_display() -> None:
    """Raise WindowUnavailable, saying what to do, when there is no display to open a window on."""
    if not display_available():
        raise WindowUnavailable(
            "no display: the GUI needs a desktop session (DISPLAY is not set); run `strike-pose run "
            "--headless` for the headless demo, or start the GUI under Xvfb: `xvfb-run -s '-screen 0 "
            "1600x1000x24' strike-pose gui`")


def _prepare_gl_environment() -> None:
    if os.environ.get("PYOPENGL_PLATFORM") == "egl":
        del os.environ["PYOPENGL_PLATFORM"]  # the window needs GLX; EGL is only for headless pyglet
    from strike_pose.render.gl import load_llvm_users_first

    load_llvm_users_first()
    import pyglet

    pyglet.options["debug_gl"] = False


def _font_path() -> str | None:
    import imgui_bundle

    path = Path(imgui_bundle.__file__).parent / "assets" / "fonts" / "DroidSans.ttf"
    return str(path) if path.is_file() else None


def run_gui(scene, classifier, export_dir: str | Path = "out", *, model_name: str | None = None, pose=None,
            size: tuple[int, int] = WINDOW_SIZE, driver: Callable | None = None, fps: float = UI_FPS) -> int:
    """Open the window and run until it is closed. `driver(window, now)` runs once a frame (scripts, tests)."""
    require_display()
    _prepare_gl_environment()
    import pyglet

    try:  # importing pyglet's window module already connects to the display
        window = window_class()(scene, classifier, export_dir, model_name=model_name, pose=pose, size=size,
                                driver=driver)
    except Exception as exc:
        if type(exc).__name__ not in WINDOW_ERRORS:
            raise
        display = os.environ.get("DISPLAY")
        if type(exc).__name__ == "NoSuchDisplayException" and display:  # pyglet says 'Cannot connect to "None"'
            raise WindowUnavailable(
                f"cannot connect to the X display {display!r} named by DISPLAY: no X server answers there; run "
                f"the GUI in a desktop session, start a virtual one (`Xvfb {display} -screen 0 1600x1000x24 &`), "
                "or use `strike-pose run --headless`") from exc
        raise WindowUnavailable(f"could not open a window on display {display!r} ({exc}); "
                                "check the display, or use `strike-pose run --headless`") from exc
    pyglet.app.run(1.0 / fps)
    left = window.leftover_threads or threads_left()
    if left:
        warn(f"threads still running at exit: {', '.join(left)}")
        return 1
    return 0


def caption_for(scene, model_name: str) -> str:
    return f"strike-pose: {scene.name} ({model_name})"


@functools.lru_cache(maxsize=1)
def window_class():
    """The window class (defined on first use: importing pyglet's window needs the GL set-up first)."""
    import moderngl
    import pyglet
    from imgui_bundle import imgui
    from imgui_bundle.python_backends import pyglet_backend
    from pyglet.window import key, mouse

    from strike_pose.gui import panels
    from strike_pose.gui.layout import compute_layout
    from strike_pose.gui.session import Session
    from strike_pose.render.gl import GLRenderer

    class _VisualizerWindow(pyglet.window.Window):
        def __init__(self, scene, classifier, export_dir, *, model_name=None, pose=None, size=WINDOW_SIZE,
                     driver=None):
            super().__init__(size[0], size[1], caption=caption_for(scene, model_name or classifier.name),
                             resizable=True, vsync=False)
            self.set_minimum_size(720, 480)
            self.ctx = moderngl.create_context()
            self.renderer = GLRenderer(self.ctx)
            self.session = Session(scene, classifier, self.renderer, export_dir, model_name=model_name, pose=pose)
            try:
                self.session.window_capture_available = True
                self.panel_state = panels.PanelState()
                imgui.create_context()
                io = imgui.get_io()
                io.set_ini_filename("")  # no imgui.ini next to the user's files
                font = _font_path()
                if font:
                    io.fonts.add_font_from_file_ttf(font, FONT_SIZE)
                self.imgui_renderer = pyglet_backend.create_renderer(self)
            except BaseException:
                self.session.close()  # no worker thread may outlive a window that failed to open
                super().close()
                raise
            self.view_texture = self.heat_texture = self.map_texture = None
            self._shown_map = None  # (the map's version, the pose its cursor shows)
            self._shown_frame_id = None
            self._shown_layer = None
            self.layout = None
            self.driver = driver
            self.leftover_threads: list[str] = []
            self._closed = False
            self._quit_scheduled = False
            self._right_drag = False
            self._scene_name = (scene.name, self.session.model_name)
            self._drawn_state, self._drawn_at, self._draw_until = None, 0.0, 0.0
            self.frames_drawn = 0

        # ------------------------------------------------------------------------------ drawing

        def dispatch_event(self, event_type, *args):
            if event_type not in QUIET_EVENTS:  # input, a resize, an expose: draw the next frames
                self._draw_until = time.perf_counter() + INPUT_SETTLE
            return super().dispatch_event(event_type, *args)

        def draw(self, dt):
            """One pass of the loop (UI_FPS a second): the session takes its workers' results, and the
            window is drawn only when something shown changed, input came in the last INPUT_SETTLE
            seconds, or IDLE_REDRAW seconds passed; at rest the CPU goes to the model and the map."""
            if self._closed:
                return
            self.switch_to()
            now = time.perf_counter()
            session = self.session
            session.update(now)
            if session.quit_requested:
                # not from inside the redraw: pyglet is iterating its set of windows right now
                if not self._quit_scheduled:
                    self._quit_scheduled = True
                    pyglet.clock.schedule_once(lambda _dt: self.dispatch_event("on_close"), 0)
                return
            state = (session.shown_state(), self.get_size())
            drawn = state != self._drawn_state or now < self._draw_until or now - self._drawn_at >= IDLE_REDRAW
            session.frame_tick(now, drawn)
            if drawn:
                self._drawn_state, self._drawn_at = state, now
                self.frames_drawn += 1
                self.dispatch_event("on_draw")
                self.flip()
            if self.driver is not None:
                self.driver(self, now)

        def on_draw(self):
            if self._closed or self.session.quit_requested:
                return
            session = self.session
            width, height = self.get_size()
            size = session.input_size
            self.layout = layout = compute_layout(width, height, size, size, crisp=session.view.model_view)
            scale = self.get_framebuffer_size()[0] / max(width, 1)  # a HiDPI screen has more pixels than points
            session.set_display_size(layout.view.width * scale)
            self._upload_view()
            self._upload_map()
            self.ctx.screen.use()
            self.ctx.viewport = (0, 0, *self.get_framebuffer_size())
            self.ctx.clear(*BACKGROUND_RGB)
            self.imgui_renderer.process_inputs()
            imgui.new_frame()
            view = layout.view
            corners = ((view.x, view.y), (view.x + view.width, view.y + view.height))
            draw_list = imgui.get_background_draw_list()
            draw_list.add_image(imgui.ImTextureRef(self.view_texture.glo), *corners)
            if self._shown_layer is not None:  # imgui blends it with its alpha, as overlay_heatmap does
                draw_list.add_image(imgui.ImTextureRef(self.heat_texture.glo), *corners)
            panels.draw_boxes(draw_list, session, view)
            panels.draw(session, self.panel_state, layout)
            imgui.render()
            self.imgui_renderer.render(imgui.get_draw_data())
            if session.capture_pending:
                session.finish_capture(self.read_window())
            caption = (session.base_scene.name, session.model_name)
            if caption != self._scene_name:
                self._scene_name = caption
                self.set_caption(caption_for(session.base_scene, session.model_name))

        def _upload_view(self):
            """Upload the frame when it is new, and the Grad-CAM layer when it is new (drawn over it)."""
            session = self.session
            session.render_if_needed()
            image, image_id, smooth = session.shown_image()
            if image_id != self._shown_frame_id or self.view_texture is None:
                # the model's input pixel for pixel (crisp blocks), or the smooth render, filtered
                sampling = moderngl.LINEAR if smooth else moderngl.NEAREST
                self.view_texture = self._upload(self.view_texture, image, sampling)
                self._shown_frame_id = image_id
            layer = session.heatmap_layer()
            if layer is not None and layer is not self._shown_layer:
                self.heat_texture = self._upload(self.heat_texture, layer, moderngl.LINEAR)
            self._shown_layer = layer

        def _upload_map(self):
            """Upload the pose map when a newer one is computed or the cursor (the pose) moved."""
            session = self.session
            if not session.map_open:
                return
            version, pose_map, _ = session.map_view.snapshot()
            shown = (version, session.pose)
            if pose_map is None or shown == self._shown_map:
                return
            self._shown_map = shown
            from strike_pose.analysis.mapdraw import map_image

            image = map_image(pose_map, scale=2, cursor=session.pose.as_tuple())
            self.map_texture = self._upload(self.map_texture, image, moderngl.NEAREST)
            self.panel_state.map_texture = (self.map_texture.glo, image.shape[1], image.shape[0])

        def _upload(self, texture, image: np.ndarray, sampling: int):
            """Write an (H, W, C) uint8 image into `texture`, remade when its size or channels change.
            Row 0 of the image is its top, and imgui's texture coordinate (0, 0) is the top-left."""
            h, w, c = image.shape
            if texture is None or texture.size != (w, h) or texture.components != c:
                if texture is not None:
                    texture.release()
                texture = self.ctx.texture((w, h), c, alignment=1)
            texture.filter = (sampling, sampling)
            texture.write(np.ascontiguousarray(image).tobytes(), alignment=1)
            return texture

        def read_window(self) -> np.ndarray:
            """The window as drawn (before the buffer swap): (H, W, 3) uint8, row 0 at the top."""
            width, height = self.get_framebuffer_size()
            data = self.ctx.screen.read(viewport=(0, 0, width, height), components=3, alignment=1)
            _ = self.ctx.error  # reading the default framebuffer can leave a stale error: clear it here
            return np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1].copy()

        # ------------------------------------------------------------------------------ keys

        def on_key_press(self, symbol, modifiers):
            # pyglet's own handler would close the window on Escape: this replaces it.
            name = key.symbol_string(symbol)
            ctrl = bool(modifiers & key.MOD_CTRL)
            if ctrl and name == "Q":
                self.session.quit_requested = True
                return pyglet.event.EVENT_HANDLED
            if imgui.get_io().want_capture_keyboard:  # typing into a field
                return pyglet.event.EVENT_HANDLED
            self.session.key_press(name, shift=bool(modifiers & key.MOD_SHIFT), ctrl=ctrl)
            return pyglet.event.EVENT_HANDLED

        def on_key_release(self, symbol, modifiers):
            self.session.key_release(key.symbol_string(symbol))
            return pyglet.event.EVENT_HANDLED

        def on_deactivate(self):
            self.session.gestures.release_all()

        # ----------------------------------------------------------------------------- mouse

        def _top_down(self, y: float) -> float:
            return self.get_size()[1] - y

        def on_mouse_press(self, x, y, button, modifiers):
            if self.layout is None or imgui.get_io().want_capture_mouse:
                return
            view = self.layout.view
            py = self._top_down(y)
            if not view.contains(x, py):
                return
            if button == mouse.LEFT:
                self.session.gestures.begin_rotate(x, py, view.centre, view.height / 2)
            elif button == mouse.RIGHT:
                self._right_drag = True

        def on_mouse_drag(self, x, y, dx, dy, buttons, modifiers):
            if self.layout is None:
                return
            if buttons & mouse.LEFT:
                self.session.gestures.rotate_to(x, self._top_down(y))
            if buttons & mouse.RIGHT and self._right_drag:
                self.session.gestures.drag_move(dx, -dy, self.layout.view.height)

        def on_mouse_release(self, x, y, button, modifiers):
            if button == mouse.LEFT:
                self.session.gestures.end_rotate()
            elif button == mouse.RIGHT:
                self._right_drag = False

        def on_mouse_scroll(self, x, y, scroll_x, scroll_y):
            if self.layout is None or imgui.get_io().want_capture_mouse:
                return
            if self.layout.view.contains(x, self._top_down(y)):
                self.session.gestures.wheel(scroll_y)

        # ----------------------------------------------------------------------------- closing

        def on_close(self):
            if not self._closed:
                self._closed = True
                self.leftover_threads = self.session.close()
                self.switch_to()
                self.imgui_renderer.shutdown()
                imgui.destroy_context()
                for texture in (self.view_texture, self.heat_texture, self.map_texture):
                    if texture is not None:
                        texture.release()
                self.renderer.release()
            super().on_close()

    return _VisualizerWindow


def threads_left() -> list[str]:
    """Names of the threads other than the main one (for the exit check)."""
    return [t.name for t in threading.enumerate() if t is not threading.main_thread()]
