//! Read: files on disk → data. `export` reads 1688 buyer order exports into
//! orders; `workbook` reads LHDN batch-upload workbooks into a batch;
//! `customs` reads the customs file.
//!
//! Below them: `sheet` opens a sheet of any kind as rows (the first sheet
//! of an xlsx through `sheet_xml`, which reads its XML with the tokenizer of
//! `xml_tokens` and makes only the cells kept; a workbook's sheets with their formulas
//! through calamine's streaming reader in `xlsx`; `xls` after a scan of its
//! records; CSV); `grid` is rows and what a cell says; `file` opens inputs
//! within limits; `text` decodes text files.

pub mod customs;
pub mod export;
pub mod file;
pub mod grid;
pub mod sheet;
pub mod sheet_xml;
pub mod text;
pub mod workbook;
pub mod xls;
pub mod xlsx;
pub mod xml_tokens;

use anyhow::{Result, bail};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Readers running under [`guard`] just now, in any thread.
static GUARDED: AtomicUsize = AtomicUsize::new(0);

/// Whether a reader runs under [`guard`]: a panic in a spreadsheet library
/// now is a damaged file, which the guard reports as such.
pub fn guarded() -> bool {
    GUARDED.load(Ordering::SeqCst) > 0
}

/// Runs `read` over the file at `path`; a panic in it (calamine, zip and
/// quick-xml are not hardened against every damaged file) is an error
/// naming the file, never a crash.
pub fn guard<T>(path: &Path, read: impl FnOnce() -> Result<T>) -> Result<T> {
    struct Running;
    impl Drop for Running {
        fn drop(&mut self) {
            GUARDED.fetch_sub(1, Ordering::SeqCst);
        }
    }
    GUARDED.fetch_add(1, Ordering::SeqCst);
    let running = Running;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    drop(running);
    match outcome {
        Ok(result) => result,
        Err(payload) => {
            let cause = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no cause given".to_string());
            bail!(
                "{}: a damaged file: the spreadsheet reader stopped on it ({cause}); open it in \
                 Excel and save it again, or download it again",
                path.display()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_reading_is_a_damaged_file() {
        let path = Path::new("orders.xls");
        let error = guard::<()>(path, || panic!("range end index 2 out of range"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("orders.xls: a damaged file: the spreadsheet reader stopped on it"),
            "{error}"
        );
        assert!(error.contains("range end index 2 out of range"), "{error}");
        assert!(!guarded());
        assert_eq!(guard(path, || Ok(7)).unwrap(), 7);
        let from_thread = guard::<()>(path, || {
            std::thread::scope(|s| {
                s.spawn(|| panic!("in a worker"));
            });
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(from_thread.contains("a damaged file"), "{from_thread}");
    }
}
