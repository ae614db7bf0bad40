"""Initialisation and BatchNorm settings of the YOLOv10 parts (backbone, neck, head).

The YOLO family is trained with PyTorch's default initialisation (uniform in
+-1/sqrt(fan_in) for conv weights and biases, BatchNorm weight 1 / bias 0) and BatchNorm
epsilon 1e-3 with a running-average momentum of 0.97 (PyTorch's 0.03). PaddleYOLO does this in
its trainer, for the whole model; here each part calls ``init_yolo_layer`` on itself at the end of
its constructor, so the settings travel with the instance, come before any pretrained weights
load (``pretrain_weights`` is read after the model is built) and a second model built in the
same process starts from its own settings (nothing class-level is touched). Backbones of other
projects (E-ConvNeXt, ConvNeXt) keep their own initialisation and BatchNorm settings: their
pretrained statistics were computed with them.
"""
import paddle.nn as nn
from ppdet.modeling.initializer import reset_initialized_parameter

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.97


def set_bn_settings(layer, epsilon=BN_EPSILON, momentum=BN_MOMENTUM):
    """Set epsilon and momentum of every BatchNorm under ``layer`` (instance attributes
    ``_epsilon``/``_momentum``, which Paddle's BatchNorm forward and
    ``SyncBatchNorm.convert_sync_batchnorm`` read). Returns the number of layers set."""
    count = 0
    for sub in layer.sublayers(include_self=True):
        if isinstance(sub, nn.layer.norm._BatchNormBase):
            sub._epsilon = epsilon
            sub._momentum = momentum
            count += 1
    return count


def init_yolo_layer(layer, epsilon=BN_EPSILON, momentum=BN_MOMENTUM):
    """PyTorch-default initialisation (PaddleDetection's ``reset_initialized_parameter``) and
    the YOLO BatchNorm settings for every sublayer of ``layer``."""
    reset_initialized_parameter(layer)
    set_bn_settings(layer, epsilon, momentum)
    return layer
