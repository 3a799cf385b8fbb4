"""strike-pose: find the poses of familiar 3D objects that fool image classifiers.

The flow is scene -> render -> classify -> search -> export:

    import strike_pose
    scene = strike_pose.load_scene("school_bus")
    image = strike_pose.render(scene, (30, 10, 0, 0, 0, -8))       # HxWx3 uint8
    clf = strike_pose.create_classifier("efficientnet_lite0")
    probs = clf.probabilities(image)                                # (1000,)
"""

from strike_pose.errors import StrikePoseError
from strike_pose.models import create_classifier
from strike_pose.render import render
from strike_pose.render.diff import render_differentiable
from strike_pose.scene import Camera, Light, Pose, Scene, load_scene

__version__ = "0.1.0"

__all__ = ["StrikePoseError", "create_classifier", "render", "render_differentiable", "Camera", "Light", "Pose", "Scene",
           "load_scene", "__version__"]
