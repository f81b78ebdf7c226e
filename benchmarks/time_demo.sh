#!/usr/bin/env bash
# Wall time of `make demo` on fresh local state (install excluded) and of `make test`; prints a markdown table.
# Usage: benchmarks/time_demo.sh [runs]   (default 1; the machines are shared, so quote the median of several)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1}
make install >/dev/null
measure() {  # prints seconds of one run of "$@"
  local start end
  start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N)
  python3 -c "print(round($end - $start, 1))"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
demo_fresh=(); demo_again=(); tests=()
for _ in $(seq "$runs"); do
  rm -rf .flywheel
  demo_fresh+=("$(measure make demo)")
  demo_again+=("$(measure make demo)")
  tests+=("$(measure make test)")
done
echo "| what | runs | median seconds |"
echo "| --- | ---: | ---: |"
echo "| make demo (fresh .flywheel/, lock installed) | $runs | $(printf '%s\n' "${demo_fresh[@]}" | median) |"
echo "| make demo again (nothing new: idempotent re-run) | $runs | $(printf '%s\n' "${demo_again[@]}" | median) |"
echo "| make test | $runs | $(printf '%s\n' "${tests[@]}" | median) |"
