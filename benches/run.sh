#!/usr/bin/env bash
# Benchmark: generate a large 1688 export, then time convert and check, with
# peak memory, as a user runs them: the report printed as text (to
# /dev/null), no -q, no --json. Usage: benches/run.sh [LINES] (default 100000).
# RUNS=N (default 1) converts N times more, the split and the one-workbook
# runs alternating, each into a fresh folder with a register of its own, and
# prints each run and the medians: one run on a shared machine says little.
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-100000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --example gen_export --bin selfbill
target/release/examples/gen_export "$lines" "$work/export.xlsx" "$work/suppliers.csv"
bin=target/release/selfbill
# Issued now, as a user converts (no --issued-at): an older time would add a
# finding per invoice that LHDN would refuse it.
args=(--config fixtures/selfbill.toml --suppliers "$work/suppliers.csv" --rate 0.6097)

# Prints wall time, CPU time (user + system, all cores) and the child's peak
# resident memory.
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL)
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak_mb = usage.ru_maxrss / 1024
cpu = usage.ru_utime + usage.ru_stime
print(f"{sys.argv[1]:<40} {elapsed:6.2f} s  {cpu:6.2f} s CPU  {peak_mb:7.1f} MB peak  exit {proc.returncode}")
PY
}

echo "export: $lines lines ($(du -h "$work/export.xlsx" | cut -f1))"
mkdir -p "$work/split"
# Each convert records its invoices in a register of its own, as a bookkeeper's would.
measure "convert (100 invoices per workbook)" "$bin" convert "$work/export.xlsx" -o "$work/split/e.xlsx" "${args[@]}" --register "$work/split.db"
echo "  workbooks written: $(ls "$work/split" | wc -l)"
measure "convert (one workbook)" "$bin" convert "$work/export.xlsx" -o "$work/one.xlsx" --max-per-file 1000000 "${args[@]}" --register "$work/one.db"
measure "convert (one workbook, --no-register)" "$bin" convert "$work/export.xlsx" -o "$work/one-nr.xlsx" --max-per-file 1000000 "${args[@]}" --no-register
extra_runs="${RUNS:-1}"
if [ "$extra_runs" -gt 1 ]; then
  echo "$extra_runs runs more of each, alternating:"
  for i in $(seq "$extra_runs"); do
    mkdir -p "$work/again-$i/split"
    measure "  convert (100 invoices per workbook)" "$bin" convert "$work/export.xlsx" -o "$work/again-$i/split/e.xlsx" "${args[@]}" --register "$work/again-$i/split.db" | tee -a "$work/split.times"
    measure "  convert (one workbook)" "$bin" convert "$work/export.xlsx" -o "$work/again-$i/one.xlsx" --max-per-file 1000000 "${args[@]}" --register "$work/again-$i/one.db" | tee -a "$work/one.times"
    # Not removed until the end: ext4 without a journal (as on some CI machines)
    # scans past recently deleted inodes for every file created, which would
    # charge the next run for this one's 400 files.
  done
  python3 - "$work/split.times" "$work/one.times" <<'PY'
import re, statistics, sys
for path, kind in zip(sys.argv[1:], ["split", "one workbook"]):
    runs = [re.search(r"([0-9.]+) s +([0-9.]+) s CPU +([0-9.]+) MB", line).groups() for line in open(path)]
    wall, cpu, peak = ([float(r[i]) for r in runs] for i in range(3))
    print(f"  {kind:<13} wall {min(wall):.2f}-{max(wall):.2f} s (median {statistics.median(wall):.2f}), "
          f"CPU median {statistics.median(cpu):.2f} s, peak {min(peak):.0f}-{max(peak):.0f} MB")
PY
fi
# One in five generated orders is closed (not invoiced): an export of 5/4 the
# lines makes a workbook with LINES invoice lines for check.
target/release/examples/gen_export "$((lines * 5 / 4))" "$work/export-for-check.xlsx"
"$bin" convert "$work/export-for-check.xlsx" -o "$work/check.xlsx" --max-per-file 1000000 "${args[@]}" --no-register > /dev/null
echo "workbook for check: about $lines invoice lines, $(du -h "$work/check.xlsx" | cut -f1)"
measure "check ($lines-line workbook)" "$bin" check "$work/check.xlsx"
