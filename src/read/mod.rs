//! Read: files on disk → data. `export` reads 1688 buyer order exports into
//! orders; `workbook` reads LHDN batch-upload workbooks into a batch;
//! `customs` reads the customs file.
//!
//! Below them: `sheet` opens a sheet of any kind as rows (`xlsx` through
//! calamine's streaming reader, `xls` after a scan of its records, CSV);
//! `grid` is rows and what a cell says; `file` opens inputs within limits;
//! `text` decodes text files.

pub mod customs;
pub mod export;
pub mod file;
pub mod grid;
pub mod sheet;
pub mod text;
pub mod workbook;
pub mod xls;
pub mod xlsx;
