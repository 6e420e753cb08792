#!/bin/sh
# Build the libFuzzer + ASan/UBSan harness for native/msdelta.c and run it for N seconds
# (default 300) on one core. Seeds: python native/fuzz/make_corpus.py writes build/corpus.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-300}
mkdir -p "$here/build" "$here/build/corpus"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -o "$here/build/fuzz_msdelta" "$here/fuzz_msdelta.c" "$here/../msdelta.c"
if [ -d "$here/corpus" ]; then cp -n "$here"/corpus/* "$here/build/corpus/" 2>/dev/null || true; fi
cd "$here/build"
exec ./fuzz_msdelta -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 \
  -print_final_stats=1 corpus
