"""Where images come from: ONE folder lister and ONE list-file reader for every tool.

Imports no Paddle (the deploy predictors use it). Classification and detection, training and
deployment all list images and read list files here, so a folder or a list means the same
thing to ``tools/infer.py``, the training data sets, ``deploy/python/predict_cls.py``,
``deploy/python/predict_det.py`` and ``tools/det/infer.py``.

Folder listing (``list_images``)
    * an image is a file whose extension, compared case-insensitively, is in
      ``IMAGE_EXTENSIONS``: the formats both decoders of the project read (Pillow for
      classification, OpenCV's ``imdecode`` for detection, as PaddleDetection's ``Decode``);
    * subfolders are searched recursively (names with spaces or non-ASCII characters are
      ordinary names); hidden entries (a name starting with ``.``) are left out, as are
      symbolic links to folders (no cycles); the result is sorted by path;
    * the other files are not images: they are returned in ``Listing.ignored`` so a tool can
      say how many it left out and name a few, instead of dropping them silently;
    * a file with an image extension that cannot be decoded is the reader's business: it is
      skipped at decode time with its name, and the tools count those.

List files (``read_list_file``), PaddleClas's ``cls_label_path`` and ``Infer.infer_imgs``
lists: one ``path[<sep>label]`` per line, where
    * the text is UTF-8 with or without a byte-order mark (Windows Notepad writes one), line
      ends LF or CRLF;
    * blank lines and lines whose first non-blank character is ``#`` are skipped;
    * with ``delimiter`` unset, the separator is any run of spaces or tabs and the label is the
      LAST field, so paths may contain spaces (``my photos/cat 1.jpg 3``); a whitespace
      ``delimiter`` (PaddleClas's ``delimiter: " "``) means the same; another ``delimiter``
      splits the line at its last occurrence;
    * a line without a label is valid where labels are optional (inference lists): then a
      line is a label only when its last field is an integer and the whole line is not itself
      an existing file;
    * relative paths are joined to ``root`` (the list's folder by default).
"""
import os
from typing import List, NamedTuple, Optional
from .cli import InvalidValueError, MissingPathError

# Pillow and OpenCV 4 both decode these (checked by tests/test_sources.py); GIF, ICO and TGA
# are Pillow-only, so detection (OpenCV) could not read them.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".webp", ".tif", ".tiff",
                    ".ppm", ".pgm", ".pbm", ".pnm")
LIST_EXTENSIONS = (".txt", ".list", ".lst")


def is_image_file(path):
    """True when ``path``'s extension (any case) is one the decoders read."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def is_list_file(path):
    return os.path.splitext(path)[1].lower() in LIST_EXTENSIONS


class Listing(NamedTuple):
    images: List[str]   # image files, sorted
    ignored: List[str]  # other files met on the way, sorted


class ListEntry(NamedTuple):
    path: str             # joined to the root
    label: Optional[int]  # None when the line has none
    where: str            # "list.txt:12", for messages


def list_folder(folder):
    """Every image under ``folder`` (rules: module docstring) and the other files met."""
    images, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            (images if is_image_file(name) else ignored).append(path)
    return Listing(sorted(images), sorted(ignored))


def list_images(path, what="images", allow_lists=True, root=None):
    """Images named by ``path``: an image file, a folder (recursive) or a list file.

    ``what`` names the option in messages (e.g. ``"Infer.infer_imgs"``). A list file
    (``.txt``/``.list``/``.lst``, read by ``read_list_file`` with optional labels) is accepted
    when ``allow_lists``; its relative paths are joined to ``root`` (default: its folder).
    Returns a ``Listing``. Raises ``FileNotFoundError`` (one line: the path and what would
    be valid) when ``path`` does not exist or holds no image.
    """
    if not path or not os.path.exists(path):
        raise MissingPathError(f"{what} {path!r} does not exist (give an image, a folder of "
                               f"images{' or a .txt list of image paths' if allow_lists else ''})")
    if os.path.isdir(path):
        listing = list_folder(path)
        if not listing.images:
            extra = (f"; it holds {len(listing.ignored)} other file(s), e.g. "
                     f"{os.path.basename(listing.ignored[0])!r}") if listing.ignored else ""
            raise MissingPathError(f"{what} {path!r} holds no image (searched recursively for "
                                   f"{', '.join(IMAGE_EXTENSIONS)}, any case){extra}")
        return listing
    if allow_lists and is_list_file(path):
        entries = read_list_file(path, root=root, labels="optional")
        missing = [e for e in entries if not os.path.isfile(e.path)]
        if missing:
            raise MissingPathError(f"{len(missing)} of {len(entries)} image(s) listed in "
                                   f"{path} do not exist, first: {missing[0].where}: "
                                   f"{missing[0].path!r}")
        return Listing([e.path for e in entries], [])
    # a single file: given by name, so it is tried whatever its extension
    return Listing([path], [])


def _is_int(text):
    try:
        int(text)
    except ValueError:
        return False
    return True


def read_lines(path):
    """(line number, stripped text) of every line that is not blank or a ``#`` comment.

    UTF-8 with or without a byte-order mark, LF or CRLF line ends: the text layer every list
    of the project goes through (image lists, label maps, ``label_list.txt``). Raises
    ``FileNotFoundError`` or ``ValueError`` (not UTF-8), naming the file."""
    if not os.path.isfile(path):
        raise MissingPathError(f"list file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8-sig", newline=None) as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as exc:
        raise InvalidValueError(f"{path} is not UTF-8 text ({exc}); save it as UTF-8") from None
    return [(n, line.strip()) for n, line in enumerate(lines, 1)
            if line.strip() and not line.strip().startswith("#")]


def read_list_file(list_path, root=None, delimiter=None, labels="required"):
    """Entries of a ``path[<sep>label]`` list (format: module docstring).

    ``labels``: ``"required"`` (training/eval lists: an integer label on every line),
    ``"optional"`` (inference lists) or ``"none"`` (the whole line is a path). Returns a list
    of ``ListEntry``; raises ``FileNotFoundError`` for a missing list and ``ValueError``
    naming ``file:line`` for a line that does not parse or a file that is not UTF-8.
    """
    if labels not in ("required", "optional", "none"):
        raise ValueError(f"labels={labels!r}; valid: required, optional, none")
    root = os.path.dirname(os.path.abspath(list_path)) if root is None else root
    if delimiter is not None and not delimiter.strip():
        delimiter = None  # " " or "\t" (PaddleClas configs): any run of spaces or tabs
    entries = []
    for lineno, line in read_lines(list_path):
        where = f"{list_path}:{lineno}"
        name, label = line, None
        if labels != "none":
            parts = line.rsplit(delimiter, 1) if delimiter else line.rsplit(None, 1)
            has_label = len(parts) == 2 and _is_int(parts[1].strip())
            if has_label and labels == "optional" and os.path.isfile(os.path.join(root, line)):
                has_label = False  # the whole line names an existing file
            if has_label:
                name, label = parts[0].strip(), int(parts[1])
            elif labels == "required":
                sep = repr(delimiter) if delimiter else "spaces or a tab"
                raise InvalidValueError(f"{where}: cannot parse {line!r}; expected "
                                        f"'relative/path.jpg{delimiter or ' '}<int label>' "
                                        f"separated by {sep}")
        entries.append(ListEntry(os.path.join(root, name), label, where))
    return entries
