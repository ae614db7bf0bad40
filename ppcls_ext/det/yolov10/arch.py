"""The YOLOv10 detector as a PaddleDetection architecture, registered as ``YOLOv10``.

backbone -> neck -> head, built from the config's sections like PaddleDetection's ``PPYOLOE``
(``architecture: YOLOv10`` and ``YOLOv10: {backbone: ..., neck: YOLOv10PAN, yolo_head:
YOLOv10Head}``): the neck is created with the backbone's ``out_shape``, the head with the
neck's. Backbones with BatchNorm outputs (E-ConvNeXt, per-output BatchNorm2D) and with
LayerNorm outputs (PaddleDetection's ConvNeXt) plug in as they do into PP-YOLOE.

Training returns the head's loss dict; evaluation/export returns ``{'bbox': [N * k, 6],
'bbox_num': [N]}`` (NMS-free, k = min(300, anchors)), the interface of the PP-YOLOE export.
"""
from ppdet.core.workspace import create
from ppdet.modeling.architectures.meta_arch import BaseArch

__all__ = ["YOLOv10"]


class YOLOv10(BaseArch):
    """YOLOv10 architecture (config key ``architecture: YOLOv10``)."""
    __category__ = "architecture"

    def __init__(self, backbone="YOLOv10CSPDarkNet", neck="YOLOv10PAN",
                 yolo_head="YOLOv10Head"):
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.yolo_head = yolo_head

    @classmethod
    def from_config(cls, cfg, *args, **kwargs):
        backbone = create(cfg["backbone"])
        neck = create(cfg["neck"], input_shape=backbone.out_shape)
        yolo_head = create(cfg["yolo_head"], input_shape=neck.out_shape)
        return {"backbone": backbone, "neck": neck, "yolo_head": yolo_head}

    def _forward(self):
        feats = self.neck(self.backbone(self.inputs))
        if self.training:
            return self.yolo_head(feats, self.inputs)
        bbox, bbox_num = self.yolo_head.post_process(self.yolo_head(feats),
                                                     self.inputs["scale_factor"])
        return {"bbox": bbox, "bbox_num": bbox_num}

    def get_loss(self):
        return self._forward()

    def get_pred(self):
        return self._forward()

    def get_loss_keys(self):
        return ["loss_cls", "loss_iou", "loss_dfl", "loss_o2m", "loss_o2o"]
