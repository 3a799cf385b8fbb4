"""How well the twin's gradient agrees with finite differences, against two references.

1. Supersampled OpenGL under a smooth image-space loss (the test's reference).
2. The classifier's loss log p(true) on plain OpenGL renders, at two step sizes: it is rough at the
   scale of a degree, so the two step sizes disagree with each other about as much as with the
   analytic gradient.

    python -m benchmarks.gradient_report [--poses 20]
"""

from __future__ import annotations

import argparse

import numpy as np

from strike_pose.render.gl import load_llvm_users_first


def classifier_fd_agreement(renderer, scene, classifier, pose: np.ndarray) -> dict[str, float]:
    """For the classifier's loss log p(true): cosine of the analytic gradient with central differences
    at 0.5 and at 1 degree (0.01 / 0.02 units), and of those two with each other."""
    from strike_pose.render.diff import twin_gradients
    from strike_pose.render.verify import cosine
    from strike_pose.scene import Pose
    from strike_pose.search.objective import Objective

    objective = Objective(classifier, scene.true_class, loss="logp")
    analytic = twin_gradients(scene, pose[None], objective.image_losses, size=classifier.input_size,
                              renderer=renderer).pose_grads[0]
    fds = []
    for scale in (0.5, 1.0):
        step = np.array([1, 1, 1, 0.02, 0.02, 0.02]) * scale
        offsets = np.concatenate([np.diag(step), -np.diag(step)])
        images = np.stack([renderer.render(scene, Pose.of(pose + o), size=classifier.input_size) for o in offsets])
        losses, _ = objective.evaluate(images)
        fds.append((losses[:6] - losses[6:]) / (2 * step))
    return {"analytic_vs_fd_small": cosine(analytic, fds[0]), "analytic_vs_fd_large": cosine(analytic, fds[1]),
            "fd_small_vs_fd_large": cosine(fds[0], fds[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default="school_bus,soccer_ball,traffic_light")
    parser.add_argument("--poses", type=int, default=20)
    args = parser.parse_args()
    load_llvm_users_first()

    import strike_pose
    from strike_pose.render import default_renderer
    from strike_pose.render.verify import gradient_agreement, parity, random_natural_pose

    clf = strike_pose.create_classifier()
    renderer = default_renderer()
    print("| scene | parity, AA twin vs GL (1/255) | smooth loss: all | silhouette | interior | "
          "classifier loss: analytic vs FD 0.5 deg | analytic vs FD 1 deg | FD 0.5 vs FD 1 deg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.scenes.split(","):
        scene = strike_pose.load_scene(name)
        rng = np.random.default_rng(3)
        smooth, rough, par = [], [], []
        for _ in range(args.poses):
            pose = random_natural_pose(rng, scene.pose)
            par.append(parity(renderer, scene, pose))
            smooth.append(gradient_agreement(renderer, scene, pose, rng))
            rough.append(classifier_fd_agreement(renderer, scene, clf, pose))

        def med(rows, key):
            return f"{np.median([r[key] for r in rows]):.2f}"

        print(f"| {name} | {np.mean(par):.2f} | {med(smooth, 'all')} | {med(smooth, 'silhouette')} | "
              f"{med(smooth, 'interior')} | {med(rough, 'analytic_vs_fd_small')} | "
              f"{med(rough, 'analytic_vs_fd_large')} | {med(rough, 'fd_small_vs_fd_large')} |", flush=True)
    print(f"\nMedian cosines over {args.poses} random natural poses per scene (yaw any, pitch and roll "
          "within 30 degrees).")


if __name__ == "__main__":
    main()
