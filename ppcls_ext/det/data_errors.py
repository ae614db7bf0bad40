"""What the detection data checks (``data_check`` for COCO, ``voc`` for Pascal VOC) share:
the error type and the class-count rule."""
from ppcls_infer.cli import InvalidValueError


class DatasetError(InvalidValueError):
    """A detection data set that cannot be trained or evaluated on as it is."""


def check_num_classes(num_classes, found, source):
    """``num_classes`` must equal the data's class count: fewer cannot hold the labels; more
    train a head with classes the data never has and make PaddleDetection's metrics and
    drawing fail on a class id without a name (``KeyError: 3`` after a whole epoch)."""
    if num_classes is not None and num_classes != found:
        fix = "or remove the extra categories" if found > num_classes \
            else "(the detector's class count must equal the data set's)"
        raise DatasetError(f"{source} has {found} categories but num_classes is "
                           f"{num_classes}; set num_classes: {found} in the config {fix}")
