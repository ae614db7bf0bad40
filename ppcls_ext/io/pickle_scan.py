"""Check a Paddle pickle by reading its opcodes, without building anything it describes.

An allow-list of globals alone is not enough: ``numpy.core.multiarray._reconstruct`` (which
every ``paddle.save`` file uses) makes an empty array of any shape it is given, so a 92-byte
file can ask for 3e9 elements; and pickle's memo lets a 1 KB file refer to one array
hundreds of times, which Paddle then copies once per reference. ``scan`` walks the opcodes
(``pickletools.genops``) with a symbolic stack, the way ``pickle.Unpickler`` would execute
them, but each value is only a record of its kind and its cost. It accepts exactly the
shapes of what Paddle 3 writes (``paddle/framework/io.py``):

* globals: numpy's ``_reconstruct``/``scalar`` (``numpy.core`` or ``numpy._core``),
  ``numpy.ndarray`` (only as ``_reconstruct``'s first argument), ``numpy.dtype``,
  ``builtins.tuple``, ``collections.OrderedDict``, ``_codecs.encode``;
* an array is ``_reconstruct(ndarray, (0,), b'b')`` then ``BUILD`` with
  ``(version, shape, dtype, fortran, raw bytes)`` whose byte count must equal
  ``prod(shape) * itemsize``: an array can never be larger than the bytes in the file;
  dtypes are plain numeric/bool/str type codes (no object, structured or sub-array dtypes);
* references: every value carries its expanded size (values and array bytes counted once per
  reference); a document above ``max_values`` values or ``max_array_bytes`` bytes of arrays
  (by default a few times the file's own size) is refused, as is any change to a container
  after it was referenced or used (which is how a cycle is written); the pieces of a split
  >4 GB parameter (``UnpackBigParamInfor@@``) may each be named once, so Paddle's
  ``np.concatenate`` of them is bounded by the file too.

``ScanRefused`` (a ValueError) names the file and what was refused; ``ScanCorrupt`` a file
that is not a complete pickle. Memory used: the opcode stream, one record per value.
"""
import _compat_pickle
import math
import pickletools
import re

_NUMPY = ("numpy.core.multiarray", "numpy._core.multiarray")
_DTYPE = re.compile(r"^[<>|=]?(\?|b1|[iu][1248]|f[248]|c(8|16)|[SU]\d{1,6})$")


class ScanRefused(ValueError):
    """The pickle describes something a Paddle checkpoint never holds."""


class ScanCorrupt(ValueError):
    """The bytes are not a complete pickle."""


class _V:
    """A symbolic value: ``kind``, a small ``value`` where needed, expanded ``count``/``nbytes``."""
    __slots__ = ("kind", "value", "count", "nbytes", "items", "frozen", "length")

    def __init__(self, kind, value=None, count=1, nbytes=0, items=None, length=None):
        self.kind, self.value, self.count, self.nbytes = kind, value, count, nbytes
        self.items, self.length = items, length
        self.frozen = kind not in ("list", "dict")


_MARK = object()
_CONTAINERS = ("list", "dict", "tuple")


class _Scanner:
    def __init__(self, data, path, max_values, max_array_bytes):
        self.data, self.path = data, path
        self.max_values, self.max_bytes = max_values, max_array_bytes
        self.stack, self.memo = [], {}
        self.slice_names = set()

    # ----------------------------------------------------------------- helpers
    def refuse(self, what, pos=None):
        at = f" (byte {pos})" if pos is not None else ""
        raise ScanRefused(f"Refusing to load {self.path!r}: {what}{at}; paddle.save never "
                          "writes that, the file may be booby-trapped")

    def pop(self):
        if not self.stack or self.stack[-1] is _MARK:
            raise ScanCorrupt("stack underflow")
        return self.stack.pop()

    def pop_mark(self):
        items = []
        while True:
            if not self.stack:
                raise ScanCorrupt("MARK missing")
            top = self.stack.pop()
            if top is _MARK:
                return items[::-1]
            items.append(top)

    def consume(self, value):
        """``value`` becomes part of another value: it is finished from now on."""
        value.frozen = True
        return value

    def add(self, container, children):
        if container.frozen and container.kind != "tuple":
            self.refuse("a container is changed after it was referenced or used (a cycle, "
                        "or a size the references did not count)")
        for child in children:
            self.consume(child)
            container.count += child.count
            container.nbytes += child.nbytes
        if container.items is not None:
            container.items.extend(children)
        if container.kind == "dict":
            for key, value in zip(children[::2], children[1::2]):
                if key.kind == "str" and key.value == "slices" and value.kind == "list":
                    self.parts(value.items)
        self.check(container)

    def parts(self, names):
        """Paddle's >4 GB parameter pieces (``UnpackBigParamInfor@@``: ``slices`` name the
        pieces ``np.concatenate`` joins): each piece may be named once in the whole file."""
        for name in names:
            key = name.value if name.kind == "str" else None
            if key is None or key in self.slice_names:
                self.refuse(f"a split parameter names the piece {key!r} twice (or not by a "
                            "short name)")
            self.slice_names.add(key)

    def check(self, value):
        if value.count > self.max_values:
            self.refuse(f"shared references expand to more than {self.max_values} values")
        if value.nbytes > self.max_bytes:
            self.refuse(f"shared references expand to more than {self.max_bytes} bytes of "
                        "arrays")

    def tuple_of(self, items):
        t = _V("tuple", items=[])
        self.add(t, items)
        return t

    # ----------------------------------------------------------------- opcodes
    def run(self):
        try:
            ops = pickletools.genops(self.data)
            stopped = False
            for op, arg, pos in ops:
                if stopped:
                    raise ScanCorrupt("data after STOP")
                stopped = self.step(op.name, arg, pos)
            if not stopped:
                raise ScanCorrupt("no STOP opcode")
        except (ScanRefused, ScanCorrupt):
            raise
        except Exception as exc:  # genops: truncated data, unknown opcode, bad argument
            raise ScanCorrupt(f"{type(exc).__name__}: {exc}") from None
        if len(self.stack) != 1:
            raise ScanCorrupt("the stack does not end with one value")
        return self.stack[0]

    def step(self, name, arg, pos):
        push = self.stack.append
        if name in ("PROTO", "FRAME"):
            return False
        if name == "STOP":
            return True
        if name == "MARK":
            push(_MARK)
        elif name == "POP":
            self.pop()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            push(_V("atom"))
        elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"):
            push(_V("int", int(arg) if not isinstance(arg, bool) else arg))
        elif name in ("FLOAT", "BINFLOAT"):
            push(_V("atom"))
        elif name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE",
                      "BINSTRING", "SHORT_BINSTRING", "STRING"):
            text = arg if isinstance(arg, str) else arg.decode("latin1") \
                if isinstance(arg, bytes) else str(arg)
            push(_V("str", text if len(text) <= 256 else None, length=len(text)))
        elif name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):
            push(_V("bytes", length=len(arg)))
        elif name in ("EMPTY_LIST", "EMPTY_DICT"):
            push(_V(name[6:].lower(), items=[]))
        elif name in ("LIST", "DICT"):
            items = self.pop_mark()
            v = _V(name.lower(), items=[])
            self.add(v, items)
            push(v)
        elif name == "EMPTY_TUPLE":
            push(self.tuple_of([]))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = [self.pop() for _ in range(n)][::-1]
            push(self.tuple_of(items))
        elif name == "TUPLE":
            push(self.tuple_of(self.pop_mark()))
        elif name in ("APPEND", "SETITEM"):
            items = [self.pop() for _ in range(1 if name == "APPEND" else 2)][::-1]
            target = self.stack[-1] if self.stack else None
            if target is None or target is _MARK or target.kind not in ("list", "dict"):
                self.refuse(f"{name} on a {getattr(target, 'kind', 'missing')} value", pos)
            self.add(target, items)
        elif name in ("APPENDS", "SETITEMS"):
            items = self.pop_mark()
            target = self.stack[-1] if self.stack else None
            if target is None or target is _MARK or target.kind not in ("list", "dict"):
                self.refuse(f"{name} on a {getattr(target, 'kind', 'missing')} value", pos)
            self.add(target, items)
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, attr = arg.partition(" ")
            else:
                attr_v, module_v = self.pop(), self.pop()
                if attr_v.kind != "str" or module_v.kind != "str":
                    self.refuse("STACK_GLOBAL with non-string names", pos)
                module, attr = module_v.value, attr_v.value
            push(self.global_(module, attr, pos))
        elif name == "REDUCE":
            args, func = self.pop(), self.pop()
            push(self.reduce(func, args, pos))
        elif name == "NEWOBJ":
            args, cls = self.pop(), self.pop()
            if cls.kind != "global" or cls.value != ("collections", "OrderedDict"):
                self.refuse(f"NEWOBJ of {cls.value or cls.kind}", pos)
            push(_V("dict", items=[]))
        elif name == "BUILD":
            state = self.pop()
            target = self.stack[-1] if self.stack else None
            if target is None or target is _MARK:
                raise ScanCorrupt("BUILD without an object")
            self.build(target, state, pos)
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            if not self.stack or self.stack[-1] is _MARK:
                raise ScanCorrupt("memo of nothing")
            key = len(self.memo) if name == "MEMOIZE" else arg
            self.memo[key] = self.stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise ScanCorrupt(f"memo key {arg} missing")
            value = self.memo[arg]
            value.frozen = True  # referenced twice: its cost is final from now on
            push(value)
        else:
            self.refuse(f"pickle opcode {name}", pos)
        return False

    def global_(self, module, attr, pos):
        # Python 2 spellings of protocol-2 pickles (__builtin__.tuple), mapped as the
        # stdlib's find_class does with fix_imports; the result is still allow-listed
        if (module, attr) in _compat_pickle.NAME_MAPPING:
            module, attr = _compat_pickle.NAME_MAPPING[(module, attr)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = ("numpy.core.multiarray", attr) if module in _NUMPY else (module, attr)
        if key not in {("numpy.core.multiarray", "_reconstruct"),
                       ("numpy.core.multiarray", "scalar"), ("numpy", "ndarray"),
                       ("numpy", "dtype"), ("builtins", "tuple"),
                       ("collections", "OrderedDict"), ("_codecs", "encode")}:
            self.refuse(f"it asks to import {module}.{attr}", pos)
        return _V("global", key)

    def reduce(self, func, args, pos):
        if func.kind != "global" or args.kind != "tuple":
            self.refuse("a call of something that is not an allowed global", pos)
        key, items = func.value, args.items
        self.consume(args)
        kinds = [i.kind for i in items]
        if key == ("numpy.core.multiarray", "_reconstruct"):
            if kinds[:2] != ["global", "tuple"] or items[0].value != ("numpy", "ndarray") or \
                    len(items) != 3:
                self.refuse("_reconstruct of something other than numpy.ndarray", pos)
            shape = items[1].items
            if any(s.kind != "int" for s in shape) or \
                    math.prod(s.value for s in shape) != 0:
                self.refuse("an array created with a shape instead of from the file's bytes "
                            f"({tuple(s.value for s in shape)})", pos)
            return _V("array", "pending")
        if key == ("numpy", "dtype"):
            if not items or items[0].kind != "str" or items[0].value is None or \
                    not _DTYPE.match(items[0].value):
                self.refuse(f"numpy dtype {items[0].value if items else None!r}", pos)
            import numpy as np

            return _V("dtype", np.dtype(items[0].value).itemsize)
        if key == ("numpy.core.multiarray", "scalar"):
            if kinds[:1] != ["dtype"] or len(items) != 2 or items[1].kind not in (
                    "bytes", "str") or items[1].length != items[0].value:
                self.refuse("a numpy scalar whose bytes do not match its dtype", pos)
            return _V("atom", nbytes=items[0].value)
        if key == ("builtins", "tuple"):
            if len(items) > 1 or (items and items[0].kind not in _CONTAINERS):
                self.refuse("tuple() of a non-container", pos)
            return self.tuple_of(items[0].items if items else [])
        if key == ("collections", "OrderedDict"):
            if items:
                self.refuse("OrderedDict built from arguments", pos)
            return _V("dict", items=[])
        if key == ("_codecs", "encode"):
            if kinds != ["str", "str"] or items[1].value not in ("latin1", "latin-1"):
                self.refuse("_codecs.encode other than latin1 text", pos)
            return _V("bytes", length=items[0].length)
        self.refuse(f"a call of {key[0]}.{key[1]}", pos)

    def build(self, target, state, pos):
        self.consume(state)
        if target.kind == "array" and target.value == "pending":
            items = state.items or []
            if state.kind != "tuple" or len(items) != 5 or items[1].kind != "tuple" or \
                    items[2].kind != "dtype" or items[4].kind != "bytes":
                self.refuse("an array state other than (version, shape, dtype, order, "
                            "bytes)", pos)
            dims = items[1].items
            if len(dims) > 32 or any(d.kind != "int" or d.value < 0 for d in dims):
                self.refuse("an array shape that is not non-negative integers", pos)
            size = math.prod(d.value for d in dims) * items[2].value
            raw = items[4].length
            if size != raw:
                self.refuse(f"an array of {size} bytes backed by {raw} bytes", pos)
            target.value, target.nbytes = "built", size
            self.check(target)
        elif target.kind == "dtype":
            return  # byte order / flags of the dtype: a plain tuple of small values
        elif target.kind == "dict" and state.kind == "atom":
            return  # OrderedDict's empty state
        else:
            self.refuse(f"BUILD of a {target.kind}", pos)


def scan(data, path="<bytes>", max_values=None, max_array_bytes=None):
    """Check the pickle ``data``; return the expanded (values, array bytes) it stands for.

    Defaults: ``max_values = 4 * len(data) + 100_000``, ``max_array_bytes = 2 * len(data) +
    64 MiB`` (a file without shared references stays under ``len(data)`` for both)."""
    max_values = 4 * len(data) + 100_000 if max_values is None else max_values
    max_array_bytes = 2 * len(data) + (64 << 20) if max_array_bytes is None \
        else max_array_bytes
    root = _Scanner(data, path, max_values, max_array_bytes).run()
    return root.count, root.nbytes


ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "tuple"), ("__builtin__", "tuple"),
    ("collections", "OrderedDict"), ("_codecs", "encode"),
}


def safe_loads(data, path="<bytes>"):
    """``scan`` then unpickle with the same globals allow-listed (defence in depth): for
    pickles that are not read by ``paddle.load`` (e.g. ppdet's ``DecodeCache`` files)."""
    import io
    import pickle

    scan(data, path)

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in ALLOWED_GLOBALS:
                raise ScanRefused(f"Refusing to load {path!r}: it asks to import "
                                  f"{module}.{name}")
            return super().find_class(module, name)

    return _Unpickler(io.BytesIO(data), encoding="latin1").load()
