"""The detector's own cost: YOLOv3-tiny's forward (and forward + backward, for the search) at its
416-pixel input, beside EfficientNet-Lite0's at 224, measured in one process (medians), so that
the ratios hold on a shared machine. Also the OpenGL render at 416 that the detector sees.

    python -m benchmarks.detector_bench [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import sys

import torch

from benchmarks.run import median_ms
from strike_pose.render.gl import load_llvm_users_first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    load_llvm_users_first()
    from strike_pose import create_classifier, load_scene
    from strike_pose.models.detector import create_detector
    from strike_pose.render import default_renderer

    scene = load_scene("school_bus")
    renderer = default_renderer()
    detector = create_detector("yolov3_tiny")
    classifier = create_classifier("efficientnet_lite0")
    image = renderer.render(scene, scene.pose, size=detector.input_size)
    rows = []
    with torch.no_grad():
        base = median_ms(lambda: classifier.logits(torch.rand(1, 3, 224, 224, device=classifier.device)), args.repeat)
    rows.append(("EfficientNet-Lite0 forward, 1 image at 224", base))
    rows.append(("OpenGL render + readback at 416", median_ms(
        lambda: renderer.render(scene, scene.pose, size=detector.input_size), args.repeat)))
    rows.append(("YOLOv3-tiny detect (forward, threshold, NMS), 1 image at 416",
                 median_ms(lambda: detector.detect(image), args.repeat)))
    for batch in (1, 8):
        x = torch.rand(batch, 3, 416, 416, device=detector.device)
        with torch.no_grad():
            rows.append((f"YOLOv3-tiny forward, batch {batch}", median_ms(lambda: detector.scores(x), args.repeat)))

        def forward_backward():
            xg = x.clone().requires_grad_(True)
            _, scores = detector.scores(xg)
            scores[..., 5].amax(dim=1).sum().backward()

        rows.append((f"YOLOv3-tiny forward + backward to the pixels, batch {batch}",
                     median_ms(forward_backward, args.repeat)))
    print(f"Detector benchmark: {platform.processor() or platform.machine()}, {detector.device}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), medians of {args.repeat}")
    print()
    print("| stage | ms | x Lite0 forward |")
    print("|---|---:|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
