#!/usr/bin/env bash
# Benchmark: generate a large 1688 export, then time convert and check, with
# peak memory, as a user runs them: the report printed as text (to
# /dev/null), no -q, no --json. Usage: benches/run.sh [LINES] (default 100000).
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
# One in five generated orders is closed (not invoiced): an export of 5/4 the
# lines makes a workbook with LINES invoice lines for check.
target/release/examples/gen_export "$((lines * 5 / 4))" "$work/export-for-check.xlsx"
"$bin" convert "$work/export-for-check.xlsx" -o "$work/check.xlsx" --max-per-file 1000000 "${args[@]}" --no-register > /dev/null
echo "workbook for check: about $lines invoice lines, $(du -h "$work/check.xlsx" | cut -f1)"
measure "check ($lines-line workbook)" "$bin" check "$work/check.xlsx"
