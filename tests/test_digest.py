"""acecoder.digest.value_digest: one digest for equal plain values, and a refusal for anything else."""

from __future__ import annotations

import collections
import hashlib
import io
import pickle

import pytest
from acecoder.digest import DigestRefused, repr_digest, value_digest


def test_equal_values_hash_alike_whatever_objects_they_share():
    word = "ab" * 3
    shared = [word, word, (word, 1)]
    fresh = ["".join(["ab"] * 3), "ababab"[:6], ("aba" + "bab", 1)]
    assert shared == fresh and value_digest(shared) == value_digest(fresh)


def test_it_is_the_sha256_of_the_pickle_without_memo():
    value = {"rows": [(1, 2.5, None, True), (2, -0.0, "x", b"y")], "seen": {3}}
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=4)
    pickler.fast = True
    pickler.dump(value)
    assert value_digest(value) == hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.mark.parametrize(
    ("left", "right"),
    [(1, True), (1, 1.0), ([1], (1,)), ("1", b"1"), (0.0, -0.0), ({"a": 1, "b": 2}, {"b": 2, "a": 1})],
)
def test_values_equal_in_python_but_of_other_types_or_order_differ(left, right):
    assert value_digest(left) != value_digest(right)


class Row(tuple):
    def __reduce__(self):
        raise AssertionError("the digest must not run the value's own code")


@pytest.mark.parametrize(
    "value",
    [
        Row((1,)),
        [collections.Counter("ab")],
        [1j],
        [range(3)],
        {"k": collections.OrderedDict()},
        pickle.PickleBuffer(b"x"),
    ],
)
def test_anything_but_plain_builtin_data_is_refused(value):
    with pytest.raises(DigestRefused):
        value_digest(value)


def test_a_cycle_is_refused():
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(DigestRefused, match="cyclic"):
        value_digest(cyclic)


def test_a_large_value_is_hashed_frame_by_frame():
    # A result of hundreds of megabytes must not be pickled into memory whole before it is hashed.
    sizes = []

    class RecordingHash:
        def __init__(self) -> None:
            self.inner = hashlib.sha256()

        def update(self, data: bytes) -> None:
            sizes.append(len(data))
            self.inner.update(data)

        def hexdigest(self) -> str:
            return self.inner.hexdigest()

    value = [("colour", index, "x" * 50) for index in range(200_000)]  # about 14 MB pickled
    assert value_digest(value, RecordingHash) == value_digest(value)
    assert len(sizes) > 10 and max(sizes) < sum(sizes) / 10


def test_repr_digest_is_the_sha256_of_the_repr_with_surrogates_kept():
    value = ["\udcff", (1, 2.5), {"k": None}]
    assert repr_digest(value) == hashlib.sha256(repr(value).encode("utf-8", "surrogatepass")).hexdigest()
