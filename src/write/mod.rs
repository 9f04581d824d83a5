//! Write: a batch → LHDN's workbook (`xlsx`) or one CSV per sheet (`csv`).
//! Every output is written to a temporary file beside it and renamed into
//! place; nothing is replaced without `force`. The files of one run form an
//! [`OutputSet`], put in place together.

pub mod csv;
pub mod set;
pub mod template;
pub mod xlsx;

pub use set::{Committed, OutputSet, SetKind};

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The file names for `parts` workbooks: `out.xlsx` for one, else
/// `out-001.xlsx`, `out-002.xlsx`, ….
pub fn split_names(path: &Path, parts: usize) -> Vec<PathBuf> {
    if parts <= 1 {
        return vec![path.to_path_buf()];
    }
    (1..=parts).map(|i| split_name(path, i)).collect()
}

/// The file name of workbook `number` (from 1) of several: `out-001.xlsx`, ….
pub fn split_name(path: &Path, number: usize) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let extension = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{number:03}{extension}"))
}

/// Refuses single outputs that exist (unless `force`), that are one of the
/// inputs, that are a dangling link or a folder, or whose folder is missing.
pub fn check_targets(targets: &[PathBuf], inputs: &[PathBuf], force: bool) -> Result<()> {
    for target in targets {
        set::refuse_input(target, inputs)?;
        set::refuse_dangling_link(target)?;
        if target.is_dir() {
            anyhow::bail!("{}: is a folder; give a file name", target.display());
        }
        if target.exists() && !force {
            anyhow::bail!(
                "{}: already exists; choose another name, or pass --force to replace it",
                target.display()
            );
        }
        let parent = set::folder_of(target);
        if !parent.is_dir() {
            anyhow::bail!(
                "{}: the folder {} does not exist; create it first",
                target.display(),
                parent.display()
            );
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// then a rename. Without `force` an existing file is never replaced.
pub fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    use std::io::Write;
    let mut temp = temp_beside(path)?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| set::disk_error(path, &e))?;
    persist(temp.into_temp_path(), path, force)
}

/// A temporary file in `path`'s folder, removed unless it is persisted.
pub fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    set::temp_in(&set::folder_of(path))
}

/// Renames a finished temporary file to `path`. Without `force` an existing
/// file is never replaced.
pub fn persist(temp: tempfile::TempPath, path: &Path, force: bool) -> Result<()> {
    // Temporary files are private (0600); an output is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o644);
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("{}: cannot set permissions", path.display()))?;
    }
    if force {
        temp.persist(path)
            .with_context(|| format!("{}: cannot replace", path.display()))?;
    } else {
        temp.persist_noclobber(path).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot create ({}); pass --force to replace an existing file",
                path.display(),
                e.error
            )
        })?;
    }
    Ok(())
}

/// Refuses a text longer than an Excel cell holds: selfbill never writes
/// one. `cells` is the row the text is in (its eInvoiceNumber names the
/// invoice), `row` the row it would be written to.
pub(crate) fn fits_a_cell(
    sheet: &crate::batch::SheetTemplate,
    cells: &[crate::batch::Cell],
    column: usize,
    row: usize,
) -> anyhow::Result<()> {
    let Some(crate::batch::Cell::Text(text)) = cells.get(column) else {
        return Ok(());
    };
    let Some(chars) = crate::read::file::too_long_for_a_cell(text) else {
        return Ok(());
    };
    let invoice = sheet
        .column("eInvoiceNumber")
        .and_then(|c| cells.get(c))
        .map(|c| c.as_text().into_owned())
        .unwrap_or_default();
    anyhow::bail!(
        "sheet {}, row {row}, column {} (invoice {invoice}): a text of {chars} characters, \
         starting {}; an Excel cell holds at most {} characters, so it is not written: shorten \
         it where it comes from (the export's title and 型号, the customs file's form numbers, \
         the supplier directory or the config)",
        sheet.name,
        sheet.headers[column].trim(),
        crate::read::sheet::quote_start(text.as_bytes()),
        crate::read::file::MAX_CELL_CHARS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_workbooks() {
        assert_eq!(
            split_names(Path::new("out/e.xlsx"), 1),
            [PathBuf::from("out/e.xlsx")]
        );
        assert_eq!(
            split_names(Path::new("out/e.xlsx"), 3),
            [
                PathBuf::from("out/e-001.xlsx"),
                PathBuf::from("out/e-002.xlsx"),
                PathBuf::from("out/e-003.xlsx")
            ]
        );
    }

    #[test]
    fn never_replaces_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.xlsx");
        write_atomic(&path, b"one", false).unwrap();
        assert!(write_atomic(&path, b"two", false).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "an ordinary file, not a private temporary one");
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn no_cell_longer_than_excel_holds_is_written() {
        let schema = &crate::batch::template().sheets[crate::batch::sheets::CUSTOMS_FORMS];
        let refs = schema.column("ReferenceNumberofCustomsFormNo1or9").unwrap();
        let number = schema.column("eInvoiceNumber").unwrap();
        let mut cells = vec![crate::batch::Cell::Empty; schema.headers.len()];
        cells[number] = crate::batch::Cell::text("SB-1");
        cells[refs] = crate::batch::Cell::text(vec!["K1-0001234567"; 2_600].join(","));
        let error = fits_a_cell(schema, &cells, refs, 6)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "sheet ReferenceNumberCustomsForms, row 6, column \
                 ReferenceNumberofCustomsFormNo1or9 (invoice SB-1): a text of 36399 characters"
            ),
            "{error}"
        );
        cells[refs] = crate::batch::Cell::text("K1-0001234567");
        fits_a_cell(schema, &cells, refs, 6).unwrap();
    }
}
