"""E-ConvNeXt architecture: sizes, shapes, features, gradients, drop path, static export."""
import numpy as np
import paddle
import pytest

from ppcls_ext.arch import (DEFAULT_CFGS, EConvNeXt, EConvNeXt_mini, EConvNeXt_small,
                            EConvNeXt_tiny)

FACTORIES = {"mini": EConvNeXt_mini, "tiny": EConvNeXt_tiny, "small": EConvNeXt_small}
# Trainable params and paddle.flops (MACs) at 224 (docs/architecture.md; the paper rounds them
# to 7.6M/0.9G, 13.2M/2.0G, 19.4M/3.1G).
EXPECTED = {"mini": (7.659e6, 0.931e9), "tiny": (13.249e6, 2.046e9),
            "small": (19.428e6, 3.128e9)}
STAGE_CHANNELS = {"mini": [96, 192, 384, 768], "tiny": [128, 256, 512, 1024],
                  "small": [128, 256, 512, 1024]}


def trainable_params(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


@pytest.mark.parametrize("variant", ["mini", "tiny", "small"])
def test_params_flops_and_output_at_224(variant):
    model = FACTORIES[variant](class_num=1000)
    model.eval()
    params, macs = EXPECTED[variant]
    assert abs(trainable_params(model) - params) / params < 0.01
    flops = paddle.flops(model, [1, 3, 224, 224], print_detail=False)
    assert abs(flops - macs) / macs < 0.02
    card = DEFAULT_CFGS[f"EConvNeXt_{variant}"]
    assert card["input_size"] == (3, 224, 224) and card["interpolation"] == "bicubic"
    with paddle.no_grad():
        out = model(paddle.randn([2, 3, 224, 224]))
    assert out.shape == [2, 1000]


@pytest.mark.parametrize("variant", ["mini", "tiny"])
def test_stage_features_have_documented_strides_and_channels(variant):
    model = FACTORIES[variant]()
    model.eval()
    assert [f["num_chs"] for f in model.feature_info] == STAGE_CHANNELS[variant]
    assert [f["reduction"] for f in model.feature_info] == [4, 8, 16, 32]
    with paddle.no_grad():
        feats = model.forward_stages(paddle.randn([1, 3, 128, 128]), out_indices=(0, 1, 2, 3))
    for feat, chans, stride in zip(feats, STAGE_CHANNELS[variant], [4, 8, 16, 32]):
        assert feat.shape == [1, chans, 128 // stride, 128 // stride]


def test_detection_mode_returns_normed_multiscale_features_without_head():
    model = EConvNeXt_tiny(out_indices=[1, 2, -1])
    model.eval()
    assert model.out_channels == [256, 512, 1024] and model.out_strides == [8, 16, 32]
    assert not any(name.startswith(("head", "norm.")) for name, _ in model.named_parameters())
    assert len(model.norms) == 3
    with paddle.no_grad():
        outs = model(paddle.randn([1, 3, 96, 96]))
    assert [o.shape for o in outs] == [[1, 256, 12, 12], [1, 512, 6, 6], [1, 1024, 3, 3]]
    with pytest.raises(ValueError, match="out_indices"):
        EConvNeXt_tiny(out_indices=[4])


@pytest.mark.parametrize("shape", [(160, 160), (256, 256), (192, 256)])
def test_other_input_sizes(shape):
    model = EConvNeXt_mini(class_num=5)
    model.eval()
    with paddle.no_grad():
        assert model(paddle.randn([1, 3, *shape])).shape == [1, 5]


def test_tiny_non_square_input():
    model = EConvNeXt_tiny(class_num=3)
    model.eval()
    with paddle.no_grad():
        assert model(paddle.randn([1, 3, 192, 256])).shape == [1, 3]


@pytest.mark.parametrize("variant", ["mini", "tiny"])
def test_every_parameter_gets_a_gradient(variant):
    model = FACTORIES[variant](class_num=4, drop_path_rate=0.1)
    model.train()
    opt = paddle.optimizer.AdamW(1e-3, parameters=model.parameters())
    loss = paddle.nn.functional.cross_entropy(model(paddle.randn([4, 3, 64, 64])),
                                              paddle.to_tensor([[0], [1], [2], [3]]))
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if not p.stop_gradient]
    assert len(trainable) > 100
    no_grad = [n for n, p in trainable if p.grad is None or float(p.grad.abs().sum()) == 0.0]
    assert no_grad == []
    opt.step()


def test_drop_path_is_linear_and_active_only_in_training():
    model = EConvNeXt_mini(class_num=4, drop_path_rate=0.3)
    rates = [blk.drop_path.drop_prob for stage in model.stages for blk in stage.blocks
             if hasattr(blk.drop_path, "drop_prob")]
    assert len(rates) == 17 and rates[0] == pytest.approx(0.3 / 17)  # first block rate 0
    assert rates[-1] == pytest.approx(0.3) and np.all(np.diff(rates) > 0)
    plain = EConvNeXt_mini(class_num=4, drop_path_rate=0.0)
    plain.set_state_dict(model.state_dict())
    x = paddle.randn([4, 3, 32, 32])
    model.eval(), plain.eval()
    with paddle.no_grad():
        np.testing.assert_allclose(model(x).numpy(), plain(x).numpy(), atol=1e-6)
    model.train(), plain.train()
    with paddle.no_grad():
        paddle.seed(1)
        a = model(x).numpy()
        paddle.seed(2)
        b = model(x).numpy()
        ref1, ref2 = plain(x).numpy(), plain(x).numpy()
    np.testing.assert_allclose(ref1, ref2, atol=1e-6)  # train-mode BN alone is deterministic
    assert np.abs(a - b).max() > 1e-4 and np.abs(a - ref1).max() > 1e-4


def test_class_num_zero_and_reset_classifier():
    model = EConvNeXt_mini(class_num=0)
    model.eval()
    x = paddle.randn([2, 3, 64, 64])
    with paddle.no_grad():
        assert model(x).shape == [2, 768]
        model.reset_classifier(7)
        assert model(x).shape == [2, 7]
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == [2, 768]
    with pytest.raises(ValueError, match="class_num"):
        EConvNeXt_mini(class_num=-1)


def test_custom_arch_dict_and_bad_arch():
    arch = dict(depths=(1, 1, 1, 1), dims=(16, 32, 64, 128, 256), stem="patchify",
                strides=(1, 2, 2, 2))
    model = EConvNeXt(arch, class_num=2)
    model.eval()
    with paddle.no_grad():
        assert model(paddle.randn([1, 3, 64, 64])).shape == [1, 2]
    with pytest.raises(ValueError, match="valid"):
        EConvNeXt("huge")
    with pytest.raises(ValueError, match="depths"):
        EConvNeXt(dict(dims=(1, 2, 3, 4, 5)))


def test_theseus_layer_features():
    model = EConvNeXt_mini(class_num=3, return_patterns=["stages[1]", "stages[2].conv3"])
    model.eval()
    with paddle.no_grad():
        out = model(paddle.randn([1, 3, 64, 64]))
    assert out["logits"].shape == [1, 3]
    assert out["stages[1]"].shape == [1, 192, 8, 8]
    assert out["stages[2].conv3"].shape == [1, 384, 4, 4]

    truncated = EConvNeXt_mini(class_num=3, stop_after="stages[1]")
    truncated.eval()
    with paddle.no_grad():
        assert truncated(paddle.randn([1, 3, 64, 64])).shape == [1, 192]

    frozen = EConvNeXt_mini(class_num=3, freeze_befor="stages[0]")
    frozen.train()
    frozen(paddle.randn([2, 3, 32, 32])).sum().backward()
    assert frozen.stem.conv1.conv.weight.grad is None
    assert frozen.stages[1].conv1.conv.weight.grad is not None


@pytest.mark.integration  # exports (jit.save)
def test_jit_save_load_reproduces_eval_outputs(tmp_path):
    model = EConvNeXt_mini(class_num=10)
    model.eval()
    x = paddle.randn([2, 3, 64, 64])
    with paddle.no_grad():
        expected = model(x).numpy()
    static = paddle.jit.to_static(
        model, input_spec=[paddle.static.InputSpec([None, 3, None, None], "float32")],
        full_graph=True)
    prefix = str(tmp_path / "inference")
    paddle.jit.save(static, prefix)
    loaded = paddle.jit.load(prefix)
    loaded.eval()
    with paddle.no_grad():
        got = loaded(x).numpy()
    assert np.abs(got - expected).max() < 1e-5
