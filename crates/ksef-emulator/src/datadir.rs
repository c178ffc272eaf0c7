//! The data directory, checked before anything in it is opened: private to the emulator's user
//! (0700; the database holding the JWT key, the service key pairs and the CA keys 0600) and
//! writable (a read-only directory fails the start instead of answering 500 to every write).
//!
//! * A missing directory is created 0700 (missing parents too).
//! * An existing directory open to group or others is made 0700 when it belongs to the
//!   emulator's user (logged), and refused otherwise ([`StartError::DataDirNotPrivate`]).
//! * The database file is created 0600 before SQLite opens it, so SQLite gives its `-wal`,
//!   `-shm` and `-journal` files the same mode; existing ones with a looser mode are tightened.
//! * Writability is probed by creating, fsyncing and removing a file
//!   ([`StartError::ReadOnly`]); the database itself is probed with a write after opening it
//!   ([`crate::store::check_writable`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::StartError;

/// Prepares `dir` for [`crate::state::AppState::open`] with its database at `database`.
pub fn prepare(dir: &Path, database: &Path) -> Result<(), StartError> {
    create_private_dir(dir).map_err(|source| StartError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    let meta = std::fs::metadata(dir).map_err(|source| StartError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(StartError::DataDir {
            path: dir.display().to_string(),
            source: std::io::Error::other("not a directory"),
        });
    }
    let probe = probe(dir).map_err(|e| read_only(dir, e))?;
    make_private(dir, &meta, &probe)?;
    protect_database(database).map_err(|e| read_only(dir, e))?;
    Ok(())
}

/// Checks that files can be created, written durably and removed in `dir`.
pub fn check_writable(dir: &Path) -> Result<(), StartError> {
    probe(dir).map(|_| ()).map_err(|e| read_only(dir, e))
}

fn read_only(dir: &Path, e: std::io::Error) -> StartError {
    StartError::ReadOnly {
        path: dir.display().to_string(),
        reason: e.to_string(),
    }
}

/// Creates, fsyncs and removes a uniquely named file in `dir`; returns its metadata (whose
/// owner is the user the emulator's files belong to).
fn probe(dir: &Path) -> std::io::Result<std::fs::Metadata> {
    let nonce: [u8; 8] = rand::random();
    let path = dir.join(format!(".write-probe-{}", hex::encode(nonce)));
    let result = (|| {
        let mut file = private_options().create_new(true).open(&path)?;
        file.write_all(b"probe")?;
        file.sync_all()?;
        file.metadata()
    })();
    let removed = std::fs::remove_file(&path);
    let meta = result?;
    removed?;
    File::open(dir)?.sync_all()?;
    Ok(meta)
}

/// Options of a new file readable and writable only by the emulator's user (0600 on unix).
pub fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates (or truncates) a file under the data directory; a new one is 0600 on unix.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    private_options().create(true).truncate(true).open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
fn make_private(
    dir: &Path,
    meta: &std::fs::Metadata,
    probe: &std::fs::Metadata,
) -> Result<(), StartError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = meta.mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let refused = || StartError::DataDirNotPrivate {
        path: dir.display().to_string(),
        mode,
    };
    // Only our own directory is changed: another user's would be locked away from its owner.
    if meta.uid() != probe.uid() {
        return Err(refused());
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|_| refused())?;
    // Some filesystems ignore modes: check that it took.
    match std::fs::metadata(dir) {
        Ok(m) if m.mode() & 0o077 == 0 => {
            tracing::warn!(
                path = %dir.display(),
                "the data directory was accessible to other users (mode {mode:04o}); changed to 0700"
            );
            Ok(())
        }
        _ => Err(refused()),
    }
}

#[cfg(not(unix))]
fn make_private(
    _dir: &Path,
    _meta: &std::fs::Metadata,
    _probe: &std::fs::Metadata,
) -> Result<(), StartError> {
    Ok(())
}

/// Creates the database file 0600 if it is missing and tightens it and SQLite's side files.
fn protect_database(database: &Path) -> std::io::Result<()> {
    // An empty file is an empty SQLite database; SQLite creates its side files with the mode
    // of the database file.
    private_options().create(true).open(database)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut path = database.as_os_str().to_owned();
        path.push(suffix);
        tighten(Path::new(&path))?;
    }
    Ok(())
}

#[cfg(unix)]
fn tighten(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        tracing::warn!(
            path = %path.display(),
            "a database file was accessible to other users (mode {mode:04o}); changed to 0600"
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Name of the lock file in the data directory. A running emulator holds an exclusive lock on
/// it (`flock` on Unix, `LockFileEx` on Windows) from [`crate::spawn`] until it stops serving;
/// the operating system releases it when the process ends, however it ends.
pub const LOCK_FILE_NAME: &str = "ksef-emulator.lock";

/// The exclusive lock of a running emulator on its data directory; released on drop.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why the data directory could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another emulator (this process or another one) holds the lock.
    InUse { lock_file: std::path::PathBuf },
    /// The lock file cannot be created, opened or locked.
    Io {
        lock_file: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Takes the exclusive lock of `dir` (already prepared by [`prepare`]) without waiting.
pub fn lock(dir: &Path) -> Result<DataDirLock, LockError> {
    let lock_file = dir.join(LOCK_FILE_NAME);
    let io = |source| LockError::Io {
        lock_file: lock_file.clone(),
        source,
    };
    // Never truncated: the file only carries the lock.
    let file = private_options()
        .read(true)
        .create(true)
        .truncate(false)
        .open(&lock_file)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::InUse { lock_file }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}
