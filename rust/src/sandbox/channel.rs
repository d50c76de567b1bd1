//! The record channel from a job's child to its zygote, held where Python code cannot reach it.
//!
//! The harness reports each step (program loaded, test finished) on a pipe. A hostile program runs in the same
//! process and could write to that pipe too, so every record starts with a random nonce that only this module
//! and the zygote know: the zygote generates it *after* fork and sends it down a separate pipe that
//! [`receive_nonce`] reads straight into Rust memory, so the nonce never exists as a Python object in the child
//! (and so cannot be found by walking frames or the garbage collector). Records without it are ignored.

use std::io;
use std::sync::Mutex;

/// Bytes of randomness in a nonce (sent as 32 hex digits).
pub const NONCE_HEX_LENGTH: usize = 32;

struct Channel {
    fd: libc::c_int,
    nonce: [u8; NONCE_HEX_LENGTH],
}

static CHANNEL: Mutex<Option<Channel>> = Mutex::new(None);

fn read_full(fd: libc::c_int, buffer: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        let rest = &mut buffer[filled..];
        // SAFETY: read writes at most `rest.len()` bytes into `rest`, which we own.
        let count = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match count {
            0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "nonce pipe closed early")),
            n if n < 0 => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            n => filled += n.cast_unsigned(),
        }
    }
    Ok(())
}

/// Reads the nonce from `nonce_fd` (then closes it) and remembers `record_fd` for [`write_record`].
pub fn receive_nonce(nonce_fd: libc::c_int, record_fd: libc::c_int) -> Result<(), String> {
    let mut nonce = [0u8; NONCE_HEX_LENGTH];
    let outcome = read_full(nonce_fd, &mut nonce);
    // SAFETY: closing a descriptor the harness handed over for this purpose only.
    unsafe { libc::close(nonce_fd) };
    outcome.map_err(|error| format!("cannot read the record nonce: {error}"))?;
    if !nonce.iter().all(u8::is_ascii_hexdigit) {
        return Err("malformed record nonce".to_owned());
    }
    *CHANNEL.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Channel { fd: record_fd, nonce });
    Ok(())
}

/// Writes `nonce + " " + payload + "\n"` in one `write` (atomic on a pipe below PIPE_BUF; longer records are
/// still written whole by the loop).
pub fn write_record(payload: &[u8]) -> io::Result<()> {
    let guard = CHANNEL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let channel = guard.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no record channel"))?;
    let mut line = Vec::with_capacity(NONCE_HEX_LENGTH + payload.len() + 2);
    line.extend_from_slice(&channel.nonce);
    line.push(b' ');
    line.extend_from_slice(payload);
    line.push(b'\n');
    let mut written = 0;
    while written < line.len() {
        let rest = &line[written..];
        // SAFETY: write reads at most `rest.len()` bytes from `rest`, which we own.
        let count = unsafe { libc::write(channel.fd, rest.as_ptr().cast(), rest.len()) };
        if count < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        } else {
            written += count.cast_unsigned();
        }
    }
    Ok(())
}
