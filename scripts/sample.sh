#!/usr/bin/env bash
# The main job on the built-in sample: set up, build a sample Windows media folder with an
# updates/ folder, then run the monthly servicing routine on it and print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${WIMCORE_SAMPLE_DIR:-sample-media}
rm -rf "$out" "$out.iso" "$out.wimcore.log"
.venv/bin/wimcore sample create "$out"
# The sample's WinPE is not a real one, so the vm backend cannot run: WinRE and both boot.wim
# images stay "not serviced" and the run is "incomplete". --allow-incomplete makes that exit 0;
# the summary still says, per image, what was staged and what was not serviced and why.
.venv/bin/wimcore media service "$out" --updates "$out/updates" --iso "$out.iso" --report "$out.report.json" --allow-incomplete
