//! The record channel from a job's child to its zygote, and the nonce that authenticates it.
//!
//! The harness reports each step (program loaded, test finished) by appending a line to a memory file that the
//! zygote reads once the child has exited (or when it checks on a slow child): no wakeup of the zygote per
//! record, and nothing lost if the child dies mid-job. A hostile program runs in the same process and could
//! write to that file too, so every record starts with a random nonce. The nonce lives only in this module's
//! memory: the zygote makes a fresh one before each fork ([`renew_nonce`]), the child inherits it with the
//! fork and stamps records with it ([`write_record`]), and the zygote keeps only the lines that carry it
//! ([`verified`]). It is never a Python object, so it cannot be found by walking frames or the garbage collector.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

/// Hex digits of a nonce (128 random bits).
pub const NONCE_HEX_LENGTH: usize = 32;

static NONCE: Mutex<[u8; NONCE_HEX_LENGTH]> = Mutex::new([b'0'; NONCE_HEX_LENGTH]);
static RECORD_FD: AtomicI32 = AtomicI32::new(-1);

fn nonce() -> [u8; NONCE_HEX_LENGTH] {
    *NONCE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Calls `step(done)` until it has transferred `length` bytes in all; `step` returns a syscall's count (or -1
/// with errno set). Interrupted calls are retried.
fn transfer_all(length: usize, mut step: impl FnMut(usize) -> isize) -> io::Result<()> {
    let mut done = 0;
    while done < length {
        let count = step(done);
        if count < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        } else {
            done += count.cast_unsigned();
        }
    }
    Ok(())
}

/// Draws a fresh nonce from the kernel's random source (in the zygote, before each fork).
pub fn renew_nonce() -> io::Result<()> {
    let mut random = [0u8; NONCE_HEX_LENGTH / 2];
    let length = random.len();
    transfer_all(length, |done| {
        let rest = &mut random[done..];
        // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`, which we own.
        unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) }
    })?;
    let mut hex = [0u8; NONCE_HEX_LENGTH];
    for (index, byte) in random.iter().enumerate() {
        hex[2 * index] = b"0123456789abcdef"[usize::from(byte >> 4)];
        hex[2 * index + 1] = b"0123456789abcdef"[usize::from(byte & 0x0f)];
    }
    *NONCE.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = hex;
    Ok(())
}

/// Remembers where the child's records go (called when the child enters the sandbox).
pub fn open(record_fd: i32) {
    RECORD_FD.store(record_fd, Ordering::Relaxed);
}

/// Appends `nonce + " " + payload + "\n"` with one `write`.
pub fn write_record(payload: &[u8]) -> io::Result<()> {
    let fd = RECORD_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return Err(io::Error::new(io::ErrorKind::NotConnected, "no record channel"));
    }
    let mut line = Vec::with_capacity(NONCE_HEX_LENGTH + payload.len() + 2);
    line.extend_from_slice(&nonce());
    line.push(b' ');
    line.extend_from_slice(payload);
    line.push(b'\n');
    transfer_all(line.len(), |done| {
        let rest = &line[done..];
        // SAFETY: write reads at most `rest.len()` bytes from `rest`, which we own.
        unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) }
    })
}

/// The payloads of the lines of `records` that carry the current nonce, newline-separated; every other line
/// (forged, garbled, cut off) is dropped.
#[must_use]
pub fn verified(records: &[u8]) -> Vec<u8> {
    let nonce = nonce();
    let mut kept = Vec::with_capacity(records.len());
    for line in records.split(|&byte| byte == b'\n') {
        if line.len() > NONCE_HEX_LENGTH && line[..NONCE_HEX_LENGTH] == nonce && line[NONCE_HEX_LENGTH] == b' ' {
            kept.extend_from_slice(&line[NONCE_HEX_LENGTH + 1..]);
            kept.push(b'\n');
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lines_with_the_current_nonce_survive() {
        renew_nonce().unwrap();
        let current = nonce();
        let mut records = Vec::new();
        records.extend_from_slice(&current);
        records.extend_from_slice(b" {\"a\":1}\n");
        records.extend_from_slice(b"0123456789abcdef0123456789abcdef {\"forged\":1}\n");
        records.extend_from_slice(b"garbage\n");
        records.extend_from_slice(&current);
        records.extend_from_slice(b" {\"b\":2}\n");
        records.extend_from_slice(&current[..10]); // cut off
        assert_eq!(verified(&records), b"{\"a\":1}\n{\"b\":2}\n");
        renew_nonce().unwrap();
        assert_ne!(nonce(), current);
        assert!(verified(&records).is_empty());
    }
}
