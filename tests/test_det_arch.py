"""E-ConvNeXt as a PaddleDetection backbone: registration, out_shape, keywords, weights."""
import logging
import os

import numpy as np
import paddle
import pytest

pytestmark = pytest.mark.integration  # detection

pytest.importorskip("ppdet")
import ppcls_ext.det  # noqa: E402
from ppcls_ext.arch.econvnext import EConvNeXt_mini, EConvNeXt_tiny  # noqa: E402
from ppcls_ext.det.backbone import EConvNeXt  # noqa: E402
from ppdet.core.workspace import create, global_config, load_config  # noqa: E402

from det_helpers import CONFIG_DIR  # noqa: E402

ppcls_ext.det.install()


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append((record.levelname, record.getMessage()))


@pytest.fixture
def backbone_log():
    handler = _Lines()
    logger = logging.getLogger("ppcls_ext.det.backbone")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def _save_classifier(tmp_path, factory=EConvNeXt_mini, name="cls"):
    paddle.seed(1)
    model = factory(class_num=10)
    path = str(tmp_path / f"{name}.pdparams")
    paddle.save(model.state_dict(), path)
    return model, path


def test_registered_in_workspace_with_its_keywords():
    schema = global_config["EConvNeXt"]
    for key in ("arch", "return_idx", "drop_path_rate", "freeze_at", "freeze_norm", "pretrained"):
        assert key in schema.schema, key


@pytest.mark.parametrize("arch, channels", [("mini", [192, 384, 768]),
                                            ("tiny", [256, 512, 1024])])
def test_out_shape_matches_real_outputs(arch, channels):
    backbone = EConvNeXt(arch=arch)
    backbone.eval()
    feats = backbone({"image": paddle.rand([1, 3, 96, 128])})
    shapes = backbone.out_shape
    assert [s.channels for s in shapes] == channels == [f.shape[1] for f in feats]
    assert [s.stride for s in shapes] == [8, 16, 32]
    for spec, feat in zip(shapes, feats):
        assert feat.shape[2:] == [96 // spec.stride, 128 // spec.stride]


def test_return_idx_subset():
    backbone = EConvNeXt(arch="mini", return_idx=[2, 3])
    assert [(s.channels, s.stride) for s in backbone.out_shape] == [(384, 16), (768, 32)]


def test_config_builds_detector_with_econvnext_backbone():
    cfg = load_config(f"{CONFIG_DIR}/ppyoloe_s_econvnext_mini_36e_coco.yml")
    cfg["EConvNeXt"]["pretrained"] = None
    model = create(cfg.architecture)
    assert isinstance(model.backbone, EConvNeXt)
    # the neck was built from the backbone's out_shape (its widest input first)
    assert model.neck.hidden_dim == 768
    feats = model.neck(model.backbone({"image": paddle.rand([1, 3, 64, 64])}))
    assert [f.shape[1] for f in feats] == [int(c * 0.5) for c in (768, 384, 192)]


def test_freeze_at_and_freeze_norm():
    backbone = EConvNeXt(arch="mini", freeze_at=1)
    frozen = [backbone.stem, backbone.stages[0], backbone.stages[1]]
    assert all(p.stop_gradient for layer in frozen for p in layer.parameters())
    convs = [l for l in backbone.stages[2].sublayers() if isinstance(l, paddle.nn.Conv2D)]
    assert convs and not any(c.weight.stop_gradient or c.bias.stop_gradient for c in convs)
    assert backbone.stages[1].conv1.bn._use_global_stats is True
    assert not backbone.stages[2].conv1.bn._use_global_stats

    norms = EConvNeXt(arch="mini", freeze_norm=True)
    assert norms.stages[3].blocks[0].norm.weight.stop_gradient
    assert norms.norms[0]._use_global_stats is True
    assert not norms.stages[3].blocks[0].pwconv1.weight.stop_gradient


def test_freeze_at_out_of_range_is_one_clear_error():
    with pytest.raises(ValueError, match=r"freeze_at must be in \[-1, 3\]"):
        EConvNeXt(arch="mini", freeze_at=4)


def test_pretrained_classification_checkpoint(tmp_path, backbone_log):
    classifier, path = _save_classifier(tmp_path)
    backbone = EConvNeXt(arch="mini", pretrained=path)
    cls_state = classifier.state_dict()
    for key, value in backbone.state_dict().items():
        if key in cls_state:
            np.testing.assert_array_equal(value.numpy(), cls_state[key].numpy())
    report = backbone.load_classification_checkpoint(path)
    assert report["dropped_classifier"] == ["head.bias", "head.weight", "norm._mean",
                                            "norm._variance", "norm.bias", "norm.weight"]
    assert report["missing"] and all(k.startswith("norms.") for k in report["missing"])
    assert len(report["missing"]) == 12 and report["unexpected"] == []
    info = [m for level, m in backbone_log if level == "INFO"]
    assert len(info) == 2 and "missing 12" in info[0] and "unexpected 0" in info[0]


def test_pretrained_missing_file_is_one_warning(tmp_path, backbone_log):
    backbone = EConvNeXt(arch="mini", pretrained=str(tmp_path / "not_yet" / "best_model"))
    assert backbone.load_classification_checkpoint(str(tmp_path / "nope.pdparams")) is None
    warnings = [m for level, m in backbone_log if level == "WARNING"]
    assert len(warnings) == 2 and "does not exist" in warnings[0]


def test_pretrained_wrong_variant_is_an_error(tmp_path):
    _, path = _save_classifier(tmp_path, EConvNeXt_tiny, "tiny")
    from ppcls_ext.io import WeightsFileError

    with pytest.raises(WeightsFileError, match="does not fit E-ConvNeXt-mini"):  # a UserError
        EConvNeXt(arch="mini", pretrained=path)


def test_pretrain_weights_route_maps_classifier_into_backbone(tmp_path):
    from ppdet.utils import checkpoint
    import ppdet.engine.trainer as trainer

    assert trainer.load_pretrain_weight is checkpoint.load_pretrain_weight
    assert getattr(checkpoint.load_pretrain_weight, "_ppcls_ext_patched", False)
    classifier, path = _save_classifier(tmp_path)
    cfg = load_config(f"{CONFIG_DIR}/ppyoloe_s_econvnext_mini_36e_coco.yml")
    cfg["EConvNeXt"]["pretrained"] = None
    cfg.num_classes = 3
    detector = create(cfg.architecture)
    neck_before = detector.neck.state_dict()
    checkpoint.load_pretrain_weight(detector, path[:-len(".pdparams")])  # suffix optional
    np.testing.assert_array_equal(detector.backbone.stages[2].blocks[4].pwconv1.weight.numpy(),
                                  classifier.stages[2].blocks[4].pwconv1.weight.numpy())
    for key, value in detector.neck.state_dict().items():  # nothing leaked into the neck
        np.testing.assert_array_equal(value.numpy(), neck_before[key].numpy())

    # a detector checkpoint still goes through PaddleDetection's own matching
    det_path = str(tmp_path / "det.pdparams")
    paddle.save(detector.state_dict(), det_path)
    other = create(cfg.architecture)
    checkpoint.load_pretrain_weight(other, det_path)
    np.testing.assert_array_equal(other.neck.state_dict()[next(iter(neck_before))].numpy(),
                                  detector.neck.state_dict()[next(iter(neck_before))].numpy())


def test_pretrained_safetensors_classification_checkpoint(tmp_path, backbone_log):
    """``pretrained`` takes a .safetensors classification checkpoint (Global.save_format:
    safetensors), with or without its suffix; it used to append .pdparams, warn and start
    from scratch."""
    from ppcls_ext.io import write_state_dict

    classifier, _ = _save_classifier(tmp_path)
    path = write_state_dict(classifier.state_dict(), str(tmp_path / "best.safetensors"))
    cls_state = classifier.state_dict()
    for given in (path, str(tmp_path / "best")):
        backbone = EConvNeXt(arch="mini", pretrained=given)
        loaded = [k for k in backbone.state_dict() if k in cls_state]
        assert len(loaded) == len(backbone.state_dict()) - 12  # all but the 4 output norms
        for key in loaded:
            np.testing.assert_array_equal(backbone.state_dict()[key].numpy(),
                                          cls_state[key].numpy())
    assert not [m for level, m in backbone_log if level == "WARNING"]
    assert all("best.safetensors" in m for level, m in backbone_log if level == "INFO")


@pytest.mark.parametrize("suffix", [".pdparams", ".safetensors"])
def test_pretrain_weights_reads_a_classification_checkpoint_once(tmp_path, monkeypatch, suffix):
    """PaddleDetection's ``pretrain_weights`` with a classification checkpoint (.pdparams or
    .safetensors, suffix omitted): read once by the wrapper and handed to the backbone, which
    read it a second time before; PaddleDetection's own loader is not called."""
    from ppcls_ext.det.pretrain import wrap_load_pretrain_weight as _wrap
    from ppcls_ext.io import state_dict as io_state_dict
    from ppcls_ext.io import write_state_dict

    classifier, _ = _save_classifier(tmp_path)
    write_state_dict(classifier.state_dict(), str(tmp_path / f"best{suffix}"))
    cfg = load_config(f"{CONFIG_DIR}/ppyoloe_s_econvnext_mini_36e_coco.yml")
    cfg["EConvNeXt"]["pretrained"] = None
    cfg.num_classes = 3
    detector = create(cfg.architecture)

    opened = []
    for name in ("read_pickle", "load_safetensors"):
        real = getattr(io_state_dict, name)
        monkeypatch.setattr(io_state_dict, name,
                            lambda p, real=real: opened.append(os.path.basename(p)) or real(p))

    def ppdet_loader(model, weights):
        raise AssertionError("PaddleDetection's loader must not see a classification checkpoint")

    _wrap(ppdet_loader)(detector, str(tmp_path / "best"))
    assert opened == [f"best{suffix}"]
    np.testing.assert_array_equal(detector.backbone.stages[2].blocks[4].pwconv1.weight.numpy(),
                                  classifier.stages[2].blocks[4].pwconv1.weight.numpy())


def test_pretrain_weights_reads_a_detector_checkpoint_once(tmp_path, monkeypatch):
    """A detector checkpoint as ``pretrain_weights`` of an E-ConvNeXt detector: the wrapper
    reads it once and loads it with PaddleDetection's suffix matching (every weight, neck
    included); PaddleDetection's loader, which would read the file again, is not called."""
    from ppcls_ext.det.pretrain import wrap_load_pretrain_weight as _wrap
    from ppcls_ext.io import state_dict as io_state_dict

    cfg = load_config(f"{CONFIG_DIR}/ppyoloe_s_econvnext_mini_36e_coco.yml")
    cfg["EConvNeXt"]["pretrained"] = None
    cfg.num_classes = 3
    source, target = create(cfg.architecture), create(cfg.architecture)
    paddle.save(source.state_dict(), str(tmp_path / "det.pdparams"))
    opened = []
    real = io_state_dict.read_pickle
    monkeypatch.setattr(io_state_dict, "read_pickle",
                        lambda p: opened.append(os.path.basename(p)) or real(p))

    def ppdet_loader(model, weights):
        raise AssertionError("the file was read already: PaddleDetection must not read it again")

    _wrap(ppdet_loader)(target, str(tmp_path / "det"))
    assert opened == ["det.pdparams"]
    loaded = target.state_dict()
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy())
