//! The data directory (issue 11, items 9 and 10): private modes (0700 directory, 0600 files)
//! and a clear start-up error for a directory that cannot be written.

#![cfg(unix)]

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ksef_emulator::EmulatorConfig;
use ksef_emulator::SpawnError;
use ksef_emulator::StartError;

fn config(dir: &Path) -> EmulatorConfig {
    let mut config = EmulatorConfig::new(dir);
    config.auth_processing_delay = Duration::from_millis(20);
    config
}

async fn spawn(dir: &Path) -> Result<ksef_emulator::RunningEmulator, SpawnError> {
    ksef_emulator::spawn(config(dir), SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts and stops an emulator on `dir` (creating its database) and closes the database.
async fn init(dir: &Path) {
    let emu = spawn(dir).await.unwrap();
    let state = emu.state.clone();
    emu.shutdown().await;
    state.pool().close().await;
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file and directory under `dir` (not following links).
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                todo.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

/// The uid files created by this process get (0 = root).
fn own_uid(dir: &Path) -> u32 {
    let probe = dir.join("uid-probe");
    std::fs::write(&probe, b"x").unwrap();
    let uid = std::fs::metadata(&probe).unwrap().uid();
    std::fs::remove_file(&probe).unwrap();
    uid
}

#[tokio::test]
async fn new_data_directory_and_database_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nested").join("data");
    let emu = spawn(&data).await.unwrap();
    // Something is written while it runs (the WAL and shared-memory files exist now).
    let a = ksef_testkit::http_client()
        .post(format!("{}/auth/challenge", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), reqwest::StatusCode::OK);

    assert_eq!(mode(&data), 0o700, "data directory");
    let files = tree(&data);
    let db = data.join("ksef-emulator.sqlite3");
    assert!(files.contains(&db), "{files:?}");
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "{files:?}"
    );
    for f in &files {
        let m = mode(f);
        assert_eq!(m & 0o077, 0, "{} has mode {m:04o}", f.display());
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn loose_own_data_directory_and_database_are_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data).await;
    // As a 0644 database in a 0755 directory left by an older version would be.
    let db = data.join("ksef-emulator.sqlite3");
    set_mode(&data, 0o755);
    set_mode(&db, 0o644);
    let wal = data.join("ksef-emulator.sqlite3-wal");
    std::fs::write(&wal, b"").unwrap();
    set_mode(&wal, 0o666);

    let emu = spawn(&data).await.unwrap();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&wal) & 0o077, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn loose_data_directory_of_another_user_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = if own_uid(tmp.path()) == 0 {
        // Root: a world-writable directory given to another user (nobody).
        let d = tmp.path().join("foreign");
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
        set_mode(&d, 0o777);
        d
    } else {
        // Anyone else: /tmp itself (root's, world-writable; never changed by this test since
        // only its owner could change it).
        let d = PathBuf::from("/tmp");
        assert_ne!(std::fs::metadata(&d).unwrap().uid(), own_uid(tmp.path()));
        assert_ne!(mode(&d) & 0o077, 0);
        d
    };
    let before = mode(&data);
    let err = match spawn(&data).await {
        Ok(emu) => {
            emu.shutdown().await;
            panic!("started in {} (mode {before:04o})", data.display());
        }
        Err(e) => e,
    };
    assert!(
        matches!(err, SpawnError::Start(StartError::DataDirNotPrivate { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&data.display().to_string()), "{text}");
    assert_eq!(
        mode(&data),
        before,
        "someone else's directory must not be changed"
    );
}

/// A directory made read-only for this process, whoever runs the test.
struct ReadOnly {
    how: &'static str,
    undo: Option<Box<dyn FnOnce()>>,
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if let Some(undo) = self.undo.take() {
            undo();
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// Prepares `data` (a fresh emulator data directory inside `root`) and makes it read-only:
/// `chmod` for an ordinary user; for root (whom modes do not stop) a tmpfs mounted at `data`
/// and remounted read-only, or else the immutable attribute (`chattr +i`).
async fn read_only_data_dir(root: &Path, data: &Path) -> Option<ReadOnly> {
    std::fs::create_dir_all(data).unwrap();
    if own_uid(root) != 0 {
        init(data).await;
        set_mode(data, 0o500);
        let d = data.to_path_buf();
        return Some(ReadOnly {
            how: "chmod 0500",
            undo: Some(Box::new(move || set_mode(&d, 0o700))),
        });
    }
    let target = data.to_string_lossy().to_string();
    if run(
        "mount",
        &["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", &target],
    ) {
        init(data).await;
        let unmount = {
            let t = target.clone();
            move || {
                run("umount", &[&t]);
            }
        };
        if run("mount", &["-o", "remount,ro", &target]) {
            return Some(ReadOnly {
                how: "read-only tmpfs",
                undo: Some(Box::new(unmount)),
            });
        }
        unmount();
    }
    init(data).await;
    if run("chattr", &["+i", &target]) {
        // Writable for root unless even root is refused: check.
        if std::fs::write(data.join("x"), b"x").is_err() {
            return Some(ReadOnly {
                how: "chattr +i",
                undo: Some(Box::new(move || {
                    run("chattr", &["-i", &target]);
                })),
            });
        }
        run("chattr", &["-i", &target]);
    }
    None
}

#[tokio::test]
async fn read_only_data_directory_fails_the_start_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    match read_only_data_dir(tmp.path(), &data).await {
        Some(ro) => {
            eprintln!("read-only data directory by {}", ro.how);
            assert_start_refused_as_read_only(&data, "data directory", ro.how).await;
        }
        None => {
            // Root without mount or chattr: nothing makes a directory read-only for this
            // process, so the probe is checked on a path root cannot write either.
            eprintln!(
                "no way to make a read-only directory for root here: checking the write probe \
                 on a path below a regular file"
            );
        }
    }
    // The probe itself, whoever runs it: a "directory" that is a regular file.
    let file = tmp.path().join("regular-file");
    std::fs::write(&file, b"x").unwrap();
    let err = ksef_emulator::testing::check_data_dir_writable(&file).unwrap_err();
    assert!(matches!(err, StartError::ReadOnly { .. }), "{err:?}");
    assert!(err.to_string().contains(&file.display().to_string()));
}

/// Makes the database file (not the directory) read-only for this process: `chmod 0400` for an
/// ordinary user, the immutable attribute for root. `None` when neither is possible.
fn read_only_database(root: &Path, db: &Path) -> Option<ReadOnly> {
    let target = db.to_string_lossy().to_string();
    if own_uid(root) != 0 {
        set_mode(db, 0o400);
        let d = db.to_path_buf();
        return Some(ReadOnly {
            how: "chmod 0400",
            undo: Some(Box::new(move || set_mode(&d, 0o600))),
        });
    }
    if run("chattr", &["+i", &target]) {
        return Some(ReadOnly {
            how: "chattr +i",
            undo: Some(Box::new(move || {
                run("chattr", &["-i", &target]);
            })),
        });
    }
    None
}

/// A database SQLite can open only read-only (its directory writable): before the fix the
/// emulator started and answered 500 to every write.
#[tokio::test]
async fn read_only_database_file_fails_the_start_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data).await;
    let db = data.join("ksef-emulator.sqlite3");
    let Some(ro) = read_only_database(tmp.path(), &db) else {
        panic!(
            "cannot make a file read-only for root here (no chattr): run this test as an \
             ordinary user or where chattr works"
        );
    };
    assert_start_refused_as_read_only(&data, "database", ro.how).await;
}

/// The start on `data` must fail with [`StartError::ReadOnly`] naming the directory. Should it
/// start instead, the panic shows the old behaviour: a write answered 500.
async fn assert_start_refused_as_read_only(data: &Path, what: &str, how: &str) {
    let err = match spawn(data).await {
        Ok(emu) => {
            let a = ksef_testkit::http_client()
                .post(format!("{}/auth/challenge", emu.base_url()))
                .send()
                .await
                .unwrap();
            let status = a.status();
            emu.shutdown().await;
            panic!("started on a read-only {what} ({how}); POST /auth/challenge → {status}");
        }
        Err(e) => e,
    };
    assert!(
        matches!(err, SpawnError::Start(StartError::ReadOnly { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&data.display().to_string()) && text.contains("not writable"),
        "{text}"
    );
}

#[tokio::test]
async fn one_emulator_per_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = spawn(&data).await.unwrap();
    let lock = data.join(ksef_emulator::DATA_DIR_LOCK_FILE);
    assert!(lock.is_file(), "{:?}", tree(&data));
    assert_eq!(mode(&lock), 0o600);

    // A second emulator on the same directory is refused with a typed error naming it, and
    // the first one keeps serving.
    let err = match spawn(&data).await {
        Ok(_) => panic!("a second emulator started on the same data directory"),
        Err(e) => e,
    };
    let SpawnError::DataDirInUse { path, lock_file } = &err else {
        panic!("expected DataDirInUse, got {err:?}");
    };
    assert_eq!(path, &data.display().to_string());
    assert_eq!(lock_file, &lock.display().to_string());
    let message = err.to_string();
    assert!(message.contains(&data.display().to_string()), "{message}");
    assert!(
        message.contains("in use by another running KSeF emulator"),
        "{message}"
    );
    let a = ksef_testkit::http_client()
        .post(format!("{}/auth/challenge", first.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), reqwest::StatusCode::OK);

    // Another directory is independent.
    let other = spawn(&tmp.path().join("other")).await.unwrap();

    // Once the first has stopped, the directory is free again.
    first.shutdown().await;
    let again = spawn(&data).await.unwrap();
    again.shutdown().await;
    other.shutdown().await;

    // A refused port leaves the lock free too (the start failed before serving).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = match ksef_emulator::spawn(config(&data), taken.local_addr().unwrap()).await {
        Ok(_) => panic!("bound a taken port"),
        Err(e) => e,
    };
    assert!(matches!(err, SpawnError::Bind { .. }), "{err:?}");
    spawn(&data).await.unwrap().shutdown().await;
}
