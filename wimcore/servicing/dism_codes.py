"""DISM's exit codes, as DISM means them: one table per step kind, followed by job and host.

DISM returns 0 on success and 3010 / 1641 when the change is made and a restart is
pending. Two HRESULTs are not failures of the run when they come from the right step:

- ``0x800F081E`` (``CBS_E_NOT_APPLICABLE``) from ``/Add-Package``: the package does not
  apply, typically because an equal or newer update of the same line is already
  installed (re-adding a checkpoint cumulative update after a newer one). The host
  accepts it only when the image's own records show such a package installed.
- ``0x800F0806`` (``CBS_E_PENDING``) from ``/Cleanup-Image /StartComponentCleanup``:
  operations wait for the image's first boot (.NET or an optional component was
  enabled), so the cleanup could not run now. Microsoft's Dynamic Update sample script
  catches exactly this code after cleanup and goes on; so does wimcore, with a warning.

Every other code fails the step and ends its target: its later steps do not run and the
image is not captured back. The Windows batch (``job.cmd``) and the results parser both
take their decisions from :func:`outcome` / :data:`TABLE`; ``wimcore-job.txt`` carries
the continuing codes so the guest need not know them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class CodeClass(enum.Enum):
    """What one DISM exit code means for the run."""

    SUCCESS = "success"
    NOT_APPLICABLE = "not-applicable"  # recorded; the host checks the image's records
    PENDING = "pending-until-boot"  # a warning; the target goes on
    FAILURE = "failure"  # the target stops

    @property
    def goes_on(self) -> bool:
        """True when the target's next step runs after a step that ended this way."""
        return self is not CodeClass.FAILURE


#: DISM's success codes (3010 and 1641: done, a restart is pending).
SUCCESS_CODES = frozenset({0, 3010, 1641})
CBS_E_NOT_APPLICABLE = 0x800F081E
CBS_E_PENDING = 0x800F0806

#: step kind (the guest job's action) -> {code: class}; codes not listed are failures.
TABLE: Mapping[str, Mapping[int, CodeClass]] = {
    "add-package": {**dict.fromkeys(SUCCESS_CODES, CodeClass.SUCCESS),
                    CBS_E_NOT_APPLICABLE: CodeClass.NOT_APPLICABLE},
    "cleanup": {**dict.fromkeys(SUCCESS_CODES, CodeClass.SUCCESS),
                CBS_E_PENDING: CodeClass.PENDING},
    "cleanup-resetbase": {**dict.fromkeys(SUCCESS_CODES, CodeClass.SUCCESS),
                          CBS_E_PENDING: CodeClass.PENDING},
    "enable-netfx3": dict.fromkeys(SUCCESS_CODES, CodeClass.SUCCESS),
}

#: What each class means, for reports and the documentation.
MEANING: Mapping[CodeClass, str] = {
    CodeClass.SUCCESS: "success (3010/1641: a restart is pending)",
    CodeClass.NOT_APPLICABLE: ("not applicable: recorded, not a failure when the image "
                               "shows an equal or newer package of the same line installed"),
    CodeClass.PENDING: "pending until the image boots: a warning, the target goes on",
    CodeClass.FAILURE: "failure: the target stops and is not captured back",
}


def unsigned(code: int) -> int:
    """An exit code as an unsigned 32-bit value (``%ERRORLEVEL%`` shows HRESULTs negative)."""
    return code & 0xFFFFFFFF


def signed(code: int) -> int:
    """An exit code as ``%ERRORLEVEL%`` shows it in cmd.exe (signed 32-bit)."""
    value = unsigned(code)
    return value - (1 << 32) if value >= 0x80000000 else value


def code_text(code: int) -> str:
    """A code as Windows shows it: decimal for small ones, ``0x800F081E`` for HRESULTs."""
    value = unsigned(code)
    return f"0x{value:08X}" if value >= 0x80000000 else str(value)


def outcome(action: str, code: int) -> CodeClass:
    """The class of ``code`` for a step of kind ``action`` (unknown kinds: success only)."""
    table = TABLE.get(action, dict.fromkeys(SUCCESS_CODES, CodeClass.SUCCESS))
    return table.get(unsigned(code), CodeClass.FAILURE)


def continuing_codes(action: str) -> list[int]:
    """The codes after which a target's next step runs, signed as cmd.exe compares them."""
    table = TABLE.get(action, dict.fromkeys(SUCCESS_CODES, CodeClass.SUCCESS))
    return sorted(signed(c) for c, cls in table.items() if cls.goes_on)


def table_rows() -> list[tuple[str, str, str]]:
    """(step kind, codes, meaning) rows, as the documentation shows the table."""
    rows: list[tuple[str, str, str]] = []
    for action, codes in TABLE.items():
        by_class: dict[CodeClass, list[int]] = {}
        for code, cls in codes.items():
            by_class.setdefault(cls, []).append(code)
        for cls in CodeClass:
            if cls in by_class:
                rows.append((action, ", ".join(code_text(c) for c in sorted(by_class[cls])),
                             MEANING[cls]))
        rows.append((action, "any other", MEANING[CodeClass.FAILURE]))
    return rows
