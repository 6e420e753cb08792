"""Keep the PSF benchmark's generator working: a tiny PSF whose index and spans agree.

No timing assertions; the expansion half is exercised by the benchmark itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from benchmarks.psf_bench import CIX_NAME, PSF_NAME, generate, verify
from wimcore.packages.express import parse_cix


def test_generate_small_psf(tmp_path: Path) -> None:
    report = generate(tmp_path, 3 * 1024 * 1024, delta_share=0.1)
    psf = (tmp_path / PSF_NAME).read_bytes()
    assert psf[:8] == b"PSTREAM\0" and len(psf) == report["psf_bytes"] >= 3 * 1024 * 1024
    spans = parse_cix((tmp_path / CIX_NAME).read_bytes())
    assert len(spans) == report["raw_files"] + report["delta_files"]
    assert report["delta_files"] >= 1 and {s.type for s in spans} == {"RAW", "PA30"}
    magics = {psf[s.offset:s.offset + 4] for s in spans if s.type == "PA30"}
    assert b"PA30" in magics and b"PA31" in magics  # PA31 blobs carry the PA30 label
    cix = (tmp_path / CIX_NAME).read_text()
    for s in spans:
        blob = psf[s.offset:s.offset + s.length]
        assert hashlib.sha256(blob).hexdigest().upper() in cix
    # nothing expanded yet: verify() counts every file as missing
    assert verify(tmp_path, tmp_path / "none") == (len(spans), 0)
