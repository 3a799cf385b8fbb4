"""The scene and model panel (the scene list, Open buttons, the true class, the model, the field of view
and the scene's toggles) and the file choosing behind its Open buttons: the system's dialog where there
is one, else an imgui file browser. Files and models open through the Loader."""

from __future__ import annotations

from pathlib import Path

from imgui_bundle import imgui

from strike_pose.gui.files import FILE_KINDS, FileBrowser, native_dialog_available, native_filters
from strike_pose.gui.layout import Layout
from strike_pose.gui.loader import Loader
from strike_pose.gui.panels.common import GREY, PanelState, slider
from strike_pose.gui.session import Session
from strike_pose.models.labels import label_of


def scene_panel(session: Session, state: PanelState) -> None:
    scene = session.base_scene
    loader = session.loader
    imgui.text(f"scene {scene.name}: {scene.mesh.triangle_count} triangles")
    imgui.text(f"true class: {label_of(scene.true_class)}")
    names = _scene_names(state)
    if names:
        index = names.index(scene.name) if scene.name in names else -1
        changed, index = imgui.combo("scene##pick", index, names)
        if imgui.is_item_hovered():
            imgui.set_tooltip("the bundled scenes, then the objects fetched with strike-pose objects fetch")
        if changed and index >= 0:
            loader.open_named_scene(names[index])
    for kind, label in (("scene", "Open scene..."), ("mesh", "Open mesh..."), ("background", "Open background...")):
        if imgui.button(label):
            _open_dialog(state, kind)
        if kind != "background":
            imgui.same_line()
    _, state.true_class_text = imgui.input_text_with_hint("##true", "ImageNet label or index", state.true_class_text)
    imgui.same_line()
    if imgui.button("set true class") and state.true_class_text.strip():
        session.set_true_class(state.true_class_text)
    imgui.separator()
    _model_picker(session.model_name, loader, state, session.searching)
    imgui.separator()
    changed, fov = slider("field of view", scene.camera.fov_y, 5.0, 90.0, "%.1f deg")
    if changed:
        session.set_fov(fov)
    for name in ("background", "texture", "specular"):
        changed, on = imgui.checkbox(name, getattr(session.view, name))
        if changed:
            session.set_view(**{name: on})
        if name != "specular":
            imgui.same_line()


def _model_picker(model_name: str, loader: Loader, state: PanelState, searching: bool) -> None:
    """The classifiers with weights here, and a field for any other; off while a search or a load runs."""
    if state.models is None:
        from strike_pose.models import list_models

        state.models = [m["name"] for m in list_models() if m["weights"]]
    models = list(state.models)
    if model_name not in models:
        models.append(model_name)
    imgui.begin_disabled(searching or loader.loading is not None)
    changed, index = imgui.combo("model", models.index(model_name), models)
    if changed and models[index] != model_name:
        loader.set_model(models[index])
    _, state.model_text = imgui.input_text_with_hint("##othermodel", "e.g. torchvision:resnet50", state.model_text)
    imgui.same_line()
    if imgui.button("load model"):
        loader.set_model(state.model_text)
    imgui.end_disabled()
    imgui.text_colored(GREY, "other models: torchvision:NAME or timm:NAME with cached weights")


def _scene_names(state: PanelState) -> list[str]:
    """The bundled scenes and the fetched objects, listed again every few seconds (a fetch in another
    terminal shows up without a restart)."""
    import time

    from strike_pose.scenes import available_scenes

    listed, names = state.scenes
    if time.monotonic() - listed > 3.0:
        names = available_scenes()
        state.scenes = (time.monotonic(), names)
    return names


# ----------------------------------------------------------------------------- file choosing

def _open_dialog(state: PanelState, kind: str) -> None:
    start = state.start_folder
    if native_dialog_available():
        from imgui_bundle import portable_file_dialogs as pfd

        state.native_dialog = (kind, pfd.open_file(f"Open {kind}", str(start), native_filters(kind)))
    else:
        state.browser = FileBrowser(kind, start.resolve())


def poll_native_dialog(loader: Loader, state: PanelState) -> None:
    """Once a frame: the file chosen in the system's dialog, when it closed, opens in the loader."""
    if state.native_dialog is None:
        return
    kind, dialog = state.native_dialog
    if dialog.ready(0):
        state.native_dialog = None
        chosen = dialog.result()
        if chosen:
            state.start_folder = Path(chosen[0]).parent
            loader.open_file(kind, chosen[0])


def file_browser(loader: Loader, state: PanelState, layout: Layout) -> None:
    """The imgui file browser over the view, while one is open."""
    browser = state.browser
    if browser is None:
        return
    area = layout.view_area
    imgui.set_next_window_pos((area.x + area.width / 2, area.y + area.height / 2), imgui.Cond_.appearing, (0.5, 0.5))
    imgui.set_next_window_size((min(560, area.width - 20), min(440, area.height - 20)), imgui.Cond_.appearing)
    title, suffixes = FILE_KINDS[browser.kind]
    _, still_open = imgui.begin(f"Open {browser.kind}##browser", True, imgui.WindowFlags_.no_saved_settings)
    imgui.text_colored(GREY, f"{title}: {' '.join(suffixes)}")
    if imgui.button("Up"):
        browser.up()
    imgui.same_line()
    imgui.text(str(browser.folder))
    chosen: Path | None = None
    if imgui.begin_list_box("##entries", (-1, -60)):
        for entry in browser.entries:
            if imgui.selectable(entry.name, False)[0]:
                chosen = browser.choose(entry)
        imgui.end_list_box()
    entered, browser.typed_path = imgui.input_text("path", browser.typed_path,
                                                   imgui.InputTextFlags_.enter_returns_true)
    imgui.same_line()
    if imgui.button("Open") or entered:
        chosen = browser.typed()
    imgui.end()
    if chosen is not None:
        state.start_folder = chosen.parent
        loader.open_file(browser.kind, chosen)
        state.browser = None
    elif not still_open:
        state.browser = None
