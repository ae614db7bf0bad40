"""Detect objects in images and draw them (PaddleDetection's tools/infer.py command line).

    python tools/det/infer.py -c CFG -o weights=output/<name>/best_model \
        --infer_img img.jpg | --infer_dir images/ [--output_dir output] [--draw_threshold 0.5]

Writes each image with its boxes (score >= draw_threshold) drawn into ``--output_dir``, and
with ``--save_results true`` a bbox.json of all detections.
"""
import glob
import os

from _common import UserError, check_weights, load, main_guard, parser, select_device

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


def parse_args():
    p = parser()
    p.add_argument("--infer_img", type=str, default=None, help="one image")
    p.add_argument("--infer_dir", type=str, default=None, help="a directory of images")
    p.add_argument("--output_dir", type=str, default="output", help="drawn images go here")
    p.add_argument("--draw_threshold", type=float, default=0.5, help="score to draw a box")
    p.add_argument("--save_results", type=lambda s: s.lower() in ("1", "true", "yes"),
                   default=False, help="also write bbox.json")
    p.add_argument("--visualize", type=lambda s: s.lower() in ("1", "true", "yes"),
                   default=True, help="draw the boxes")
    return p.parse_args()


def test_images(infer_img, infer_dir):
    """Images named by --infer_img (wins) or found in --infer_dir, as PaddleDetection."""
    if infer_img:
        if not os.path.isfile(infer_img):
            raise UserError(f"--infer_img {infer_img} is not a file")
        return [infer_img]
    if not infer_dir:
        raise UserError("give --infer_img IMAGE or --infer_dir DIRECTORY")
    if not os.path.isdir(infer_dir):
        raise UserError(f"--infer_dir {infer_dir} is not a directory")
    images = sorted(p for p in glob.glob(os.path.join(os.path.abspath(infer_dir), "*"))
                    if p.lower().endswith(IMAGE_EXTS))
    if not images:
        raise UserError(f"--infer_dir {infer_dir} holds no {'/'.join(IMAGE_EXTS)} image")
    return images


def run():
    flags = parse_args()
    cfg = load(flags)
    select_device(cfg)
    check_weights(cfg.weights, "weights")
    images = test_images(flags.infer_img, flags.infer_dir)
    from ppdet.engine import Trainer

    trainer = Trainer(cfg, mode="test")
    trainer.load_weights(cfg.weights)
    trainer.predict(images, draw_threshold=flags.draw_threshold, output_dir=flags.output_dir,
                    save_results=flags.save_results, visualize=flags.visualize)
    return [os.path.join(flags.output_dir, os.path.basename(p)) for p in images]


if __name__ == "__main__":
    main_guard(run)
