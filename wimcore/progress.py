"""Typed progress events and the bridge that carries a Python callback through libwimlib.

A callback receives :class:`ProgressEvent` values. Returning ``False`` or raising
:class:`wimcore.Cancelled` stops the operation through libwimlib's ABORT status; any
other exception also stops it and is re-raised to the caller once libwimlib returns.
The C-side trampoline never lets an exception escape into C.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wimcore import _lib
from wimcore.errors import Cancelled


class ProgressKind(enum.Enum):
    """What a progress event is about (libwimlib's progress messages, by name)."""

    EXTRACT_IMAGE_BEGIN = 0
    EXTRACT_TREE_BEGIN = 1
    EXTRACT_FILE_STRUCTURE = 3
    EXTRACT_STREAMS = 4
    EXTRACT_SPWM_PART_BEGIN = 5
    EXTRACT_METADATA = 6
    EXTRACT_IMAGE_END = 7
    EXTRACT_TREE_END = 8
    SCAN_BEGIN = 9
    SCAN_DENTRY = 10
    SCAN_END = 11
    WRITE_STREAMS = 12
    WRITE_METADATA_BEGIN = 13
    WRITE_METADATA_END = 14
    RENAME = 15
    VERIFY_INTEGRITY = 16
    CALC_INTEGRITY = 17
    SPLIT_BEGIN_PART = 19
    SPLIT_END_PART = 20
    UPDATE_BEGIN_COMMAND = 21
    UPDATE_END_COMMAND = 22
    REPLACE_FILE_IN_WIM = 23
    WIMBOOT_EXCLUDE = 24
    UNMOUNT_BEGIN = 25
    DONE_WITH_FILE = 26
    BEGIN_VERIFY_IMAGE = 27
    END_VERIFY_IMAGE = 28
    VERIFY_STREAMS = 29
    TEST_FILE_EXCLUSION = 30
    HANDLE_ERROR = 31
    # Events wimcore itself sends (not from libwimlib).
    EXPAND = 1000
    STEP = 1001


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: what, how far (bytes and items), and the path when known."""

    kind: ProgressKind
    done_bytes: int = 0
    total_bytes: int = 0
    done_items: int = 0
    total_items: int = 0
    path: str | None = None
    message: str | None = None

    @property
    def fraction(self) -> float | None:
        """Share done in [0, 1], or None when the total is unknown."""
        if self.total_bytes:
            return min(1.0, self.done_bytes / self.total_bytes)
        if self.total_items:
            return min(1.0, self.done_items / self.total_items)
        return None


ProgressCallback = Callable[[ProgressEvent], "bool | None"]


def _event(msg: int, info: Any) -> ProgressEvent | None:
    """Translate one libwimlib progress message into an event (None: not worth sending)."""
    s = _lib.string
    try:
        kind = ProgressKind(msg)
    except ValueError:
        return None
    if kind is ProgressKind.WRITE_STREAMS:
        w = info.write_streams
        return ProgressEvent(kind, w.completed_bytes, w.total_bytes, w.completed_streams,
                             w.total_streams)
    if kind in (ProgressKind.SCAN_BEGIN, ProgressKind.SCAN_DENTRY, ProgressKind.SCAN_END):
        sc = info.scan
        return ProgressEvent(kind, sc.num_bytes_scanned, 0,
                             sc.num_dirs_scanned + sc.num_nondirs_scanned, 0,
                             s(sc.cur_path) if kind is ProgressKind.SCAN_DENTRY else s(sc.source))
    if msg <= 8 or kind is ProgressKind.EXTRACT_SPWM_PART_BEGIN:
        ex = info.extract
        return ProgressEvent(kind, ex.completed_bytes, ex.total_bytes, ex.current_file_count,
                             ex.end_file_count, s(ex.target))
    if kind in (ProgressKind.VERIFY_INTEGRITY, ProgressKind.CALC_INTEGRITY):
        it = info.integrity
        return ProgressEvent(kind, it.completed_bytes, it.total_bytes, it.completed_chunks,
                             it.total_chunks, s(it.filename))
    if kind in (ProgressKind.SPLIT_BEGIN_PART, ProgressKind.SPLIT_END_PART):
        sp = info.split
        return ProgressEvent(kind, sp.completed_bytes, sp.total_bytes, sp.cur_part_number,
                             sp.total_parts, s(sp.part_name))
    if kind in (ProgressKind.UPDATE_BEGIN_COMMAND, ProgressKind.UPDATE_END_COMMAND):
        up = info.update
        return ProgressEvent(kind, 0, 0, up.completed_commands, up.total_commands)
    if kind is ProgressKind.VERIFY_STREAMS:
        vs = info.verify_streams
        return ProgressEvent(kind, vs.completed_bytes, vs.total_bytes, vs.completed_streams,
                             vs.total_streams, s(vs.wimfile))
    if kind in (ProgressKind.BEGIN_VERIFY_IMAGE, ProgressKind.END_VERIFY_IMAGE):
        vi = info.verify_image
        return ProgressEvent(kind, 0, 0, vi.current_image, vi.total_images, s(vi.wimfile))
    if kind is ProgressKind.RENAME:
        return ProgressEvent(kind, path=s(info.rename.to))
    if kind is ProgressKind.REPLACE_FILE_IN_WIM:
        return ProgressEvent(kind, path=s(info.replace.path_in_wim))
    if kind is ProgressKind.DONE_WITH_FILE:
        return ProgressEvent(kind, path=s(info.done_with_file.path_to_file))
    return ProgressEvent(kind)


class ProgressBridge:
    """Payload passed through C as a handle: calls the user's callback, keeps its exception."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.error: BaseException | None = None

    def dispatch(self, msg: int, info: Any) -> bool:
        """Return True to continue, False to abort; exceptions are stored, never raised."""
        if self.error is not None:
            return False
        try:
            if self.callback is None:
                return True
            event = _event(msg, info)
            if event is None:
                return True
            return self.callback(event) is not False
        except BaseException as exc:
            self.error = exc
            return False

    def reraise(self) -> None:
        """Raise the stored exception (or Cancelled when the callback returned False)."""
        if self.error is not None:
            err, self.error = self.error, None
            raise err


_trampoline: Any = None


def trampoline() -> Any:
    """The one C-callable progress function (created once, kept for the process lifetime)."""
    global _trampoline
    if _trampoline is None:
        ffi = _lib.ffi()
        lib = _lib.lib()
        abort = lib.WIMLIB_PROGRESS_STATUS_ABORT
        go_on = lib.WIMLIB_PROGRESS_STATUS_CONTINUE

        @ffi.callback("wimlib_progress_func_t", onerror=lambda *a: abort)
        def _on_progress(msg: int, info: Any, ctx: Any) -> int:
            bridge: ProgressBridge = ffi.from_handle(ctx)
            return int(go_on if bridge.dispatch(msg, info) else abort)

        _trampoline = _on_progress
    return _trampoline


@contextmanager
def progress_on(wim_ptr: Any, callback: ProgressCallback | None) -> Iterator[ProgressBridge]:
    """Register a bridge on a WIMStruct for the duration of one call, then unregister it.

    A bridge is registered even without a callback so that Ctrl-C (a pending
    KeyboardInterrupt) is noticed at the next progress message and aborts cleanly.
    """
    lib = _lib.lib()
    ffi = _lib.ffi()
    bridge = ProgressBridge(callback)
    handle = ffi.new_handle(bridge)
    lib.wimlib_register_progress_function(wim_ptr, trampoline(), handle)
    try:
        yield bridge
    finally:
        lib.wimlib_register_progress_function(wim_ptr, ffi.NULL, ffi.NULL)
        del handle


def finish(bridge: ProgressBridge, code: int, **where: Any) -> None:
    """After a libwimlib call with progress: re-raise the callback's exception, else check."""
    if bridge.error is not None:
        _lib.take_messages()
        bridge.reraise()
    if code in (76, 77):  # aborted by progress without a stored error: the callback said stop
        _lib.take_messages()
        raise Cancelled("cancelled; nothing was changed")
    _lib.check(code, **where)
    _lib.flush_warnings()


def standalone(callback: ProgressCallback | None) -> tuple[ProgressBridge, Any, Any]:
    """A bridge, the trampoline and a handle for calls that take progfunc/progctx directly."""
    ffi = _lib.ffi()
    bridge = ProgressBridge(callback)
    return bridge, trampoline(), ffi.new_handle(bridge)
