//! EVE JSON lines appended to a file, rotated by size: when the file would pass `max_bytes`
//! it is renamed `PATH.1` (older ones shift up to `PATH.(keep-1)`, the oldest is deleted) and
//! a new file is started. Write errors are counted and the file is reopened on the next line,
//! so a full or vanished disk never stops detection.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::output::store::shift_rotated;

pub struct EveFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<File>,
    size: u64,
    pub errors: u64,
    pub rotations: u64,
    logged: bool,
}

impl EveFile {
    pub fn new(path: &str, max_bytes: u64, keep: u32) -> EveFile {
        EveFile {
            path: PathBuf::from(path),
            max_bytes,
            keep: keep.max(1),
            file: None,
            size: 0,
            errors: 0,
            rotations: 0,
            logged: false,
        }
    }

    /// Append one line (which ends in a newline).
    pub fn write_line(&mut self, line: &str) {
        if let Err(e) = self.try_write(line.as_bytes()) {
            self.errors += 1;
            self.file = None;
            if !self.logged {
                log::error!(
                    "eve.path `{}`: {e}; alerts still go to the other outputs",
                    self.path.display()
                );
                self.logged = true;
            }
        } else {
            self.logged = false;
        }
    }

    fn try_write(&mut self, b: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = f.metadata()?.len();
            self.file = Some(f);
        }
        if self.size > 0 && self.size + b.len() as u64 > self.max_bytes {
            self.rotate()?;
            self.file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(b)?;
            self.size += b.len() as u64;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        shift_rotated(&self.path, self.keep)?;
        self.rotations += 1;
        self.size = 0;
        Ok(())
    }
}
