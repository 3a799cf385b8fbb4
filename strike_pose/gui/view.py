"""The view's toggles (background, texture, specular, live, Grad-CAM, ...) and the keys that flip them."""

from __future__ import annotations

from dataclasses import dataclass

from strike_pose.scene import Scene

DEFAULT_SPECULAR = 0.5  # the specular strength when the scene has none and specular is turned on
TOGGLES = {  # key action -> (the view setting it flips, what the status line says when it turns on, off)
    "toggle_live": ("live", "live classification on", "live classification off"),
    "toggle_help": ("help", None, None),
    "toggle_model_view": ("model_view", "showing what the model sees: its input, pixel for pixel",
                          "showing a smooth, higher-resolution render (the model still sees its own input size)"),
    "toggle_gradcam": ("gradcam", "Grad-CAM on", "Grad-CAM off"),
}


@dataclass
class ViewSettings:
    background: bool = True
    texture: bool = True
    specular: bool = False
    live: bool = True  # classify every new frame
    gradcam: bool = False  # heatmap of the top-1 class over the view
    help: bool = False  # the key table over the view (H); the status line says so at start
    model_view: bool = False  # show the model's input pixel for pixel instead of the smooth display (M)
    detector: bool = False  # the detector mode: its boxes over the view (B)
    save_window: bool = False  # a capture also saves the whole window

    def shown(self, base: Scene, specular_strength: float) -> Scene:
        """The scene as shown, searched and exported: `base` with these toggles applied."""
        return base.as_shown(self.background, self.texture, specular_strength if self.specular else 0.0)

    def flipped(self, action: str) -> tuple[str, bool, str | None]:
        """A toggle key's action (TOGGLES): the setting it flips, its new value, what the status line says."""
        setting, said_on, said_off = TOGGLES[action]
        value = not getattr(self, setting)
        return setting, value, said_on if value else said_off

    def exported(self) -> dict:
        """What a capture records about the view (the rest is in the scene's light and camera)."""
        return {"background": self.background, "texture": self.texture, "specular": self.specular}
