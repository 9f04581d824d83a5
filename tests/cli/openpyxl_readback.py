"""Reads a batch-upload workbook with openpyxl and prints what a person
opening it sees, as JSON: sheets and their states, defined names, and for
each visible sheet its data validations, conditional formats, tables, column
widths and data rows (from row 6, with Python types).

Used by tests/cli/template.rs. Exits 3 when openpyxl is not installed.
"""

import json
import sys
import warnings

try:
    import openpyxl
except ImportError:
    sys.exit(3)

warnings.simplefilter("ignore")


def cell(value):
    if value is None:
        return None
    return {"type": type(value).__name__, "value": str(value)}


def main(path):
    wb = openpyxl.load_workbook(path)
    out = {
        "sheets": [[ws.title, ws.sheet_state] for ws in wb.worksheets],
        "defined_names": sorted(
            [name, dn.attr_text] for name, dn in wb.defined_names.items()
        ),
        "local_names": sorted(
            [ws.title, name, dn.attr_text]
            for ws in wb.worksheets
            for name, dn in ws.defined_names.items()
        ),
        "visible": {},
    }
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        widths = {}
        for key, dim in ws.column_dimensions.items():
            if dim.width:
                for index in range(dim.min or 0, (dim.max or 0) + 1):
                    widths[openpyxl.utils.get_column_letter(index)] = round(dim.width, 4)
        rows = []
        for row in ws.iter_rows(min_row=6):
            rows.append(
                [
                    dict(
                        cell(c.value) or {},
                        column=c.column_letter,
                        format=c.number_format,
                        fill=c.fill.fill_type,
                    )
                    for c in row
                    if c.value is not None
                ]
            )
        out["visible"][ws.title] = {
            "validations": sorted(
                [str(dv.sqref), dv.type or "", dv.formula1 or ""]
                for dv in ws.data_validations.dataValidation
            ),
            "conditional_formats": sorted(
                str(cf.sqref) for cf in ws.conditional_formatting
            ),
            "tables": sorted([t.name, t.ref] for t in ws.tables.values()),
            "widths": widths,
            "headers": [c.value for c in ws[4]],
            "rows": rows,
        }
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
