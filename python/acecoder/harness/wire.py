"""What crosses between the runner (where program code runs) and the judge (where tests run): plain values only.

Why an encoding of our own: the judge must never run program code, so a program's answer cannot cross as an
object (whose ``__eq__`` would decide the verdict) or as a pickle (whose loading runs code). It crosses as bytes
that only plain data can produce, and the judge rebuilds builtin values from them. The encoding is CPython's
``marshal`` format, version 2, for builtin values (None, bool, int, float, complex, str, bytes, tuple, list, dict,
set, frozenset), so that most answers are written and read at C speed, plus extension codes (``#`` and one byte)
for the other values the judge accepts by value (bytearray, range, Counter, OrderedDict, defaultdict, deque, numpy
arrays and scalars, datetime values, Decimal, Fraction) and for references: a program object the judge may only
hold by *handle* (``#H``: id, flags, module, qualname), and, in the other direction, that handle again (``#h``:
its id), a judge callable (``#K``), a program global (``#G``) or a builtin (``#b``).

The judge never feeds runner bytes to ``marshal.loads`` unchecked: the engine's validator
(``rust/src/wire.rs``) first proves that a payload is well formed, uses only these codes, nests at most
``MAX_DEPTH`` deep and holds no dict or set whose keys collide in hash (a quadratic build). Payloads with extension
codes are decoded here, in Python, with the same limits.

Stdlib only: the runner loads this module from source before its sandbox hides the package's files.
"""

from __future__ import annotations

import marshal
import struct
import sys

MARSHAL_VERSION = 2
MAX_DEPTH = 200  # containers within containers; the validator and both decoders use this limit
SAME_HASH_LIMIT = 32  # keys of one dict or set that may share a hash before the payload is refused

# A value slot inside a message: one kind byte, a u32 length, then the payload.
PURE = b"M"  # only marshal codes: marshal.loads reads it
EXTENDED = b"X"  # extension codes too: read by `Decoder`
SLOT_HEADER = struct.Struct("<cI")
FRAME_HEADER = struct.Struct("<I")

_INT32 = struct.Struct("<i")
_UINT8 = struct.Struct("<B")
_UINT64 = struct.Struct("<Q")
_INT64 = struct.Struct("<q")
_FLOAT = struct.Struct("<d")
_MARSHAL_SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes, type(Ellipsis)})
_HASHABLE_SCALARS = _MARSHAL_SCALARS
_dumps = marshal.dumps
_loads = marshal.loads

# Handle flags (``#H``): what the judge may do with a program object.
CALLABLE = 1
CLASS = 2
EXCEPTION_CLASS = 4
MODULE = 8
# The object's truth, when C code decides it (a type the program cannot have defined: re.Match, a generator):
TRUTH_KNOWN = 16
TRUTH_VALUE = 32

# defaultdict factories sent by name (anything else arrives without a factory: equality ignores it).
_FACTORIES = {None: b"N", int: b"i", float: b"f", list: b"l", set: b"s", str: b"u", dict: b"d", tuple: b"t", bool: b"b"}
_FACTORY_BY_CODE = {code: factory for factory, code in _FACTORIES.items()}


class WireError(ValueError):
    """Bytes that are not a valid encoding (or a value the encoding cannot carry)."""


class Unencodable(TypeError):
    """A value the encoder cannot write and the caller's fallback refused."""


# ------------------------------------------------------------------------------------------------------- encoding


def _collections():
    module = sys.modules.get("collections")
    if module is None:
        import collections as module
    return module


class Encoder:
    """Writes values. ``fallback(value)`` returns the encoding of anything that is not plain (a handle, a judge
    callable...) or raises ``Unencodable``; ``pure`` tells afterwards whether only marshal codes were written."""

    def __init__(self, fallback=None):
        self.fallback = fallback
        self.pure = True
        self.pieces: list[bytes] = []
        collections = _collections()
        self._counter = collections.Counter
        self._ordered = collections.OrderedDict
        self._default = collections.defaultdict
        self._deque = collections.deque

    def encode(self, value) -> bytes:
        self.pure = True
        self.pieces = []
        self._write(value, 0)
        data = b"".join(self.pieces)
        self.pieces = []
        return data

    def slot(self, value) -> bytes:
        """The value as a message slot (kind, length, payload)."""
        data = self.encode(value)
        return SLOT_HEADER.pack(PURE if self.pure else EXTENDED, len(data)) + data

    # One method per shape; exact types only, so no subclass (and none of its methods) is ever mistaken for plain.
    def _write(self, value, depth):
        kind = type(value)
        if kind in _MARSHAL_SCALARS:
            self.pieces.append(_dumps(value, MARSHAL_VERSION))
            return
        if depth >= MAX_DEPTH:
            raise Unencodable("the value nests deeper than %d containers" % MAX_DEPTH)
        if kind is list or kind is tuple or kind is set or kind is frozenset:
            if set(map(type, value)) <= _MARSHAL_SCALARS:
                self.pieces.append(_dumps(value, MARSHAL_VERSION))
                return
            code = b"[" if kind is list else b"(" if kind is tuple else b"<" if kind is set else b">"
            self.pieces.append(code + _INT32.pack(len(value)))
            for item in value:
                self._write(item, depth + 1)
            return
        if kind is dict:
            if set(map(type, value)) <= _MARSHAL_SCALARS and set(map(type, value.values())) <= _MARSHAL_SCALARS:
                self.pieces.append(_dumps(value, MARSHAL_VERSION))
                return
            self.pieces.append(b"{")
            for key, item in value.items():
                self._write(key, depth + 1)
                self._write(item, depth + 1)
            self.pieces.append(b"0")
            return
        self._write_extension(value, kind, depth)

    def _write_pairs(self, code, mapping, depth):
        self.pieces.append(code + _INT32.pack(len(mapping)))
        for key, item in dict.items(mapping):
            self._write(key, depth + 1)
            self._write(item, depth + 1)

    def _write_extension(self, value, kind, depth):
        self.pure = False
        pieces = self.pieces
        if kind is bytearray:
            pieces.append(b"#B" + _INT32.pack(len(value)) + bytes(value))
        elif kind is range:
            pieces.append(b"#r")
            for number in (value.start, value.stop, value.step):
                self._write(number, depth + 1)
        elif kind is self._counter:
            self._write_pairs(b"#C", value, depth)
        elif kind is self._ordered:
            self._write_pairs(b"#O", value, depth)
        elif kind is self._default:
            factory = _FACTORIES.get(value.default_factory, b"N")
            self.pieces.append(b"#D" + factory)
            self._write_pairs(b"", value, depth)
        elif kind is self._deque:
            maxlen = -1 if value.maxlen is None else value.maxlen
            pieces.append(b"#Q" + _INT32.pack(maxlen) + _INT32.pack(len(value)))
            for item in value:
                self._write(item, depth + 1)
        elif not self._write_library_value(value, kind, depth):
            if self.fallback is None:
                raise Unencodable("a value of type %s is not plain data" % _type_name(kind))
            pieces.append(self.fallback(value))

    def _write_library_value(self, value, kind, depth) -> bool:
        """numpy, datetime, decimal and fractions values, when their module is loaded (never imported here)."""
        module_name = getattr(kind, "__module__", None)
        if type(module_name) is not str:
            return False
        if module_name == "numpy" or module_name.startswith("numpy."):
            return self._write_numpy(value, kind)
        if module_name == "datetime":
            return self._write_datetime(value, kind)
        if module_name in ("decimal", "_decimal", "_pydecimal"):
            decimal = sys.modules.get("decimal")
            if decimal is not None and kind is decimal.Decimal:
                self.pieces.append(b"#E")
                self._write(str(value), depth + 1)
                return True
        if module_name == "fractions":
            fractions = sys.modules.get("fractions")
            if fractions is not None and kind is fractions.Fraction:
                self.pieces.append(b"#F")
                self._write(value.numerator, depth + 1)
                self._write(value.denominator, depth + 1)
                return True
        return False

    def _write_numpy(self, value, kind) -> bool:
        numpy = sys.modules.get("numpy")
        if numpy is None:
            return False
        if kind is numpy.ndarray:
            dtype = value.dtype
            if dtype.hasobject or dtype.fields is not None or dtype.kind == "V" or value.ndim > 32:
                return False
            data = numpy.ascontiguousarray(value).tobytes()
            shape = b"".join(_INT64.pack(size) for size in value.shape)
            self.pieces.append(b"#A")
            self._write(dtype.str, 0)
            self.pieces.append(_UINT8.pack(value.ndim) + shape + _INT64.pack(len(data)) + data)
            return True
        if isinstance(value, numpy.generic) and not value.dtype.hasobject and value.dtype.kind != "V":
            data = value.tobytes()
            self.pieces.append(b"#a")
            self._write(value.dtype.str, 0)
            self.pieces.append(_INT32.pack(len(data)) + data)
            return True
        return False

    def _write_datetime(self, value, kind) -> bool:
        datetime = sys.modules.get("datetime")
        if datetime is None:
            return False
        pack = _INT32.pack
        if kind is datetime.datetime:
            moment = (value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)
            zone = self._timezone(value.tzinfo, datetime)
            if zone is None:
                return False
            self.pieces.append(b"#T" + b"".join(map(pack, moment)) + _UINT8.pack(value.fold) + zone)
        elif kind is datetime.date:
            self.pieces.append(b"#d" + pack(value.year) + pack(value.month) + pack(value.day))
        elif kind is datetime.time:
            fields = (value.hour, value.minute, value.second, value.microsecond)
            zone = self._timezone(value.tzinfo, datetime)
            if zone is None:
                return False
            self.pieces.append(b"#t" + b"".join(map(pack, fields)) + _UINT8.pack(value.fold) + zone)
        elif kind is datetime.timedelta:
            self.pieces.append(
                b"#e" + _INT64.pack(value.days) + _INT64.pack(value.seconds) + _INT64.pack(value.microseconds)
            )
        else:
            return False
        return True

    def _timezone(self, zone, datetime):
        """``N`` for naive values, ``z`` + offset + name for fixed offsets; None for zones given by program code."""
        if zone is None:
            return b"N"
        if type(zone) is not datetime.timezone:
            return None
        offset = zone.utcoffset(None)
        micros = (offset.days * 86400 + offset.seconds) * 1_000_000 + offset.microseconds
        name = zone.tzname(None)
        default = datetime.timezone(offset).tzname(None)
        return b"z" + _INT64.pack(micros) + (b"N" if name == default else _dumps(name, MARSHAL_VERSION))


def _type_name(kind) -> str:
    module = getattr(kind, "__module__", "?")
    name = getattr(kind, "__qualname__", "?")
    return "%s.%s" % (module if type(module) is str else "?", name if type(name) is str else "?")


def encode_slot(value, fallback=None) -> bytes:
    return Encoder(fallback).slot(value)


# ------------------------------------------------------------------------------------------------------- decoding


class Decoder:
    """Reads one encoded value (extension codes included) with the validator's limits.

    ``reference(code, payload)`` rebuilds the reference codes (``#H``, ``#K``, ``#G``, ``#b``): the judge makes a
    handle proxy of ``#H``; the runner resolves the others to its own objects. ``from_runner`` refuses the codes
    only the judge may send.
    """

    def __init__(self, data, reference=None, from_runner=False):
        self.data = bytes(data)
        self.position = 0
        self.reference = reference
        self.from_runner = from_runner

    def decode(self):
        value = self._read(0)
        if self.position != len(self.data):
            raise WireError("%d bytes after the value" % (len(self.data) - self.position))
        return value

    def _take(self, count):
        start = self.position
        end = start + count
        if count < 0 or end > len(self.data):
            raise WireError("byte %d: truncated" % start)
        self.position = end
        return self.data[start:end]

    def _unpack(self, shape):
        (value,) = shape.unpack(self._take(shape.size))
        return value

    def _count(self):
        count = self._unpack(_INT32)
        if count < 0 or count > len(self.data) - self.position:
            raise WireError("byte %d: implausible count %d" % (self.position, count))
        return count

    def _read(self, depth):
        code = self._take(1)
        simple = _SIMPLE.get(code)
        if simple is not None:
            return simple(self)
        if depth >= MAX_DEPTH:
            raise WireError("nesting deeper than %d" % MAX_DEPTH)
        if code in (b"(", b"[", b"<", b">"):
            items = [self._read(depth + 1) for _ in range(self._count())]
            if code == b"[":
                return items
            if code == b"(":
                return tuple(items)
            check_hash_spread(items)
            return set(items) if code == b"<" else frozenset(items)
        if code == b")":
            return tuple(self._read(depth + 1) for _ in range(self._unpack(_UINT8)))
        if code == b"{":
            pairs = []
            while self.data[self.position : self.position + 1] != b"0":
                key = self._read(depth + 1)
                pairs.append((key, self._read(depth + 1)))
            self._take(1)
            return _build_mapping(dict, pairs)
        if code == b"#":
            return self._read_extension(self._take(1), depth)
        raise WireError("byte %d: unknown code %r" % (self.position - 1, code))

    def _read_pairs(self, depth):
        return [(self._read(depth + 1), self._read(depth + 1)) for _ in range(self._count())]

    def _read_extension(self, code, depth):
        if code == b"B":
            return bytearray(self._take(self._count()))
        if code == b"r":
            start, stop, step = (self._read_int(depth) for _ in range(3))
            return range(start, stop, step)
        collections = _collections()
        if code == b"C":
            return collections.Counter(_build_mapping(dict, self._read_pairs(depth)))
        if code == b"O":
            return _build_mapping(collections.OrderedDict, self._read_pairs(depth))
        if code == b"D":
            factory_code = self._take(1)
            if factory_code not in _FACTORY_BY_CODE:
                raise WireError("unknown defaultdict factory %r" % factory_code)
            mapping = _build_mapping(dict, self._read_pairs(depth))
            return collections.defaultdict(_FACTORY_BY_CODE[factory_code], mapping)
        if code == b"Q":
            maxlen = self._unpack(_INT32)
            items = [self._read(depth + 1) for _ in range(self._count())]
            return collections.deque(items, None if maxlen == -1 else maxlen)
        if code in (b"A", b"a"):
            return self._read_numpy(code)
        if code in (b"d", b"T", b"t", b"e"):
            return self._read_datetime(code)
        if code == b"E":
            import decimal

            return decimal.Decimal(self._read_str())
        if code == b"F":
            import fractions

            numerator, denominator = self._read_int(depth), self._read_int(depth)
            return fractions.Fraction(numerator, denominator)
        if code in (b"H", b"h", b"K", b"G", b"b"):
            if self.from_runner and code != b"H":
                raise WireError("code #%s may only come from the judge" % code.decode("latin-1"))
            if self.reference is None:
                raise WireError("a reference (#%s) where only plain data may be" % code.decode("latin-1"))
            if code in (b"H", b"h", b"K"):
                identifier = self._unpack(_UINT64)
                if code == b"H":
                    flags = self._unpack(_UINT8)
                    module, qualname = self._read_str(), self._read_str()
                    return self.reference(code, (identifier, flags, module, qualname))
                return self.reference(code, identifier)
            return self.reference(code, self._read_str())
        raise WireError("unknown extension code %r" % code)

    def _read_int(self, depth):
        value = self._read(depth + 1)
        if type(value) is not int:
            raise WireError("expected an int")
        return value

    def _read_str(self):
        value = self._read(MAX_DEPTH - 1)
        if type(value) is not str:
            raise WireError("expected a str")
        return value

    def _read_numpy(self, code):
        import numpy

        dtype = numpy.dtype(self._read_str())
        if dtype.hasobject or dtype.fields is not None:
            raise WireError("numpy dtype %s is not plain data" % dtype)
        if code == b"a":
            data = self._take(self._count())
            if len(data) != dtype.itemsize:
                raise WireError("numpy scalar of %d bytes for dtype %s" % (len(data), dtype))
            return numpy.frombuffer(data, dtype=dtype)[0]
        ndim = self._unpack(_UINT8)
        if ndim > 32:
            raise WireError("numpy array of %d dimensions" % ndim)
        shape = tuple(self._unpack(_INT64) for _ in range(ndim))
        size = self._unpack(_INT64)
        data = self._take(size)
        elements = 1
        for extent in shape:
            if extent < 0:
                raise WireError("negative numpy dimension")
            elements *= extent
        if elements * dtype.itemsize != len(data):
            raise WireError("numpy array data does not match its shape")
        return numpy.frombuffer(data, dtype=dtype).reshape(shape).copy()

    def _read_datetime(self, code):
        import datetime

        read = lambda: self._unpack(_INT32)  # noqa: E731
        if code == b"d":
            return datetime.date(read(), read(), read())
        if code == b"e":
            days, seconds, micros = (self._unpack(_INT64) for _ in range(3))
            return datetime.timedelta(days=days, seconds=seconds, microseconds=micros)
        if code == b"T":
            fields = [read() for _ in range(7)]
            fold = self._unpack(_UINT8)
            return datetime.datetime(*fields, tzinfo=self._read_timezone(datetime), fold=fold)
        fields = [read() for _ in range(4)]
        fold = self._unpack(_UINT8)
        return datetime.time(*fields, tzinfo=self._read_timezone(datetime), fold=fold)

    def _read_timezone(self, datetime):
        code = self._take(1)
        if code == b"N":
            return None
        if code != b"z":
            raise WireError("bad timezone code %r" % code)
        offset = datetime.timedelta(microseconds=self._unpack(_INT64))
        name = self._read(MAX_DEPTH - 1)
        if name is None:
            return datetime.timezone(offset)
        if type(name) is not str:
            raise WireError("timezone name must be a str")
        return datetime.timezone(offset, name)


def _read_long(decoder):
    count = decoder._unpack(_INT32)
    size = abs(count)
    if size > (len(decoder.data) - decoder.position) // 2:
        raise WireError("byte %d: implausible long of %d digits" % (decoder.position, size))
    digits = struct.unpack("<%dH" % size, decoder._take(2 * size))
    value = 0
    for digit in reversed(digits):
        if digit >= 1 << 15:
            raise WireError("long digit out of range")
        value = (value << 15) | digit
    return -value if count < 0 else value


def _read_utf8(decoder, count):
    return decoder._take(count).decode("utf-8", "surrogatepass")


def _read_ascii(decoder, count):
    return decoder._take(count).decode("ascii")


_SIMPLE = {
    b"N": lambda decoder: None,
    b"T": lambda decoder: True,
    b"F": lambda decoder: False,
    b".": lambda decoder: Ellipsis,
    b"i": lambda decoder: decoder._unpack(_INT32),
    b"l": _read_long,
    b"g": lambda decoder: decoder._unpack(_FLOAT),
    b"y": lambda decoder: complex(decoder._unpack(_FLOAT), decoder._unpack(_FLOAT)),
    b"s": lambda decoder: decoder._take(decoder._count()),
    b"u": lambda decoder: _read_utf8(decoder, decoder._count()),
    b"t": lambda decoder: _read_utf8(decoder, decoder._count()),
    b"a": lambda decoder: _read_ascii(decoder, decoder._count()),
    b"A": lambda decoder: _read_ascii(decoder, decoder._count()),
    b"z": lambda decoder: _read_ascii(decoder, decoder._unpack(_UINT8)),
    b"Z": lambda decoder: _read_ascii(decoder, decoder._unpack(_UINT8)),
}


def check_hash_spread(keys):
    """Refuses keys that share one hash too often: building a dict or set of them would take quadratic time."""
    if len(keys) <= SAME_HASH_LIMIT:
        return
    counts: dict[int, int] = {}
    for key in keys:
        try:
            code = hash(key)
        except TypeError:
            raise WireError("an unhashable key") from None
        seen = counts.get(code, 0) + 1
        if seen > SAME_HASH_LIMIT:
            raise WireError("more than %d keys share one hash" % SAME_HASH_LIMIT)
        counts[code] = seen


def _build_mapping(kind, pairs):
    check_hash_spread([key for key, _ in pairs])
    try:
        return kind(pairs)
    except TypeError:
        raise WireError("an unhashable key") from None


def decode_slot(kind: bytes, payload, reference=None, from_runner=False):
    """The value of one slot's payload. ``PURE`` payloads must already be validated when they come from a runner."""
    if kind == PURE:
        return _loads(payload)
    if kind == EXTENDED:
        return Decoder(payload, reference, from_runner).decode()
    raise WireError("unknown slot kind %r" % kind)


def split_slot(data, position: int):
    """(kind, payload view, next position) of the slot at ``position`` of a message."""
    if position + SLOT_HEADER.size > len(data):
        raise WireError("truncated message")
    kind, length = SLOT_HEADER.unpack_from(data, position)
    start = position + SLOT_HEADER.size
    if start + length > len(data):
        raise WireError("truncated value")
    return kind, memoryview(data)[start : start + length], start + length
