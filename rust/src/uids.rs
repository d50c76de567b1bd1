//! Job uids that no two workers on a host share, across every engine of every process.
//!
//! Why: when the engine runs as root, each worker's programs run as an unprivileged uid of their own. If two
//! engines gave their first workers the same uid, programs of one could signal or trace (refused by seccomp, but
//! still) the other's, read what it left in shared places, and share one `RLIMIT_NPROC`, so a thread bomb in one
//! engine would starve the other. A uid is leased by taking an exclusive `flock` on a file named after it in a
//! root-only directory; the kernel drops the lock however the holder ends, so a killed engine frees its uids.
//!
//! See: <https://man7.org/linux/man-pages/man2/flock.2.html>

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Far above any account a system creates, and below the overflow uid range.
pub const FIRST_UID: u32 = 1_990_000_000;
/// How many uids the leases may use.
pub const UID_COUNT: u32 = 1_000_000;

/// A uid held for as long as this value lives.
#[derive(Debug)]
pub struct UidLease {
    pub uid: u32,
    _lock: File,
}

/// The directory of lock files: root-owned, not writable by anyone else, not a symlink.
fn lock_directory() -> std::io::Result<PathBuf> {
    for base in ["/run", "/var/lock", "/tmp"] {
        if !Path::new(base).is_dir() {
            continue;
        }
        let directory = Path::new(base).join("acecoder-uids");
        match std::fs::DirBuilder::new().mode(0o700).create(&directory) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => continue,
        }
        let metadata = std::fs::symlink_metadata(&directory)?;
        if metadata.is_dir() && metadata.uid() == 0 && metadata.mode() & 0o022 == 0 {
            return Ok(directory);
        }
    }
    Err(std::io::Error::other("no root-owned directory for uid leases (tried /run, /var/lock, /tmp)"))
}

fn try_lock(file: &File) -> bool {
    // SAFETY: flock on a descriptor that `file` owns; closing the file releases the lock.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Leases `count` uids no other holder (in this or any other process) holds.
pub fn lease(count: usize) -> std::io::Result<Vec<UidLease>> {
    let directory = lock_directory()?;
    let mut leases = Vec::with_capacity(count);
    let mut candidate = FIRST_UID;
    while leases.len() < count {
        if candidate >= FIRST_UID + UID_COUNT {
            return Err(std::io::Error::other("every job uid is leased"));
        }
        let path = directory.join(format!("{candidate}.lock"));
        let file = File::options()
            .create(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        if try_lock(&file) {
            leases.push(UidLease { uid: candidate, _lock: file });
        }
        candidate += 1;
    }
    Ok(leases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_exclusive_until_dropped() {
        // SAFETY: geteuid has no memory effects.
        if unsafe { libc::geteuid() } != 0 {
            return; // only root engines lease uids
        }
        let first = lease(3).unwrap();
        let second = lease(2).unwrap();
        let held: Vec<u32> = first.iter().map(|lease| lease.uid).collect();
        assert!(second.iter().all(|lease| !held.contains(&lease.uid)), "{held:?} vs {second:?}");
        let freed = first[0].uid;
        drop(first);
        let third = lease(1).unwrap();
        assert!(third[0].uid <= freed, "a dropped lease is reused first");
    }
}
