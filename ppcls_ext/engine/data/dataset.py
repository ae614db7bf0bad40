"""Classification datasets: PaddleClas label lists and class-per-folder trees.

``ImageNetDataset`` keeps PaddleClas's keys (``image_root``, ``cls_label_path``,
``delimiter``, ``relabel``, ``transform_ops``) and its sample layout: file bytes -> ops -> HWC
array, transposed to CHW at the end as PaddleClas's ``CommonDataset`` does (which is why
PaddleClas configs use ``NormalizeImage: {order: ''}`` and no ``ToCHWImage``); unlike
PaddleClas, no second transpose happens when the ops already end channel-first.

The list and the class folders are read by ``ppcls_infer.sources`` (the lister and list
reader every tool shares: UTF-8 with or without BOM, CRLF, tabs or spaces, spaces inside
paths, ``#`` comments; recursive any-case extensions). Problems in the list (unparsable line,
missing file) are found at construction, before training. An undecodable image is skipped
at load time: the sample is replaced by the next decodable one (deterministic, bounded), the file is logged once per process and collected in
``dataset.skipped`` (with ``num_workers > 0`` each worker process has its own copy).
PaddleClas instead retries a random index forever, on any exception.
"""
import logging
import os

import numpy as np
from paddle.io import Dataset

from ppcls_infer.sources import IMAGE_EXTENSIONS
from ppcls_infer.sources import list_folder
from ppcls_infer.sources import read_list_file
from .decode import CorruptImageError
from .transforms.ops import DecodeImage, create_operators, is_channel_first
from ...validation import ConfigError, DataError, MissingFileError, UnreadableImagesError

logger = logging.getLogger("ppcls")
# A run of corrupt files longer than this means something else is wrong (wrong root, a
# broken disk): stop instead of scanning the whole dataset for a decodable image.
MAX_CONSECUTIVE_SKIPS = 50


class ClassificationDataset(Dataset):
    """Shared loading: ``images`` (paths) and ``labels`` (ints) are set by subclasses."""

    def __init__(self, transform_ops=None):
        self.ops = create_operators(transform_ops)
        if self.ops and not isinstance(self.ops[0], DecodeImage):
            raise ConfigError(f"transform_ops must start with DecodeImage (the dataset hands "
                              f"the ops file bytes), got {type(self.ops[0]).__name__} first")
        self._chw = is_channel_first(self.ops)
        self.images, self.labels, self.sources = [], [], []
        self.skipped = []  # paths skipped as undecodable, in this process
        self._skipped_set = set()

    @property
    def class_num(self):
        """Number of distinct labels (PaddleClas's ``CommonDataset.class_num``)."""
        return len(set(self.labels))

    @property
    def class_num_seen(self):
        """max(label) + 1: the smallest ``Arch.class_num`` this dataset fits."""
        return max(self.labels) + 1 if self.labels else 0

    def check_labels(self, class_num):
        """Raise if any label is outside [0, class_num), naming where it comes from."""
        for label, source in zip(self.labels, self.sources):
            if not 0 <= label < class_num:
                raise DataError(f"{source}: label {label} is outside [0, {class_num}) "
                                 f"(Arch.class_num = {class_num}). Fix the list or set "
                                 f"class_num to at least {self.class_num_seen}.")

    def _load(self, idx):
        if not self.ops:
            raise ConfigError("the dataset has no transform_ops: give at least DecodeImage and "
                              "the ops that bring every image to one size")
        with open(self.images[idx], "rb") as f:
            img = f.read()
        for op in self.ops:
            img = op(img, self.images[idx]) if isinstance(op, DecodeImage) else op(img)
        if isinstance(img, np.ndarray) and img.ndim == 3 and not self._chw:
            img = img.transpose((2, 0, 1))
        return np.ascontiguousarray(img, dtype=np.float32)

    def __getitem__(self, idx):
        attempts = min(MAX_CONSECUTIVE_SKIPS, len(self.images))
        for step in range(attempts):
            j = (idx + step) % len(self.images)
            try:
                return self._load(j), np.int64(self.labels[j])
            except (CorruptImageError, OSError) as exc:
                self._record_skip(j, exc)
        what = (f"none of the {attempts} images" if attempts == len(self.images)
                else f"{attempts} consecutive images from index {idx}")
        raise UnreadableImagesError(f"{what} could be decoded (last: {self.images[j]}); check "
                                    "the image files and image_root. Skipped so far: "
                                    f"{len(self.skipped)} file(s)")

    def _record_skip(self, j, exc):
        if self.images[j] in self._skipped_set:
            return
        self._skipped_set.add(self.images[j])
        self.skipped.append(self.images[j])
        # error level: PaddleClas's logger silences warnings on ranks other than 0.
        logger.error("Skipping unreadable image (%d skipped so far in this process): %s",
                     len(self.skipped), exc)

    def __len__(self):
        return len(self.images)


class ImageNetDataset(ClassificationDataset):
    """PaddleClas label list: one ``relative/path<delimiter>label`` per line."""

    def __init__(self, image_root, cls_label_path, transform_ops=None, delimiter=None,
                 relabel=False):
        super().__init__(transform_ops)
        if not os.path.isdir(image_root):
            raise MissingFileError(f"dataset.image_root {image_root!r} is not a directory")
        if not os.path.isfile(cls_label_path):
            raise MissingFileError(f"dataset.cls_label_path {cls_label_path!r} does not exist")
        self.image_root, self.cls_label_path, self.delimiter = image_root, cls_label_path, delimiter
        self._read_list()
        if relabel:  # PaddleClas: map arbitrary label values onto 0..K-1 in sorted order
            mapping = {v: i for i, v in enumerate(sorted(set(self.labels)))}
            self.labels = [mapping[v] for v in self.labels]

    def _read_list(self):
        # ppcls_infer.sources: BOM, CRLF, tabs or spaces, spaces inside paths, comments
        for entry in read_list_file(self.cls_label_path, root=self.image_root,
                                    delimiter=self.delimiter, labels="required"):
            self.images.append(entry.path)
            self.labels.append(entry.label)
            self.sources.append(entry.where)
        missing = [f"{where}: {path}" for path, where in zip(self.images, self.sources)
                   if not os.path.isfile(path)]
        if missing:
            raise MissingFileError(f"{len(missing)} image(s) listed in {self.cls_label_path} "
                                   f"do not exist under image_root {self.image_root!r}, e.g. "
                                   + "; ".join(missing[:5]))
        if not self.images:
            raise DataError(f"{self.cls_label_path} lists no images")


class ImageFolderDataset(ClassificationDataset):
    """``image_root/<class_name>/<image>``: classes are the sorted folder names."""

    def __init__(self, image_root, transform_ops=None):
        super().__init__(transform_ops)
        if not os.path.isdir(image_root):
            raise MissingFileError(f"dataset.image_root {image_root!r} is not a directory")
        self.classes = sorted(d for d in os.listdir(image_root)
                              if os.path.isdir(os.path.join(image_root, d)))
        for label, name in enumerate(self.classes):
            # ppcls_infer.sources's listing rules (recursive, any-case extensions)
            for path in list_folder(os.path.join(image_root, name)).images:
                self.images.append(path)
                self.labels.append(label)
                self.sources.append(path)
        if not self.images:
            raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}, any case) in class "
                            f"folders under {image_root!r}")


DATASETS = {"ImageNetDataset": ImageNetDataset, "ImageFolderDataset": ImageFolderDataset}
