//! A map of what a run remembers per order that keeps at most a fixed
//! number of entries in memory and the rest on disk, so that a run's memory
//! does not grow with its month: a SQLite database in a temporary file
//! beside the output (named as the output set's temporary files, so a
//! killed run's is removed by the next run there), removed when the map is
//! dropped. An entry answers the same whichever side it is on.
//!
//! Entries move to disk all at once, when memory is full: the lookups of a
//! month's orders then go to memory first, and to disk only past the cap,
//! and only for a key within the range of keys of a move (order numbers
//! grow with time, so a new order's is past all those on disk).

use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::path::{Path, PathBuf};

/// What a map keeps as a key or a value: written as a few bytes, read back.
pub(crate) trait Stored: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn take(bytes: &[u8]) -> Option<Self>;
}

/// At most `cap` entries in memory; the rest, with a folder to keep them
/// in, on disk.
#[derive(Debug)]
pub(crate) struct BoundedMap<K, V> {
    memory: HashMap<K, V>,
    cap: usize,
    /// Where the disk's file is made; none: everything stays in memory.
    dir: Option<PathBuf>,
    disk: Option<Disk>,
    on_disk: usize,
    /// The first and last key of each move to disk: a key in none of
    /// these ranges is not on disk.
    moved: Vec<(K, K)>,
}

impl<K, V> Default for BoundedMap<K, V> {
    fn default() -> Self {
        BoundedMap {
            memory: HashMap::new(),
            cap: usize::MAX,
            dir: None,
            disk: None,
            on_disk: 0,
            moved: Vec::new(),
        }
    }
}

impl<K: Stored + Hash + Eq + Ord + Clone, V: Stored + Clone> BoundedMap<K, V> {
    /// A map that keeps every entry in memory.
    pub(crate) fn in_memory() -> Self {
        BoundedMap::default()
    }

    /// A map that keeps at most `cap` entries in memory, the rest in a file
    /// in `dir` (made once needed).
    pub(crate) fn spilling(cap: usize, dir: &Path) -> Self {
        BoundedMap {
            cap: cap.max(1),
            dir: Some(dir.to_path_buf()),
            ..BoundedMap::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.memory.len() + self.on_disk
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries moved to disk so far.
    #[cfg(test)]
    pub(crate) fn spilled(&self) -> usize {
        self.on_disk
    }

    /// The value of `key`, if the map has it.
    pub(crate) fn get(&self, key: &K) -> io::Result<Option<V>> {
        if let Some(value) = self.memory.get(key) {
            return Ok(Some(value.clone()));
        }
        match self.disk_for(key) {
            Some(disk) => disk.get(key),
            None => Ok(None),
        }
    }

    /// The disk, when `key` may be on it.
    fn disk_for(&self, key: &K) -> Option<&Disk> {
        let moved = |(first, last): &(K, K)| first <= key && key <= last;
        self.disk.as_ref().filter(|_| self.moved.iter().any(moved))
    }

    pub(crate) fn contains(&self, key: &K) -> io::Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Adds an entry for a key the map does not have (a caller looks a key
    /// up before adding it); a key on disk added again is an error, never
    /// a second entry.
    pub(crate) fn insert_new(&mut self, key: K, value: V) -> io::Result<()> {
        if self.memory.len() >= self.cap && !self.memory.contains_key(&key) {
            self.spill()?;
        }
        self.memory.insert(key, value);
        Ok(())
    }

    /// Changes the value of `key` with `change`; false if the map has no
    /// such key.
    pub(crate) fn update(&mut self, key: &K, change: impl FnOnce(&mut V)) -> io::Result<bool> {
        if let Some(value) = self.memory.get_mut(key) {
            change(value);
            return Ok(true);
        }
        let Some(disk) = self.disk_for(key) else {
            return Ok(false);
        };
        let Some(mut value) = disk.get(key)? else {
            return Ok(false);
        };
        change(&mut value);
        disk.set(key, &value)?;
        Ok(true)
    }

    /// Moves every entry in memory to disk, in key order.
    fn spill(&mut self) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if self.disk.is_none() {
            self.disk = Some(Disk::open(dir)?);
        }
        let Some(disk) = &mut self.disk else {
            return Ok(());
        };
        let mut entries: Vec<(&K, &V)> = self.memory.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        disk.add(&entries)?;
        self.on_disk += entries.len();
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            self.moved.push((first.0.clone(), last.0.clone()));
        }
        drop(entries);
        // The memory itself goes, not only its entries.
        self.memory = HashMap::new();
        Ok(())
    }
}

/// The entries on disk.
#[derive(Debug)]
struct Disk {
    db: Connection,
    /// Removed once the database is closed (fields drop in order).
    _file: tempfile::TempPath,
}

const GET: &str = "SELECT value FROM map WHERE key = ?1";
const SET: &str = "UPDATE map SET value = ?2 WHERE key = ?1";
const ADD: &str = "INSERT INTO map (key, value) VALUES (?1, ?2)";

impl Disk {
    fn open(dir: &Path) -> io::Result<Disk> {
        let file = crate::write::set::temp_in(dir)
            .map_err(|e| io::Error::other(format!("{e:#}")))?
            .into_temp_path();
        let db = Connection::open(&file).map_err(sqlite)?;
        // A scratch database: no journal, no syncing, no other reader; a
        // small page cache (the operating system caches the file).
        db.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA cache_size = -2048;
             CREATE TABLE map (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;",
        )
        .map_err(sqlite)?;
        Ok(Disk { db, _file: file })
    }

    fn get<K: Stored, V: Stored>(&self, key: &K) -> io::Result<Option<V>> {
        let key = bytes(key);
        let value: Option<Vec<u8>> = self
            .db
            .prepare_cached(GET)
            .and_then(|mut get| get.query_row([&key], |row| row.get(0)).optional())
            .map_err(sqlite)?;
        value
            .map(|value| V::take(&value).ok_or_else(|| io::Error::other("a damaged entry")))
            .transpose()
    }

    fn set<K: Stored, V: Stored>(&self, key: &K, value: &V) -> io::Result<()> {
        self.db
            .prepare_cached(SET)
            .and_then(|mut set| set.execute((bytes(key), bytes(value))))
            .map_err(sqlite)?;
        Ok(())
    }

    fn add<K: Stored, V: Stored>(&mut self, entries: &[(&K, &V)]) -> io::Result<()> {
        let batch = self.db.transaction().map_err(sqlite)?;
        {
            let mut add = batch.prepare_cached(ADD).map_err(sqlite)?;
            let (mut key, mut value) = (Vec::new(), Vec::new());
            for (k, v) in entries {
                key.clear();
                value.clear();
                k.put(&mut key);
                v.put(&mut value);
                add.execute((&key, &value)).map_err(sqlite)?;
            }
        }
        batch.commit().map_err(sqlite)
    }
}

fn bytes(stored: &impl Stored) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    stored.put(&mut out);
    out
}

fn sqlite(error: rusqlite::Error) -> io::Error {
    io::Error::other(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Stored for u16 {
        fn put(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_be_bytes());
        }
        fn take(bytes: &[u8]) -> Option<Self> {
            Some(u16::from_be_bytes(bytes.try_into().ok()?))
        }
    }

    impl Stored for (u32, bool) {
        fn put(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_le_bytes());
            out.push(u8::from(self.1));
        }
        fn take(bytes: &[u8]) -> Option<Self> {
            let (number, flag) = bytes.split_first_chunk::<4>()?;
            Some((u32::from_le_bytes(*number), *flag.first()? == 1))
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Looks the key up, and adds it when absent (as the run does).
        See(u16, u32),
        Update(u16),
        Contains(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few keys, so that most operations find one already there.
        let key = 0u16..300;
        prop_oneof![
            (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::See(k, v)),
            key.clone().prop_map(Op::Update),
            key.prop_map(Op::Contains),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the cap, the map answers as a HashMap does, keys in any
        /// order or growing (as order numbers do) with some looked up again.
        #[test]
        fn answers_as_a_hash_map_across_the_cap(
            ops in proptest::collection::vec(op(), 1..400),
            cap in 1usize..40,
            growing in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut bounded: BoundedMap<u16, (u32, bool)> = BoundedMap::spilling(cap, dir.path());
            let mut model: HashMap<u16, (u32, bool)> = HashMap::new();
            for (i, op) in ops.into_iter().enumerate() {
                let key = |key: u16| if growing { i as u16 / 2 + key % 8 } else { key };
                let op = match op {
                    Op::See(k, v) => Op::See(key(k), v),
                    Op::Update(k) => Op::Update(key(k)),
                    Op::Contains(k) => Op::Contains(key(k)),
                };
                match op {
                    Op::See(key, value) => {
                        let found = bounded.get(&key).unwrap();
                        prop_assert_eq!(found, model.get(&key).cloned());
                        if found.is_none() {
                            bounded.insert_new(key, (value, false)).unwrap();
                            model.insert(key, (value, false));
                        }
                    }
                    Op::Update(key) => {
                        let change = |v: &mut (u32, bool)| {
                            v.0 = v.0.wrapping_mul(3).wrapping_add(1);
                            v.1 = !v.1;
                        };
                        let updated = bounded.update(&key, change).unwrap();
                        let expected = model.get_mut(&key).map(change).is_some();
                        prop_assert_eq!(updated, expected);
                    }
                    Op::Contains(key) => {
                        prop_assert_eq!(bounded.contains(&key).unwrap(), model.contains_key(&key));
                    }
                }
                prop_assert_eq!(bounded.len(), model.len());
                prop_assert!(bounded.memory.len() <= cap);
            }
            for (key, value) in &model {
                prop_assert_eq!(bounded.get(key).unwrap(), Some(*value));
            }
        }
    }

    #[test]
    fn spills_past_the_cap_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = || std::fs::read_dir(dir.path()).unwrap().count();
        let mut map: BoundedMap<u16, (u32, bool)> = BoundedMap::spilling(3, dir.path());
        for key in 0..3 {
            map.insert_new(key, (u32::from(key), false)).unwrap();
        }
        assert_eq!(
            (map.spilled(), files()),
            (0, 0),
            "nothing on disk up to the cap"
        );
        map.insert_new(3, (3, true)).unwrap();
        assert_eq!((map.spilled(), map.memory.len(), files()), (3, 1, 1));
        assert_eq!(map.get(&1).unwrap(), Some((1, false)));
        assert!(map.update(&1, |v| v.1 = true).unwrap());
        assert_eq!(map.get(&1).unwrap(), Some((1, true)));
        assert_eq!(map.get(&9).unwrap(), None);
        // A key on disk added again is refused when it would join it.
        for key in [4, 5, 1, 8, 9] {
            map.insert_new(key, (0, false)).unwrap();
        }
        assert!(map.insert_new(10, (0, false)).is_err());
        drop(map);
        assert_eq!(files(), 0, "the file goes with the map");
    }

    #[test]
    fn a_map_without_a_folder_keeps_everything_in_memory() {
        let mut map: BoundedMap<u16, (u32, bool)> = BoundedMap::in_memory();
        for key in 0..1000 {
            map.insert_new(key, (0, false)).unwrap();
        }
        assert_eq!((map.len(), map.spilled()), (1000, 0));
    }
}
