"""The digest of a value too large to carry in a job: the SHA-256 of its pickle, for plain builtin data only.

Why: a few HumanEval+/MBPP+ inputs expect outputs of hundreds of megabytes (Mbpp/255: 1.6 million tuples of 77
strings), which no job should carry. The job carries this digest instead (the ``"pickle_digest"`` oracle of
``acecoder.exec.CallTest``) and the harness hashes the program's result the same way. The pickle is protocol 4
written without a memo (``Pickler.fast``), so it is the value written as a tree: equal values of the same types give
the same bytes, whichever objects they share. The C pickler writes None, bool, int, float, str, bytes, bytearray,
list, tuple, dict, set and frozenset itself and asks ``reducer_override`` about anything else, which refuses it, so
no method of the value's classes ever runs. For Mbpp/255 this takes about 4 s, against about 25 s for the
plain-data check, ``repr`` and hash of the repr that the ``"repr_digest"`` oracle needs.

Dicts and sets are written in iteration order, as their repr is: equal dicts built in a different order differ.

``repr_digest`` is the older form (the SHA-256 of the value's repr, the ``"repr_digest"`` oracle), kept for outputs
that are not plain builtin data.

Stdlib only, on purpose: the engine's harness includes this file as it is (``rust/src/lib.rs``) and the evaluation
driver appends it to the canonical solutions (``acecoder.eval.expected``), so all three hash with one definition.
"""

import pickle

# Taken now: in the harness, a program may replace attributes of the pickle module later.
_Pickler = pickle.Pickler
_PicklingError = pickle.PicklingError
_DIGEST_PROTOCOL = 4


class DigestRefused(ValueError):
    """The value holds something other than plain builtin data (its digest would run the program's code)."""


class _HashWriter:
    __slots__ = ("hash",)

    def __init__(self, hash_object):
        self.hash = hash_object

    def write(self, data):
        self.hash.update(data)
        return len(data)


class _DigestPickler(_Pickler):
    def reducer_override(self, value):
        kind = type(value)
        raise DigestRefused("a value of type %s.%s is not plain builtin data" % (kind.__module__, kind.__qualname__))


def _hash_constructor(sha256):
    if sha256 is not None:
        return sha256
    import hashlib

    return hashlib.sha256


def value_digest(value, sha256=None):
    """SHA-256 (hex) of ``value`` pickled with protocol 4 and no memo; raises ``DigestRefused`` unless ``value`` is
    plain builtin data. ``sha256``: the hash constructor (default ``hashlib.sha256``)."""
    writer = _HashWriter(_hash_constructor(sha256)())
    pickler = _DigestPickler(writer, protocol=_DIGEST_PROTOCOL)
    pickler.fast = True
    try:
        pickler.dump(value)
    except DigestRefused:
        raise
    except (_PicklingError, RecursionError, ValueError, TypeError) as error:  # cycles, PickleBuffer
        raise DigestRefused("the value cannot be digested: %s" % error) from None
    return writer.hash.hexdigest()


def repr_digest(value, sha256=None):
    """SHA-256 (hex) of ``repr(value)`` in UTF-8 (lone surrogates kept). Only as trustworthy as the repr: the harness
    checks that a result is plain data before it hashes it this way."""
    return _hash_constructor(sha256)(repr(value).encode("utf-8", "surrogatepass")).hexdigest()
