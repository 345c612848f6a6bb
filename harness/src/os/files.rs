//! Reading input files safely: only regular files (a FIFO named `x.yaml`
//! would block for ever, a symlink to `/dev/zero` never end), and at most a
//! bounded number of bytes.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest input file read: scripts, ledgers, packetdrill files.
pub const MAX_INPUT: u64 = 64 << 20;

/// Why an input file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("is not a regular file but {0}: scripts and ledgers are regular files")]
    NotRegular(&'static str),
    #[error("is larger than {limit_mib} MiB ({size} bytes)")]
    TooLarge { limit_mib: u64, size: u64 },
}

/// What kind of file a metadata describes, in words.
pub fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// Reads a regular file of at most [`MAX_INPUT`] bytes. It is opened
/// without blocking and checked once open, so a file swapped for a FIFO
/// in between cannot hang the read either.
pub fn read_input(path: &Path) -> Result<Vec<u8>, InputError> {
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(InputError::NotRegular(kind_of(meta.file_type())));
    }
    if meta.len() > MAX_INPUT {
        return Err(InputError::TooLarge { limit_mib: MAX_INPUT >> 20, size: meta.len() });
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_INPUT + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(InputError::TooLarge { limit_mib: MAX_INPUT >> 20, size: buf.len() as u64 });
    }
    Ok(buf)
}

/// [`read_input`] as UTF-8 text; invalid UTF-8 is an error at the byte
/// where it starts (returned with the valid text before it).
pub fn read_text(path: &Path) -> Result<String, (InputError, Option<(String, usize)>)> {
    let bytes = read_input(path).map_err(|e| (e, None))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        let valid = String::from_utf8_lossy(&bytes[..at]).into_owned();
        let err = std::io::Error::new(std::io::ErrorKind::InvalidData, format!("invalid UTF-8 at byte {at}"));
        (InputError::Io(err), Some((valid, at)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = std::env::temp_dir().join(format!("harness-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("x.yaml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(read_input(&fifo), Err(InputError::NotRegular("a FIFO"))));
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
        assert!(matches!(read_input(&dir.join("zero.yaml")), Err(InputError::NotRegular("a character device"))));
        assert!(matches!(read_input(Path::new("/dev/null")), Err(InputError::NotRegular(_))));
        std::fs::write(dir.join("bad.yaml"), b"steps:\n  - x\xff\n").unwrap();
        let (e, valid) = read_text(&dir.join("bad.yaml")).unwrap_err();
        assert!(e.to_string().contains("invalid UTF-8 at byte 12"), "{e}");
        assert_eq!(valid, Some(("steps:\n  - x".to_string(), 12)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
