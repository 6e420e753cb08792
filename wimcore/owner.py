"""The shape shared by every object that owns a C handle: close once, context manager,
and a finaliser only as a safety net."""

from __future__ import annotations

from typing import TypeVar

_Self = TypeVar("_Self", bound="HandleOwner")


class HandleOwner:
    """Base class: subclasses implement an idempotent ``close()`` that frees the handle."""

    def close(self) -> None:
        """Free the handle (idempotent)."""
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # safety net only; close() is the contract
        try:
            self.close()
        except Exception:
            pass
