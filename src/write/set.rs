//! An output set: every file one run writes under one name (`out.xlsx`, or
//! `out-001.xlsx`, `out-002.xlsx` …; or the sheet files of a CSV folder).
//!
//! After a run the set on disk is exactly what that run wrote. Writers stage
//! each part as a temporary file beside its target ([`OutputSet::temp_file`],
//! then [`OutputSet::add`]); nothing is in place until [`OutputSet::commit`],
//! which moves every part into place and removes the parts of an earlier set
//! of the same name that this one does not replace. Dropping a set that was
//! not committed removes what it staged: the old set stays as it was.
//!
//! Every part is on disk before anything is moved: a writer need not flush
//! each part itself. A workbook finished while the run goes on is handed to
//! the set's flushers ([`OutputSet::flush_early`]), threads that flush it to
//! disk while the next ones are built; the commit waits for those under way
//! and flushes the parts they did not (or could not) flush, or that changed
//! since, all at once (one flush after another costs a disk round trip each;
//! hundreds of workbooks of a split output are flushed together in a
//! fraction of that time).
//!
//! A commit first records its moves in a journal beside the parts; a run
//! killed while moving leaves the journal, and the next run in that folder
//! completes the moves, so the folder ends with the new set. Temporary files
//! of a run that was killed while staging are removed by the next run. Each
//! is reported ([`OutputSet::recovered`]).

use anyhow::{Context, Result, anyhow, bail};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use crate::batch::template;

/// How the parts of a set are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    /// `out.xlsx`, or `out-001.xlsx`, `out-002.xlsx` … beside it.
    Workbooks,
    /// A folder with one `<Sheet>.csv` per LHDN sheet.
    CsvFolder,
}

/// What a commit did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The parts now in place, in the order they were added.
    pub written: Vec<PathBuf>,
    /// Parts of an earlier set of the same name that were removed.
    pub removed: Vec<PathBuf>,
}

/// The parts one run writes, staged until they are committed together.
#[derive(Debug)]
pub struct OutputSet {
    output: PathBuf,
    kind: SetKind,
    /// The folder the parts live in.
    dir: PathBuf,
    force: bool,
    staged: Vec<(tempfile::TempPath, PathBuf)>,
    /// The CSV folder was created by this set (removed again if nothing is committed).
    created_dir: bool,
    recovered: Vec<String>,
    /// Whether finished parts may be flushed before the commit: every part
    /// gets [`NEW_PART_MODE`] (no earlier part of another mode is replaced).
    early: bool,
    /// Started by the first part flushed early; `None` inside when no thread
    /// could be started.
    flusher: OnceLock<Option<Flusher>>,
    /// The temporary files the flushers gave their mode and flushed, each
    /// as it was then.
    flushed: Arc<Mutex<Flushed>>,
}

/// Prefix of every temporary file and journal selfbill writes; the process
/// id follows, so a later run can tell a dead run's files from a live one's.
const TEMP_PREFIX: &str = ".selfbill-";
const TEMP_SUFFIX: &str = ".tmp";
const JOURNAL_SUFFIX: &str = ".journal";

impl OutputSet {
    /// Plans the set named by `output`, before any work: refuses an output
    /// that is one of `inputs`, a dangling link, a folder where a file is
    /// meant (or the reverse), a missing parent folder, and — without
    /// `force` — any existing part of a set of that name. Completes or
    /// cleans up what an interrupted earlier run left in the folder.
    pub fn open(
        output: &Path,
        kind: SetKind,
        inputs: &[PathBuf],
        force: bool,
    ) -> Result<OutputSet> {
        refuse_input(output, inputs)?;
        refuse_dangling_link(output)?;
        match kind {
            SetKind::Workbooks if output.is_dir() => bail!(
                "{}: is a folder; give a workbook name such as {}/einvoices.xlsx, or pass --format csv",
                output.display(),
                output.display()
            ),
            SetKind::CsvFolder if output.exists() && !output.is_dir() => bail!(
                "{}: is a file; CSV output goes into a folder: give a folder name",
                output.display()
            ),
            _ => {}
        }
        let dir = match kind {
            SetKind::Workbooks => folder_of(output),
            SetKind::CsvFolder => output.to_path_buf(),
        };
        let parent = folder_of(&dir);
        if !dir.is_dir() && !parent.is_dir() {
            bail!(
                "{}: the folder {} does not exist; create it first",
                output.display(),
                parent.display()
            );
        }
        let mut set = OutputSet {
            output: output.to_path_buf(),
            kind,
            dir,
            force,
            staged: Vec::new(),
            created_dir: false,
            recovered: Vec::new(),
            early: false,
            flusher: OnceLock::new(),
            flushed: Arc::default(),
        };
        if set.dir.is_dir() {
            set.recovered = recover(&set.dir);
        }
        let existing = set.existing_parts();
        set.early = existing
            .iter()
            .all(|part| output_mode(part) == NEW_PART_MODE);
        if !force && let Some(first) = existing.first() {
            let more = match existing.len() {
                1 => String::new(),
                n => format!(
                    " (with {} more part{} of this output)",
                    n - 1,
                    if n == 2 { "" } else { "s" }
                ),
            };
            bail!(
                "{}: already exists{more}; choose another name, or pass --force to replace the \
                 whole set (earlier parts of the same name are removed)",
                first.display()
            );
        }
        Ok(set)
    }

    /// Reports of what an interrupted earlier run left behind, and what was
    /// done about it.
    pub fn recovered(&self) -> &[String] {
        &self.recovered
    }

    /// The files of an earlier set of this name: what a commit replaces or
    /// removes.
    pub fn existing_parts(&self) -> Vec<PathBuf> {
        match self.kind {
            SetKind::Workbooks => workbook_parts(&self.output),
            SetKind::CsvFolder => template()
                .sheets
                .iter()
                .map(|sheet| self.dir.join(format!("{}.csv", sheet.name)))
                .filter(|path| exists(path))
                .collect(),
        }
    }

    /// A new temporary file beside the set's parts, for a writer to fill and
    /// hand back with [`OutputSet::add`]. Removed when dropped unstaged.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        if !self.dir.is_dir() {
            bail!("{}: the output folder does not exist", self.dir.display());
        }
        temp_in(&self.dir)
    }

    /// Starts flushing a finished temporary file (from
    /// [`OutputSet::temp_file`], written and closed) to disk, on the set's
    /// flushers, while the run goes on; it is then staged with
    /// [`OutputSet::add`] as usual. Only a head start: the commit flushes
    /// whatever was not flushed by then, and a flush that failed again.
    pub fn flush_early(&self, temp: &Path) {
        if !self.early {
            return;
        }
        let start = || Flusher::start(Arc::clone(&self.flushed));
        if let Some(flusher) = self.flusher.get_or_init(start) {
            flusher.send(temp);
        }
    }

    /// Stages a finished temporary file (from [`OutputSet::temp_file`]) as
    /// the part `target`, which must be in the set's folder.
    pub fn add(&mut self, temp: tempfile::TempPath, target: PathBuf) -> Result<()> {
        if folder_of(&target) != self.dir {
            bail!(
                "{}: a part must be in {}",
                target.display(),
                self.dir.display()
            );
        }
        self.staged.push((temp, target));
        Ok(())
    }

    /// Writes `bytes` to a temporary file and stages it as `target` (the
    /// commit flushes it to disk).
    pub fn add_bytes(&mut self, target: PathBuf, bytes: &[u8]) -> Result<()> {
        if self.kind == SetKind::CsvFolder && !self.dir.exists() {
            std::fs::create_dir(&self.dir).with_context(|| {
                format!("{}: cannot create the output folder", self.dir.display())
            })?;
            self.created_dir = true;
        }
        let mut temp = self.temp_file()?;
        temp.write_all(bytes).map_err(|e| disk_error(&target, &e))?;
        self.add(temp.into_temp_path(), target)
    }

    /// Flushes every staged part to disk, moves them into place and removes
    /// the earlier set's other parts. Without `force`, a part that appeared
    /// meanwhile stops the commit before anything is moved; so does a part
    /// that cannot be flushed (a full disk).
    pub fn commit(mut self) -> Result<Committed> {
        let targets: BTreeSet<PathBuf> = self.staged.iter().map(|(_, t)| t.clone()).collect();
        let removed: Vec<PathBuf> = self
            .existing_parts()
            .into_iter()
            .filter(|p| !targets.contains(p))
            .collect();
        if !self.force
            && let Some(existing) = targets.iter().chain(&removed).find(|p| exists(p))
        {
            bail!(
                "{}: already exists; choose another name, or pass --force to replace it",
                existing.display()
            );
        }
        let flushed = self.stop_flushing();
        let mut unflushed = Vec::new();
        for (temp, target) in &self.staged {
            let mode = output_mode(target);
            // Flushed early, and the same file unchanged since.
            let done = flushed
                .get(&**temp)
                .is_some_and(|then| std::fs::metadata(temp).is_ok_and(|now| stamp(&now) == *then));
            if mode == NEW_PART_MODE && done {
                continue;
            }
            set_output_permissions(temp, target, mode)?;
            unflushed.push((&**temp, target.as_path()));
        }
        sync_all(&unflushed)?;
        let journal = self.write_journal(&removed)?;
        let staged = std::mem::take(&mut self.staged);
        let mut written = Vec::with_capacity(staged.len());
        for (temp, target) in staged {
            let moved = if self.force {
                temp.persist(&target).map_err(|e| e.error)
            } else {
                temp.persist_noclobber(&target).map_err(|e| e.error)
            };
            moved.map_err(|e| {
                anyhow!(
                    "{}: cannot put in place ({e}); {} of the new parts are in place, and the \
                     next selfbill run in {} completes the set",
                    target.display(),
                    written.len(),
                    self.dir.display()
                )
            })?;
            written.push(target);
        }
        for path in &removed {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("{}: an earlier part cannot be removed", path.display())
                    });
                }
            }
        }
        sync_dir(&self.dir);
        if let Some(journal) = journal {
            let _ = std::fs::remove_file(journal);
        }
        self.created_dir = false;
        Ok(Committed { written, removed })
    }

    /// Stops the flushers (a flush under way is finished first; those not
    /// begun are left to the commit) and returns the parts they flushed.
    fn stop_flushing(&mut self) -> Flushed {
        if let Some(flusher) = self.flusher.take().flatten() {
            flusher.stop(true);
        }
        std::mem::take(&mut *self.flushed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Records the moves and removals a commit is about to make, flushed to
    /// disk, so that a run killed halfway can be completed by the next.
    /// `None` when a name cannot be recorded (not UTF-8): the commit goes on
    /// without a journal.
    fn write_journal(&self, removed: &[PathBuf]) -> Result<Option<PathBuf>> {
        let name = |path: &Path| -> Option<String> {
            path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
        };
        let mut entries = Vec::new();
        for (temp, target) in &self.staged {
            let (Some(from), Some(to)) = (name(temp), name(target)) else {
                return Ok(None);
            };
            entries.push(serde_json::json!({"put": from, "as": to}));
        }
        for path in removed {
            let Some(gone) = name(path) else {
                return Ok(None);
            };
            entries.push(serde_json::json!({"remove": gone}));
        }
        let mut file = tempfile::Builder::new()
            .prefix(&temp_prefix())
            .suffix(JOURNAL_SUFFIX)
            .tempfile_in(&self.dir)
            .with_context(|| format!("{}: cannot create a file here", self.dir.display()))?;
        let text = serde_json::Value::Array(entries).to_string();
        file.write_all(text.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| disk_error(&self.output, &e))?;
        let (_, path) = file
            .keep()
            .map_err(|e| anyhow!("{}: cannot keep the journal: {}", self.dir.display(), e))?;
        sync_dir(&self.dir);
        Ok(Some(path))
    }
}

impl Drop for OutputSet {
    fn drop(&mut self) {
        // No flusher outlives the set; staged temporary files remove
        // themselves; a folder this set created goes too when it is empty.
        self.stop_flushing();
        self.staged.clear();
        if self.created_dir {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// An error while writing a part: "disk full" said plainly.
pub fn disk_error(target: &Path, error: &std::io::Error) -> anyhow::Error {
    let full = error.raw_os_error() == Some(28) || error.kind() == std::io::ErrorKind::StorageFull;
    if full {
        anyhow!(
            "{}: the disk is full ({error}); nothing was written and earlier files are as they \
             were; free some space and run again",
            target.display()
        )
    } else {
        anyhow!(
            "{}: cannot write ({error}); nothing was written and earlier files are as they were",
            target.display()
        )
    }
}

/// An error while building a part: "disk full" said plainly when that is
/// what happened, with the part's name.
pub fn write_error(target: &Path, error: anyhow::Error) -> anyhow::Error {
    match error
        .chain()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
    {
        Some(io) => disk_error(target, io),
        None => error.context(format!(
            "{}: cannot write the workbook; nothing was written",
            target.display()
        )),
    }
}

/// A temporary file in `dir`, named `.selfbill-<pid>-XXXXXX.tmp`.
pub(crate) fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&temp_prefix())
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .with_context(|| format!("{}: cannot create a file in this folder", dir.display()))
}

fn temp_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// The folder a path is in (`.` for a bare name).
pub(crate) fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether anything, even a dangling link, is at `path`.
fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// The mode of a new part: an output is an ordinary file, not a private
/// temporary one.
const NEW_PART_MODE: u32 = 0o644;

/// The mode a part gets: that of the file it replaces, else
/// [`NEW_PART_MODE`].
fn output_mode(target: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(target)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(NEW_PART_MODE)
    }
    #[cfg(not(unix))]
    {
        let _ = target;
        NEW_PART_MODE
    }
}

/// Gives a temporary file the mode of its part (see [`output_mode`]).
fn set_output_permissions(temp: &Path, target: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temp, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("{}: cannot set permissions", target.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (temp, target, mode);
    Ok(())
}

/// Threads flushing finished parts while the run goes on: a flush mostly
/// waits on the disk, and parts are finished faster than one flush after
/// another takes.
const FLUSH_THREADS: usize = 4;

/// Flushes finished parts to disk as they are handed over, each part given
/// [`NEW_PART_MODE`] first (the commit changes neither again), and records
/// those flushed. Each thread holds one file open at a time; the queue
/// holds names.
#[derive(Debug)]
struct Flusher {
    queue: mpsc::Sender<PathBuf>,
    /// Set when the flushers are to stop: parts not begun are left.
    stopping: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Flusher {
    /// Flushers recording in `flushed` the parts they flush; `None` when no
    /// thread can be started (the commit flushes every part).
    fn start(flushed: Arc<Mutex<Flushed>>) -> Option<Flusher> {
        let (queue, parts) = mpsc::channel::<PathBuf>();
        let parts = Arc::new(Mutex::new(parts));
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..FLUSH_THREADS {
            let (parts, stopping, flushed) = (
                Arc::clone(&parts),
                Arc::clone(&stopping),
                Arc::clone(&flushed),
            );
            let thread = std::thread::Builder::new()
                .name("selfbill-flush".into())
                .spawn(move || {
                    loop {
                        let next = match parts.lock() {
                            Ok(parts) => parts.recv(),
                            Err(_) => return,
                        };
                        let Ok(part) = next else { return };
                        if stopping.load(Ordering::Acquire) {
                            return;
                        }
                        if let Ok(then) = flush_part(&part)
                            && let Ok(mut flushed) = flushed.lock()
                        {
                            flushed.insert(part, then);
                        }
                    }
                });
            match thread {
                Ok(thread) => threads.push(thread),
                Err(_) => break,
            }
        }
        if threads.is_empty() {
            return None;
        }
        Some(Flusher {
            queue,
            stopping,
            threads,
        })
    }

    fn send(&self, part: &Path) {
        // A flusher gone (it cannot be) leaves the part to the commit.
        let _ = self.queue.send(part.to_path_buf());
    }

    /// Ends every thread once a flush under way is finished; the parts
    /// handed over and not begun are flushed first, or with `leave_rest`
    /// left.
    fn stop(self, leave_rest: bool) {
        let Flusher {
            queue,
            stopping,
            threads,
        } = self;
        stopping.store(leave_rest, Ordering::Release);
        drop(queue);
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Gives a finished part its mode and flushes it to disk; returns what it
/// then was.
fn flush_part(temp: &Path) -> std::io::Result<Stamp> {
    let file = std::fs::OpenOptions::new().write(true).open(temp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(NEW_PART_MODE))?;
    }
    file.sync_all()?;
    Ok(stamp(&file.metadata()?))
}

/// The parts flushed early, each as it was when flushed.
type Flushed = HashMap<PathBuf, Stamp>;

/// What tells a file as it was: the same file (device and inode, where the
/// platform tells them), not changed since (its change time: a write or a
/// new mode changes it), of the same length.
#[cfg(unix)]
type Stamp = (u64, u64, i64, i64, u64);
#[cfg(not(unix))]
type Stamp = (u64, Option<std::time::SystemTime>);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (
            meta.dev(),
            meta.ino(),
            meta.ctime(),
            meta.ctime_nsec(),
            meta.len(),
        )
    }
    #[cfg(not(unix))]
    {
        (meta.len(), meta.modified().ok())
    }
}

/// Parts flushed to disk at once: waiting on the disk, not the processor.
const SYNC_THREADS: usize = 16;

/// Flushes parts' data to disk before any is moved into place, on several
/// threads: the disk (and the file system's journal) takes concurrent
/// flushes together, where one after another each waits for its own round
/// trip. Each part is (temporary file, target).
fn sync_all(staged: &[(&Path, &Path)]) -> Result<()> {
    let sync = |(temp, target): &(&Path, &Path)| -> Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(temp)
            .and_then(|file| file.sync_all())
            .map_err(|e| disk_error(target, &e))
    };
    if staged.len() <= 1 {
        return staged.iter().try_for_each(sync);
    }
    let threads = staged.len().min(SYNC_THREADS);
    let per_thread = staged.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = staged
            .chunks(per_thread)
            .map(|parts| scope.spawn(move || parts.iter().try_for_each(sync)))
            .collect();
        // The first part's error, in the order the parts were added.
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .unwrap_or_else(|_| Err(anyhow!("flushing the outputs to disk failed")))
        })
    })
}

/// Flushes a folder's entries (renames, removals) to disk, where the
/// platform allows it.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// `out.xlsx` and `out-001.xlsx`, `out-002.xlsx` … as they exist: three-digit
/// parts, and longer numbers only where the part before them exists (so an
/// unrelated `out-2024.xlsx` is never taken for a part).
fn workbook_parts(output: &Path) -> Vec<PathBuf> {
    let mut parts = Vec::new();
    if exists(output) {
        parts.push(output.to_path_buf());
    }
    let (Some(stem), dir) = (
        output.file_stem().and_then(|s| s.to_str()),
        folder_of(output),
    ) else {
        return parts;
    };
    let extension = output
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return parts;
    };
    let prefix = format!("{stem}-");
    let mut numbers: Vec<u64> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let number = name.strip_prefix(&prefix)?.strip_suffix(&extension)?;
            let n: u64 = number.parse().ok()?;
            (format!("{n:03}") == number && n > 0).then_some(n)
        })
        .collect();
    numbers.sort_unstable();
    let mut taken = BTreeSet::new();
    for n in numbers {
        if n < 1000 || taken.contains(&(n - 1)) {
            taken.insert(n);
        }
    }
    parts.extend(
        taken
            .into_iter()
            .map(|n| dir.join(format!("{stem}-{n:03}{extension}"))),
    );
    parts
}

/// Refuses an output that is one of the inputs: the same path, a link to
/// it, or another name (hard link) of the same file.
pub fn refuse_input(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    let Ok(target) = std::fs::metadata(output) else {
        return Ok(());
    };
    let canonical = output.canonicalize().ok();
    for input in inputs {
        let same = match std::fs::metadata(input) {
            Ok(meta) => same_file(&target, &meta) || canonical == input.canonicalize().ok(),
            Err(_) => false,
        };
        if same {
            bail!(
                "{}: is an input of this run ({}); choose another output name (inputs are never \
                 written)",
                output.display(),
                input.display()
            );
        }
    }
    Ok(())
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// A link at `output` that points nowhere: say so, instead of "File exists".
pub fn refuse_dangling_link(output: &Path) -> Result<()> {
    let Ok(meta) = output.symlink_metadata() else {
        return Ok(());
    };
    if meta.file_type().is_symlink() && std::fs::metadata(output).is_err() {
        let points_to = std::fs::read_link(output)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "?".into());
        bail!(
            "{}: is a symbolic link to {points_to}, which does not exist; selfbill does not \
             write through links: remove the link, or give another output name",
            output.display()
        );
    }
    Ok(())
}

/// Finishes what interrupted runs left in `dir`: a journal of a dead run is
/// completed (its staged parts moved into place, its removals done), and a
/// dead run's temporary files are removed. Files of a live run are left
/// alone; files whose run cannot be told (another platform, an older
/// selfbill) are only reported.
fn recover(dir: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return notes;
    };
    let mut journals = Vec::new();
    let mut temps = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
            continue;
        };
        let pid = rest
            .split_once('-')
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let path = entry.path();
        if name.ends_with(JOURNAL_SUFFIX) {
            journals.push((path, pid));
        } else if name.ends_with(TEMP_SUFFIX) {
            temps.push((path, pid));
        }
    }
    journals.sort();
    for (journal, pid) in journals {
        if pid.and_then(process_alive) != Some(false) {
            continue;
        }
        match complete_journal(dir, &journal) {
            Ok((put, removed)) => {
                let _ = std::fs::remove_file(&journal);
                notes.push(format!(
                    "an earlier run was interrupted while putting its files in place; its set is \
                     now complete ({put} part{} moved into place, {removed} earlier part{} removed)",
                    if put == 1 { "" } else { "s" },
                    if removed == 1 { "" } else { "s" }
                ));
            }
            Err(e) => notes.push(format!(
                "an earlier run was interrupted, and its journal {} cannot be completed ({e:#}); \
                 check the files in {}",
                journal.display(),
                dir.display()
            )),
        }
    }
    sync_dir(dir);
    let (mut removed, mut unknown) = (Vec::new(), Vec::new());
    for (temp, pid) in temps {
        if !exists(&temp) {
            continue; // moved into place by a journal above
        }
        match pid.and_then(process_alive) {
            Some(false) if std::fs::remove_file(&temp).is_ok() => removed.push(temp),
            Some(true) => {}
            _ => unknown.push(temp),
        }
    }
    if !removed.is_empty() {
        notes.push(format!(
            "removed {} temporary file{} left by an interrupted run ({})",
            removed.len(),
            if removed.len() == 1 { "" } else { "s" },
            file_names(&removed)
        ));
    }
    if !unknown.is_empty() {
        notes.push(format!(
            "{} temporary file{} left by another selfbill run ({}); remove them when no \
             selfbill is running",
            unknown.len(),
            if unknown.len() == 1 { "" } else { "s" },
            file_names(&unknown)
        ));
    }
    notes
}

fn file_names(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths
        .iter()
        .take(3)
        .map(|p| p.display().to_string())
        .collect();
    let more = paths.len().saturating_sub(3);
    if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    }
}

/// Replays a journal: staged files still present are moved into place,
/// listed removals done. Returns the counts.
fn complete_journal(dir: &Path, journal: &Path) -> Result<(usize, usize)> {
    let text = std::fs::read_to_string(journal)?;
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&text).context("the journal is not complete")?;
    let (mut put, mut removed) = (0, 0);
    let inside = |name: &str| -> Result<PathBuf> {
        // Only plain names: a journal never reaches outside its folder.
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            bail!("a journal names {name:?}");
        }
        Ok(dir.join(name))
    };
    for entry in &entries {
        if let (Some(from), Some(to)) = (entry["put"].as_str(), entry["as"].as_str()) {
            let (from, to) = (inside(from)?, inside(to)?);
            if from.exists() {
                std::fs::rename(&from, &to)?;
                put += 1;
            }
        } else if let Some(gone) = entry["remove"].as_str() {
            match std::fs::remove_file(inside(gone)?) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok((put, removed))
}

/// Whether a process runs: `None` where it cannot be told.
fn process_alive(pid: u32) -> Option<bool> {
    if pid == std::process::id() {
        return Some(true);
    }
    if cfg!(target_os = "linux") {
        Some(Path::new("/proc").join(pid.to_string()).exists())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn stage(set: &mut OutputSet, name: &str, bytes: &[u8]) {
        let target = set.dir.join(name);
        set.add_bytes(target, bytes).unwrap();
    }

    #[test]
    fn a_commit_leaves_exactly_the_new_set() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("e.xlsx");
        for name in [
            "e-001.xlsx",
            "e-002.xlsx",
            "e-003.xlsx",
            "e-2024.xlsx",
            "keep.xlsx",
        ] {
            std::fs::write(dir.path().join(name), b"old").unwrap();
        }
        let err = OutputSet::open(&out, SetKind::Workbooks, &[], false).unwrap_err();
        assert!(
            err.to_string()
                .contains("e-001.xlsx: already exists (with 2 more parts"),
            "{err}"
        );
        let mut set = OutputSet::open(&out, SetKind::Workbooks, &[], true).unwrap();
        stage(&mut set, "e-001.xlsx", b"new");
        stage(&mut set, "e-002.xlsx", b"new");
        let done = set.commit().unwrap();
        assert_eq!(done.written.len(), 2);
        assert_eq!(done.removed, [dir.path().join("e-003.xlsx")]);
        assert_eq!(
            names(dir.path()),
            ["e-001.xlsx", "e-002.xlsx", "e-2024.xlsx", "keep.xlsx"]
        );
        assert_eq!(
            std::fs::read(dir.path().join("e-002.xlsx")).unwrap(),
            b"new"
        );
    }

    #[test]
    fn a_set_that_is_not_committed_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e.xlsx"), b"old").unwrap();
        let mut set =
            OutputSet::open(&dir.path().join("e.xlsx"), SetKind::Workbooks, &[], true).unwrap();
        stage(&mut set, "e-001.xlsx", b"new");
        drop(set);
        assert_eq!(names(dir.path()), ["e.xlsx"]);
        // A CSV folder the set created goes too.
        let csv = dir.path().join("csv");
        let mut set = OutputSet::open(&csv, SetKind::CsvFolder, &[], false).unwrap();
        stage(&mut set, "Documents.csv", b"new");
        drop(set);
        assert!(!csv.exists());
    }

    /// A finished temporary file of `set`, handed to its flushers.
    fn finish_early(set: &OutputSet, bytes: &[u8]) -> tempfile::TempPath {
        let mut temp = set.temp_file().unwrap();
        temp.write_all(bytes).unwrap();
        let temp = temp.into_temp_path();
        set.flush_early(&temp);
        temp
    }

    /// Waits until the flushers have done every part handed to them.
    fn wait_for_flushers(set: &mut OutputSet) {
        if let Some(flusher) = set.flusher.take().flatten() {
            flusher.stop(false);
        }
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn parts_flushed_early_are_committed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut set =
            OutputSet::open(&dir.path().join("e.xlsx"), SetKind::Workbooks, &[], false).unwrap();
        let bytes = |n: usize| format!("workbook {n} ").repeat(5_000 + n).into_bytes();
        // Some parts are flushed before the commit, some are still waiting
        // or being flushed when it starts.
        let temps: Vec<_> = (1..=40).map(|n| finish_early(&set, &bytes(n))).collect();
        for (n, temp) in (1..).zip(temps) {
            let target = super::super::split_name(&set.output, n);
            set.add(temp, target).unwrap();
        }
        let done = set.commit().unwrap();
        assert_eq!(done.written.len(), 40);
        let expected: Vec<String> = (1..=40).map(|n| format!("e-{n:03}.xlsx")).collect();
        assert_eq!(names(dir.path()), expected, "no temporary file is left");
        for (n, path) in (1..).zip(&done.written) {
            assert_eq!(std::fs::read(path).unwrap(), bytes(n));
            #[cfg(unix)]
            assert_eq!(mode(path), 0o644);
        }
    }

    #[test]
    fn a_set_dropped_while_its_parts_are_flushed_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e-001.xlsx"), b"old").unwrap();
        let out = dir.path().join("e.xlsx");
        let mut set = OutputSet::open(&out, SetKind::Workbooks, &[], true).unwrap();
        let temps: Vec<_> = (0..40).map(|_| finish_early(&set, &[7; 100_000])).collect();
        for (n, temp) in (1..).zip(temps) {
            set.add(temp, super::super::split_name(&out, n)).unwrap();
        }
        // A part finished but not yet staged when the run stops.
        let loose = finish_early(&set, b"loose");
        drop(set);
        drop(loose);
        assert_eq!(names(dir.path()), ["e-001.xlsx"]);
        assert_eq!(
            std::fs::read(dir.path().join("e-001.xlsx")).unwrap(),
            b"old"
        );
    }

    #[test]
    fn a_part_the_flushers_could_not_flush_is_flushed_by_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("e.xlsx");
        let aside = dir.path().join("aside");
        let mut set = OutputSet::open(&out, SetKind::Workbooks, &[], false).unwrap();
        let mut temp = set.temp_file().unwrap();
        temp.write_all(b"new").unwrap();
        let temp = temp.into_temp_path();
        // Away while the flushers try it: their flush fails.
        std::fs::rename(&temp, &aside).unwrap();
        set.flush_early(&temp);
        wait_for_flushers(&mut set);
        std::fs::rename(&aside, &temp).unwrap();
        set.add(temp, out.clone()).unwrap();
        set.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        // The commit gave it its mode (the flushers did not).
        #[cfg(unix)]
        assert_eq!(mode(&out), 0o644);
    }

    #[test]
    fn a_part_lost_before_the_commit_stops_it_before_anything_moves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e-001.xlsx"), b"old").unwrap();
        let out = dir.path().join("e.xlsx");
        let mut set = OutputSet::open(&out, SetKind::Workbooks, &[], true).unwrap();
        let first = finish_early(&set, b"new");
        let mut second = set.temp_file().unwrap();
        second.write_all(b"new").unwrap();
        let second = second.into_temp_path();
        std::fs::remove_file(&second).unwrap();
        set.flush_early(&second);
        wait_for_flushers(&mut set);
        set.add(first, super::super::split_name(&out, 1)).unwrap();
        set.add(second, super::super::split_name(&out, 2)).unwrap();
        // Gone: the commit names it, and moves nothing.
        let error = set.commit().unwrap_err().to_string();
        assert!(error.contains("e-002.xlsx: cannot"), "{error}");
        assert_eq!(names(dir.path()), ["e-001.xlsx"]);
        assert_eq!(
            std::fs::read(dir.path().join("e-001.xlsx")).unwrap(),
            b"old"
        );
    }

    /// A part changed after it was flushed (here its mode; a write would
    /// do the same) is flushed again by the commit, and given its mode.
    #[cfg(unix)]
    #[test]
    fn a_part_changed_after_its_flush_is_flushed_again() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("e.xlsx");
        let mut set = OutputSet::open(&out, SetKind::Workbooks, &[], false).unwrap();
        let temp = finish_early(&set, b"new");
        wait_for_flushers(&mut set);
        assert_eq!(mode(&temp), 0o644, "the flushers gave it its mode");
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600)).unwrap();
        set.add(temp, out.clone()).unwrap();
        set.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert_eq!(mode(&out), 0o644);
    }

    /// An earlier part of its own mode: the part replacing it gets that
    /// mode, and is never readable by others before the commit.
    #[cfg(unix)]
    #[test]
    fn a_private_earlier_part_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("e.xlsx");
        std::fs::write(&out, b"old").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut set = OutputSet::open(&out, SetKind::Workbooks, &[], true).unwrap();
        let temp = finish_early(&set, b"new");
        wait_for_flushers(&mut set);
        assert_eq!(mode(&temp), 0o600);
        set.add(temp, out.clone()).unwrap();
        set.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert_eq!(mode(&out), 0o600);
    }

    #[test]
    fn a_killed_commit_is_completed_and_dead_temporaries_removed_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        // A dead process: pid 0 never names a user process, but it is not
        // this one, and /proc/0 does not exist.
        let dead = |name: &str| dir.path().join(format!(".selfbill-0-{name}"));
        std::fs::write(dead("a.tmp"), b"new part").unwrap();
        std::fs::write(dead("stray.tmp"), b"half").unwrap();
        std::fs::write(dir.path().join("e-002.xlsx"), b"old").unwrap();
        std::fs::write(
            dead("j.journal"),
            r#"[{"put":".selfbill-0-a.tmp","as":"e-001.xlsx"},{"remove":"e-002.xlsx"}]"#,
        )
        .unwrap();
        let set = OutputSet::open(
            &dir.path().join("other.xlsx"),
            SetKind::Workbooks,
            &[],
            false,
        )
        .unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(set.recovered().len(), 2, "{:?}", set.recovered());
            assert_eq!(names(dir.path()), ["e-001.xlsx"]);
            assert_eq!(
                std::fs::read(dir.path().join("e-001.xlsx")).unwrap(),
                b"new part"
            );
        }
    }

    #[test]
    fn refuses_inputs_dangling_links_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("suppliers.csv");
        std::fs::write(&input, b"x").unwrap();
        let err = OutputSet::open(
            &input,
            SetKind::Workbooks,
            std::slice::from_ref(&input),
            true,
        )
        .unwrap_err();
        assert!(err.to_string().contains("is an input"), "{err}");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.xlsx");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            let err = OutputSet::open(
                &link,
                SetKind::Workbooks,
                std::slice::from_ref(&input),
                true,
            )
            .unwrap_err();
            assert!(err.to_string().contains("is an input"), "{err}");
            let dangling = dir.path().join("dangling.xlsx");
            std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
            let err = OutputSet::open(&dangling, SetKind::Workbooks, &[], true).unwrap_err();
            assert!(err.to_string().contains("which does not exist"), "{err}");
        }
        let err = OutputSet::open(dir.path(), SetKind::Workbooks, &[], true).unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
        let err = OutputSet::open(&input, SetKind::CsvFolder, &[], true).unwrap_err();
        assert!(err.to_string().contains("is a file"), "{err}");
    }
}
