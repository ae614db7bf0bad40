"""Batch ops: Mixup, CutMix, OpSampler -> soft targets; probabilities and class_num errors."""
import random

import numpy as np
import pytest

from ppcls_ext.engine.data.transforms import CutmixOperator, MixupOperator, OpSampler

IMGS = np.stack([np.full((3, 8, 8), i, np.float32) for i in range(4)])
LABELS = np.array([[0], [1], [2], [3]])


def test_mixup_blends_images_and_targets_alike():
    mixed, targets = MixupOperator(class_num=4, alpha=0.8)(IMGS, LABELS)
    assert mixed.dtype == np.float32 and targets.shape == (4, 4) and targets.dtype == np.float32
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
    for i in range(4):  # image i = sum_k targets[i, k] * k
        np.testing.assert_allclose(mixed[i], float(targets[i] @ np.arange(4)), atol=1e-5)


def test_mixup_seeded_and_lambda_distribution():
    op = MixupOperator(class_num=4, alpha=0.8)
    np.random.seed(1)
    a = op(IMGS, LABELS)
    np.random.seed(1)
    np.testing.assert_array_equal(a[0], op(IMGS, LABELS)[0])
    two = np.stack([np.zeros((1, 1, 1), np.float32), np.ones((1, 1, 1), np.float32)])
    lams = []
    for _ in range(500):  # lam ~ Beta(0.8, 0.8): mean 0.5, variance 1 / 10.4
        imgs, targets = op.mix(two, np.eye(2, dtype=np.float32))
        if targets[0, 0] < 1:  # the permutation swapped the pair: image 0 = 1 - lam
            lams.append(float(targets[0, 0]))
            assert imgs[0, 0, 0, 0] == pytest.approx(1 - lams[-1], abs=1e-6)
    assert abs(np.mean(lams) - 0.5) < 0.05 and abs(np.var(lams) - 1 / 10.4) < 0.02


def test_cutmix_targets_equal_pasted_area():
    cut, targets = CutmixOperator(class_num=4, alpha=1.0)(IMGS, LABELS)
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
    for i in range(4):
        for k in range(4):  # the share of class k = the share of pixels holding value k
            assert targets[i, k] == pytest.approx(float((cut[i, 0] == k).mean()), abs=1e-6)
    assert CutmixOperator(class_num=4).alpha == 0.2  # PaddleClas's default
    assert MixupOperator(class_num=4).alpha == 1.0


def test_prob_leaves_batches_one_hot():
    op = MixupOperator(class_num=4, alpha=1.0, prob=0.3)
    random.seed(0)
    results = [op(IMGS, LABELS) for _ in range(300)]
    one_hot = sum(np.array_equal(t, np.eye(4, dtype=np.float32)) for _, t in results)
    assert 180 < one_hot < 240  # 70% untouched (a mix may also draw the identity permutation)


def test_op_sampler_shares():
    sampler = OpSampler(class_num=4, MixupOperator={"alpha": 0.8, "prob": 0.3},
                        CutmixOperator={"alpha": 1.0, "prob": 0.3})
    kinds = {"none": 0, "mixup": 0, "cutmix": 0}
    for _ in range(600):
        imgs, targets = sampler(IMGS, LABELS)
        if np.array_equal(imgs, IMGS):
            kinds["none"] += 1
        elif np.all(np.isin(imgs, np.arange(4))):
            kinds["cutmix"] += 1  # pasted pixels keep the source values
        else:
            kinds["mixup"] += 1
        assert targets.shape == (4, 4)
    assert kinds["mixup"] > 140 and kinds["none"] > 200 and kinds["cutmix"] > 100


def test_class_num_and_prob_errors():
    with pytest.raises(ValueError, match="MixupOperator needs the number of classes.*Arch"):
        MixupOperator(alpha=0.8)
    with pytest.raises(ValueError, match="CutmixOperator needs the number of classes"):
        OpSampler(CutmixOperator={"alpha": 1.0, "prob": 0.5})
    with pytest.raises(ValueError, match=r"label 2 is outside \[0, 2\)"):
        MixupOperator(class_num=2)(IMGS, LABELS)
    with pytest.raises(ValueError, match="OpSampler.MixupOperator needs 'prob'"):
        OpSampler(class_num=4, MixupOperator={"alpha": 0.8})
    with pytest.raises(ValueError, match="sum to at most 1"):
        OpSampler(class_num=4, MixupOperator={"prob": 0.7}, CutmixOperator={"prob": 0.7})
    with pytest.raises(ValueError, match="Unknown op 'FmixOperator'"):
        OpSampler(class_num=4, FmixOperator={"prob": 0.5})
    with pytest.raises(ValueError, match="alpha must be > 0"):
        CutmixOperator(class_num=4, alpha=0)
    with pytest.raises(ValueError, match="class_num = 5 differs from Arch.class_num = 4"):
        OpSampler(class_num=4, MixupOperator={"prob": 0.5, "class_num": 5})
