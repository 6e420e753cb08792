#!/usr/bin/env bash
# The main job on the built-in sample: set up, build a sample Windows media folder with an
# updates/ folder, then run the monthly servicing routine on it and print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${WIMCORE_SAMPLE_DIR:-sample-media}
rm -rf "$out" "$out.iso"
.venv/bin/wimcore sample create "$out"
.venv/bin/wimcore media service "$out" --updates "$out/updates" --iso "$out.iso" --report "$out.report.json"
