"""Run in the PaddleX environment by tests/test_paddlex_plugin.py: register this project's
models with ``ppcls_infer.paddlex_plugin.register()``, predict with
``paddlex.create_model`` (per engine) and with PaddleX's pipeline of the task, print JSON.

    python tests/paddlex_driver.py '{"task": "cls", "model_name": ..., "model_dir": ...,
                                     "images": [...], "engines": ["paddle", "onnxruntime"]}'
"""
import json
import os
import sys

os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")  # no hub look-ups


def _flat(values):
    import numpy as np

    return np.asarray(values).ravel().tolist()


def _cls(result):
    return dict(path=result["input_path"], class_ids=[int(i) for i in _flat(result["class_ids"])],
                scores=[float(s) for s in _flat(result["scores"])],
                label_names=[str(n) for n in result["label_names"]])


def _det(result):
    return dict(path=result["input_path"],
                boxes=[[int(b["cls_id"]), float(b["score"])] + [float(c) for c in
                                                                 b["coordinate"]]
                       for b in result["boxes"]])


def main():
    args = json.loads(sys.argv[1])
    from ppcls_infer.paddlex_plugin import register

    register()
    import paddlex

    fmt = _cls if args["task"] == "cls" else _det
    # det: "threshold": null leaves PaddleX's default, the export's draw_threshold
    extra = {"topk": args.get("topk", 5)} if args["task"] == "cls" else \
        {"threshold": args.get("threshold", 0.5)}
    out = {}
    for engine in args["engines"]:
        model = paddlex.create_model(model_name=args["model_name"], model_dir=args["model_dir"],
                                     device="cpu", engine=engine, **extra)
        out[engine] = [fmt(r) for r in model.predict(args["images"])]
    if args.get("pipeline"):
        if args["task"] == "cls":
            config = dict(pipeline_name="image_classification", SubModules=dict(
                ImageClassification=dict(module_name="image_classification",
                                         model_name=args["model_name"],
                                         model_dir=args["model_dir"], batch_size=2,
                                         topk=args.get("topk", 5))))
        else:
            config = dict(pipeline_name="object_detection", SubModules=dict(
                ObjectDetection=dict(module_name="object_detection",
                                     model_name=args["model_name"],
                                     model_dir=args["model_dir"], batch_size=1, img_size=None,
                                     threshold=args.get("threshold", 0.5))))
        pipeline = paddlex.create_pipeline(config=config, device="cpu")
        out["pipeline"] = [fmt(r) for r in pipeline.predict(args["images"])]
    print("PADDLEX_RESULTS " + json.dumps(out))


if __name__ == "__main__":
    main()
