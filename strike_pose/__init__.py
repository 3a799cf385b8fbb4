"""strike-pose: find the poses of familiar 3D objects that fool image classifiers.

The flow is scene -> render -> classify -> search -> export:

    import strike_pose
    scene = strike_pose.load_scene("school_bus")
    image = strike_pose.render_image(scene, (30, 10, 0, 0, 0, -8))  # HxWx3 uint8
    clf = strike_pose.create_classifier("efficientnet_lite0")
    probs = clf.probabilities(image)                                 # (1000,)

The functions are `render_image`, `render_differentiable` (the torch twin), `create_classifier`,
`load_scene` and `export_shot` (with the types Scene, Pose, Light, Camera); `strike_pose.render`,
`strike_pose.search`, `strike_pose.models`, ... are always the subpackages, whatever was imported first.
Names are imported when first used, so that `import strike_pose` (and the command line's quick
commands) do not pay for torch and OpenGL until they are needed.
"""

from importlib import import_module

from strike_pose.errors import StrikePoseError

__version__ = "0.1.0"

_WHERE = {
    "create_classifier": "strike_pose.models",
    "render_image": "strike_pose.render",
    "render_differentiable": "strike_pose.render.diff",
    "export_shot": "strike_pose.export",
    "Camera": "strike_pose.scene", "Light": "strike_pose.scene", "Pose": "strike_pose.scene",
    "Scene": "strike_pose.scene", "load_scene": "strike_pose.scenes",
}
# Subpackages and modules: no function above shares a name with one, so importing one (which binds
# its name here) never hides a function.
_MODULES = ("analysis", "assets", "cli", "experiments", "export", "fields", "gui", "models", "render", "scene",
            "scenes", "search")


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    if name in _MODULES:
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'strike_pose' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_WHERE, *_MODULES})


__all__ = ["StrikePoseError", *_WHERE, "__version__"]
