"""What the detection data checks (``data_check`` for COCO, ``voc`` for Pascal VOC) share:
the error type and the class-count rule."""


class DatasetError(ValueError):
    """A detection data set that cannot be trained or evaluated on as it is."""


def check_num_classes(num_classes, found, source):
    """``num_classes`` must equal the data's class count: fewer cannot hold the labels; more
    make PaddleDetection's metrics and drawing fail on a class id without a name (KeyError)."""
    if num_classes is not None and num_classes != found:
        more = num_classes > found
        raise DatasetError(f"num_classes is {num_classes} but {source} has {found} "
                           f"categories; set num_classes: {found} in the config"
                           + (" (a class id without a category name fails in evaluation, "
                              "inference and drawing)" if more else
                              " or remove the extra categories"))
