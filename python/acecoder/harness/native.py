"""The judge's bindings to the engine's shared library (C entry points, called with ctypes).

Why ctypes and not the PyO3 module: the same library serves ``cargo test``, which has no Python extension, and
the judge must start from any interpreter the caller names. Entry points (``rust/src/sandbox/mod.rs``,
``rust/src/wire.rs``): the value validator, the runner zygote's and the judge's sandbox, and the numbers of each
runner child's own layer.
"""

from __future__ import annotations

import ctypes
import json

from acecoder.harness import wire

FROM_RUNNER = 1
TOP_LEVEL_AS_SET = 2


class ValueInfo(ctypes.Structure):
    _fields_ = [
        ("end", ctypes.c_uint64),
        ("values", ctypes.c_uint64),
        ("depth", ctypes.c_uint32),
        ("has_extensions", ctypes.c_uint32),
    ]


class Native:
    def __init__(self, path: str):
        library = ctypes.CDLL(path)
        self._validate = library.acecoder_validate_value
        self._validate.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint32,
            ctypes.POINTER(ValueInfo), ctypes.c_char_p, ctypes.c_size_t,
        ]  # fmt: skip
        self._validate.restype = ctypes.c_int
        self._enter_runner_zygote = self._json_entry(library.acecoder_enter_runner_zygote)
        self._enter_judge = self._json_entry(library.acecoder_enter_judge)
        self._child_plan = library.acecoder_runner_child_plan
        self._child_plan.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        self._child_plan.restype = ctypes.c_ssize_t
        self._abi = library.acecoder_landlock_abi
        self._abi.restype = ctypes.c_int
        self.error = ctypes.create_string_buffer(1024)
        self.info = ValueInfo()

    @staticmethod
    def _json_entry(function):
        function.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
        function.restype = ctypes.c_int
        return function

    def validate(self, data: bytes, start: int, end: int, flags: int = FROM_RUNNER) -> ValueInfo:
        """Proves that ``data[start:end]`` is exactly one well-formed value (see ``wire``); raises WireError."""
        status = self._validate(
            data, end, start, flags, wire.MAX_DEPTH, ctypes.byref(self.info), self.error, len(self.error)
        )
        if status != 0:
            raise wire.WireError(self.error.value.decode("utf-8", "replace"))
        if self.info.end != end:
            raise wire.WireError("%d bytes after the value" % (end - self.info.end))
        return self.info

    def _call(self, function, plan: dict) -> None:
        payload = json.dumps(plan).encode()
        if function(payload, len(payload), self.error, len(self.error)) != 0:
            raise OSError(self.error.value.decode("utf-8", "replace"))

    def enter_runner_zygote(self, plan: dict) -> None:
        """Between fork and exec of the runner zygote: privilege drop, no-new-privileges, Landlock, seccomp."""
        self._call(self._enter_runner_zygote, plan)

    def enter_judge(self, plan: dict) -> None:
        """The judge zygote's own sandbox, inherited by every judge child it forks."""
        self._call(self._enter_judge, plan)

    def runner_child_plan(self) -> dict:
        """Landlock access masks for this kernel and the runner child's seccomp filter (pid placeholders)."""
        buffer = ctypes.create_string_buffer(1 << 16)
        length = self._child_plan(buffer, len(buffer))
        if length < 0:
            raise OSError("cannot plan the runner's sandbox")
        return json.loads(buffer.raw[:length])

    def landlock_abi(self) -> int:
        return int(self._abi())
