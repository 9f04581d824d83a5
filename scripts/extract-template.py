#!/usr/bin/env python3
"""Regenerate assets/lhdn-template.json from LHDN's batch-upload workbook.

selfbill writes rows 1-5 of every visible sheet exactly as LHDN ships them; this
script records those cells (value, kind, number format), each sheet's Excel table
and column widths, so the binary can embed them without parsing the workbook.

    python3 scripts/extract-template.py assets/lhdn-batch-upload-template.xlsx > assets/lhdn-template.json
"""
import datetime
import json
import re
import sys
import zipfile

import openpyxl
from openpyxl.utils import get_column_letter


def raw_values(path):
    """Sheet name → {cell ref: raw <v> text}, to keep Excel's own date serials."""
    z = zipfile.ZipFile(path)
    workbook = z.read("xl/workbook.xml").decode()
    rels = z.read("xl/_rels/workbook.xml.rels").decode()
    targets = dict(re.findall(r'Id="([^"]+)"[^>]*Target="([^"]+)"', rels))
    targets.update({k: v for v, k in re.findall(r'Target="([^"]+)"[^>]*Id="([^"]+)"', rels)})
    out = {}
    for name, rid in re.findall(r'<sheet[^>]*name="([^"]+)"[^>]*r:id="([^"]+)"', workbook):
        target = targets[rid].lstrip("/")
        target = target if target.startswith("xl/") else "xl/" + target
        xml = z.read(target).decode()
        out[name] = dict(re.findall(r'<c r="([A-Z]+[0-9]+)"[^>]*>(?:<f>[^<]*</f>)?<v>([^<]*)</v>', xml))
    return out


def cell_json(cell, raw):
    value = cell.value
    if value is None:
        return None
    out = {"col": cell.column - 1, "format": cell.number_format}
    if cell.data_type == "f":
        out.update(kind="formula", value=str(value))
    elif isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        out.update(kind="datetime", value=raw[cell.coordinate])
    elif isinstance(value, (int, float)):
        out.update(kind="number", value=repr(value))
    else:
        out.update(kind="text", value=str(value))
    return out


def main(path):
    wb = openpyxl.load_workbook(path)
    raws = raw_values(path)
    sheets = []
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        (table,) = ws.tables.values()
        first, last = table.ref.split(":")
        rows = []
        for r in range(1, 6):
            cells = [cell_json(ws.cell(r, c), raws[ws.title]) for c in range(1, ws.max_column + 1)]
            rows.append([c for c in cells if c is not None])
        widths = []
        for c in range(1, ws.max_column + 1):
            dim = ws.column_dimensions.get(get_column_letter(c))
            widths.append(dim.width if dim is not None and dim.width else None)
        headers = [ws.cell(4, c).value for c in range(2, ws.max_column + 1)]
        data_formats = [ws.cell(5, c).number_format for c in range(2, ws.max_column + 1)]
        sheets.append(
            {
                "name": ws.title,
                "table": table.displayName,
                "table_style": table.tableStyleInfo.name if table.tableStyleInfo else None,
                "headers": headers,
                "data_formats": data_formats,
                "widths": widths,
                "rows": rows,
            }
        )
    json.dump({"source": "LHDN MyInvois Portal batch-upload workbook (copy 2026)", "sheets": sheets},
              sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
