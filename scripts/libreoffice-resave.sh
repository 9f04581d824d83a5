#!/usr/bin/env bash
# Re-saves batch-upload workbooks with LibreOffice (headless) and reports
# whether LibreOffice needed to repair them: it could not load a file, said
# it was damaged, or lost sheets, names, validations or data rows on the way.
#
#   scripts/libreoffice-resave.sh [WORKBOOK.xlsx ...]
#
# Without arguments it converts the bundled sample export with the embedded
# template and with LHDN's older public copy (--template), and checks both.
# Needs `soffice` (apt-get install libreoffice-calc) and python3 with openpyxl.
# Exit status: 0 no repair, 1 a workbook needed repair, 2 could not run.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v soffice >/dev/null; then
  echo "soffice not found: apt-get install libreoffice-calc" >&2
  exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  cargo build --quiet --bin selfbill || exit 2
  bin="${CARGO_TARGET_DIR:-target}/debug/selfbill"
  common=(fixtures/orders-2024-10.xlsx --config fixtures/selfbill.toml --suppliers fixtures/suppliers.csv
    --rate 0.6097 --issued-at 2026-11-26T00:00:00Z --no-register -q)
  "$bin" convert "${common[@]}" -o "$work/embedded.xlsx" || exit 2
  "$bin" convert "${common[@]}" -o "$work/older.xlsx" \
    --template tests/data/lhdn-template-2024-10.xlsx || exit 2
  files=("$work/embedded.xlsx" "$work/older.xlsx")
fi

status=0
for file in "${files[@]}"; do
  out="$work/resaved-$(basename "$file" .xlsx)"
  mkdir -p "$out"
  log="$(soffice -env:UserInstallation="file://$work/profile" --headless --norestore \
    --convert-to xlsx:"Calc MS Excel 2007 XML" --outdir "$out" "$file" 2>&1)"
  resaved="$out/$(basename "$file")"
  if [ ! -s "$resaved" ] || grep -qiE "repair|corrupt|damaged|error" <<<"$log"; then
    echo "$file: NEEDED REPAIR or could not be loaded"
    echo "$log" | sed 's/^/  /'
    status=1
    continue
  fi
  # What LibreOffice kept: sheets and their states, defined names, data
  # validations and data rows of every visible sheet.
  python3 - "$file" "$resaved" <<'PY' || status=1
import sys, warnings
warnings.simplefilter("ignore")
try:
    import openpyxl
except ImportError:
    print(f"{sys.argv[1]}: re-saved without complaint (openpyxl missing: contents not compared)")
    sys.exit(0)

def view(path):
    wb = openpyxl.load_workbook(path)
    sheets = [(ws.title, ws.sheet_state) for ws in wb.worksheets]
    names = sorted(wb.defined_names.keys())
    visible = {}
    for ws in wb.worksheets:
        if ws.sheet_state == "visible":
            rows = sum(1 for r in ws.iter_rows(min_row=6) if any(c.value is not None for c in r))
            visible[ws.title] = (rows, len(ws.data_validations.dataValidation))
    return sheets, names, visible

ours, theirs = view(sys.argv[1]), view(sys.argv[2])
problems = []
if ours[0] != theirs[0]:
    problems.append(f"sheets differ: {ours[0]} vs {theirs[0]}")
missing = set(ours[1]) - set(theirs[1])
if missing:
    problems.append(f"defined names lost: {sorted(missing)}")
for sheet, (rows, validations) in ours[2].items():
    rows2, validations2 = theirs[2].get(sheet, (0, 0))
    if rows2 != rows:
        problems.append(f"{sheet}: {rows} data rows, {rows2} after re-saving")
    if validations2 < validations:
        problems.append(f"{sheet}: {validations} validations, {validations2} after re-saving")
data = sum(r for r, _ in ours[2].values())
if problems:
    print(f"{sys.argv[1]}: NEEDED REPAIR or lost content")
    for p in problems:
        print(f"  {p}")
    sys.exit(1)
print(f"{sys.argv[1]}: re-saved by LibreOffice without repair; {len(ours[0])} sheets, "
      f"{len(ours[1])} defined names, {data} data rows and every validation kept")
PY
done
exit $status
