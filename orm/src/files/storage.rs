//! Where files live: the [`Storage`] trait and [`FileSystemStorage`].

use std::collections::hash_map::RandomState;
use std::fs;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::FileError;
use super::names::{validate_relative_name, with_suffix};

/// What the methods of [`Storage`] return: a boxed future, so the trait is object-safe
/// (`&dyn Storage`, `Arc<dyn Storage>`).
pub type StorageFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, FileError>> + Send + 'a>>;

/// A place to keep files under relative names (`uploads/2024/05/photo.jpg`): Django's
/// `Storage`. Names are `/`-separated and must pass
/// [`validate_relative_name`]; a storage refuses any other name, so a name read back from the
/// database cannot reach outside it.
///
/// The trait is object-safe: code can take `&dyn Storage` and tests can swap in their own.
///
/// ```
/// use hyperdjango_orm::files::{FileSystemStorage, Storage};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), hyperdjango_orm::files::FileError> {
/// # let dir = std::env::temp_dir().join(format!("hd-doc-storage-{}", std::process::id()));
/// let storage: Box<dyn Storage> = Box::new(FileSystemStorage::new(&dir, "/media/"));
/// let first = storage.save("notes/a.txt", b"one").await?;
/// let second = storage.save("notes/a.txt", b"two").await?; // never overwrites
/// assert_eq!(first, "notes/a.txt");
/// assert_ne!(second, first);
/// assert_eq!(storage.read(&first).await?, b"one");
/// assert_eq!(storage.size(&second).await?, 3);
/// assert_eq!(storage.url(&first)?, "/media/notes/a.txt");
/// assert!(storage.delete(&first).await?);
/// assert!(!storage.exists(&first).await?);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// ```
pub trait Storage: Send + Sync {
    /// Writes `content` under `name`, or under an available variant of it when `name` is
    /// taken (a suffix before the extension: `photo_k3j9x2a.jpg`), and returns the name used.
    /// Never overwrites a file; the file appears whole or not at all.
    fn save<'a>(&'a self, name: &'a str, content: &'a [u8]) -> StorageFuture<'a, String>;

    /// The whole content of a file. A missing file is [`FileError::NotFound`].
    fn read<'a>(&'a self, name: &'a str) -> StorageFuture<'a, Vec<u8>>;

    /// A reader over a file's content, for large files. The default reads the whole file
    /// with [`Storage::read`]. The reader of [`FileSystemStorage`] is a `std::fs::File`,
    /// whose reads block: read it in `tokio::task::spawn_blocking`.
    fn open<'a>(&'a self, name: &'a str) -> StorageFuture<'a, Box<dyn Read + Send>> {
        Box::pin(async move {
            let bytes = self.read(name).await?;
            Ok(Box::new(io::Cursor::new(bytes)) as Box<dyn Read + Send>)
        })
    }

    /// Deletes a file; returns whether there was one (a missing file is not an error, as in
    /// Django).
    fn delete<'a>(&'a self, name: &'a str) -> StorageFuture<'a, bool>;

    /// Whether a file exists under `name`.
    fn exists<'a>(&'a self, name: &'a str) -> StorageFuture<'a, bool>;

    /// The size of a file in bytes.
    fn size<'a>(&'a self, name: &'a str) -> StorageFuture<'a, u64>;

    /// The URL a client fetches the file from.
    fn url(&self, name: &str) -> Result<String, FileError>;

    /// The file's path on the local file system. The default is
    /// [`FileError::Unsupported`], for storages that have none (as Django's).
    fn path(&self, name: &str) -> Result<PathBuf, FileError> {
        Err(FileError::Unsupported {
            what: format!("this storage has no local path for {name:?}"),
        })
    }
}

impl<S: Storage + ?Sized> Storage for Arc<S> {
    fn save<'a>(&'a self, name: &'a str, content: &'a [u8]) -> StorageFuture<'a, String> {
        (**self).save(name, content)
    }
    fn read<'a>(&'a self, name: &'a str) -> StorageFuture<'a, Vec<u8>> {
        (**self).read(name)
    }
    fn open<'a>(&'a self, name: &'a str) -> StorageFuture<'a, Box<dyn Read + Send>> {
        (**self).open(name)
    }
    fn delete<'a>(&'a self, name: &'a str) -> StorageFuture<'a, bool> {
        (**self).delete(name)
    }
    fn exists<'a>(&'a self, name: &'a str) -> StorageFuture<'a, bool> {
        (**self).exists(name)
    }
    fn size<'a>(&'a self, name: &'a str) -> StorageFuture<'a, u64> {
        (**self).size(name)
    }
    fn url(&self, name: &str) -> Result<String, FileError> {
        (**self).url(name)
    }
    fn path(&self, name: &str) -> Result<PathBuf, FileError> {
        (**self).path(name)
    }
}

/// How many names [`FileSystemStorage::save`] tries before giving up.
const MAX_ATTEMPTS: usize = 100;

/// Files in a directory (Django's `MEDIA_ROOT`) served under a base URL (`MEDIA_URL`).
///
/// - Directories are created as needed.
/// - A save writes a temporary file next to the target (its name starts with a dot, which no
///   valid name can), then hard-links it to the target name, which fails instead of
///   replacing an existing file: the file appears whole, and nothing is ever overwritten,
///   even by a concurrent save of the same name. (Where hard links are not supported, the
///   target is created with `create_new` and written in place.)
/// - File-system calls run on tokio's blocking pool inside a tokio runtime, inline outside.
///
/// ```
/// use hyperdjango_orm::files::{FileSystemStorage, Storage};
/// let s = FileSystemStorage::new("/srv/media", "https://cdn.example.org/media");
/// assert_eq!(s.url("a b/ü.png").unwrap(), "https://cdn.example.org/media/a%20b/%C3%BC.png");
/// assert_eq!(s.path("a/b.png").unwrap(), std::path::Path::new("/srv/media/a/b.png"));
/// assert!(s.path("../etc/passwd").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct FileSystemStorage {
    root: PathBuf,
    base_url: String,
}

impl FileSystemStorage {
    /// A storage rooted at `root` (created on the first save), served under `base_url` (a
    /// `/` is added if it has none).
    ///
    /// ```
    /// let s = hyperdjango_orm::files::FileSystemStorage::new("media", "/media");
    /// assert_eq!(s.base_url(), "/media/");
    /// ```
    pub fn new(root: impl Into<PathBuf>, base_url: impl Into<String>) -> Self {
        let mut base_url = base_url.into();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        FileSystemStorage {
            root: root.into(),
            base_url,
        }
    }

    /// The root directory.
    ///
    /// ```
    /// let s = hyperdjango_orm::files::FileSystemStorage::new("media", "/m/");
    /// assert_eq!(s.root(), std::path::Path::new("media"));
    /// ```
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The base URL, ending with `/`.
    ///
    /// ```
    /// assert_eq!(hyperdjango_orm::files::FileSystemStorage::new("m", "").base_url(), "/");
    /// ```
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The path of a valid relative name under the root.
    fn resolve(&self, name: &str) -> Result<PathBuf, FileError> {
        validate_relative_name(name)?;
        let mut p = self.root.clone();
        p.extend(name.split('/'));
        Ok(p)
    }
}

/// Runs blocking file-system work on tokio's blocking pool when inside a runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await.unwrap_or_else(|e| {
            Err(FileError::Io {
                op: "run the file-system task",
                name: String::new(),
                source: io::Error::other(e.to_string()),
            })
        }),
        Err(_) => f(),
    }
}

fn io_err<'a>(op: &'static str, name: &'a str) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| {
        if source.kind() == io::ErrorKind::NotFound {
            FileError::NotFound {
                name: name.to_string(),
            }
        } else {
            FileError::Io {
                op,
                name: name.to_string(),
                source,
            }
        }
    }
}

/// Random lower-case letters and digits (for suffixes and temporary names; not secret).
pub(crate) fn random_token(n: usize) -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let mut x = h.finish();
        for _ in 0..8 {
            if out.len() == n {
                break;
            }
            out.push(char::from(ALPHABET[(x % 36) as usize]));
            x /= 36;
        }
    }
    out
}

/// Removes the temporary file when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The blocking part of [`FileSystemStorage::save`].
fn save_blocking(
    storage: &FileSystemStorage,
    name: &str,
    content: &[u8],
) -> Result<String, FileError> {
    let target = storage.resolve(name)?;
    let dir = target.parent().unwrap_or(&storage.root).to_path_buf();
    fs::create_dir_all(&dir).map_err(|source| FileError::Io {
        op: "create the directory for",
        name: name.to_string(),
        source,
    })?;
    let write_err = |source| FileError::Io {
        op: "write",
        name: name.to_string(),
        source,
    };
    // The whole content in a temporary file first.
    let temp = TempFile(dir.join(format!(".upload-{}.tmp", random_token(12))));
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp.0)
            .map_err(write_err)?;
        f.write_all(content).map_err(write_err)?;
        f.sync_all().map_err(write_err)?;
    }
    let mut candidate = name.to_string();
    for _ in 0..MAX_ATTEMPTS {
        let path = storage.resolve(&candidate)?;
        match fs::hard_link(&temp.0, &path) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(_) => {
                // No hard links here: create the target exclusively and write it in place.
                match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(mut f) => {
                        let written = f.write_all(content).and_then(|()| f.sync_all());
                        return match written {
                            Ok(()) => Ok(candidate),
                            Err(source) => {
                                let _ = fs::remove_file(&path);
                                Err(FileError::Io {
                                    op: "write",
                                    name: candidate,
                                    source,
                                })
                            }
                        };
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(source) => {
                        return Err(FileError::Io {
                            op: "create",
                            name: candidate,
                            source,
                        });
                    }
                }
            }
        }
        candidate = with_suffix(name, &format!("_{}", random_token(7)));
    }
    Err(FileError::NoAvailableName {
        name: name.to_string(),
    })
}

impl Storage for FileSystemStorage {
    fn save<'a>(&'a self, name: &'a str, content: &'a [u8]) -> StorageFuture<'a, String> {
        Box::pin(async move {
            validate_relative_name(name)?;
            let (this, name, content) = (self.clone(), name.to_string(), content.to_vec());
            blocking(move || save_blocking(&this, &name, &content)).await
        })
    }

    fn read<'a>(&'a self, name: &'a str) -> StorageFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let path = self.resolve(name)?;
            let name = name.to_string();
            blocking(move || fs::read(&path).map_err(io_err("read", &name))).await
        })
    }

    fn open<'a>(&'a self, name: &'a str) -> StorageFuture<'a, Box<dyn Read + Send>> {
        Box::pin(async move {
            let path = self.resolve(name)?;
            let name = name.to_string();
            blocking(move || {
                let f = fs::File::open(&path).map_err(io_err("open", &name))?;
                Ok(Box::new(f) as Box<dyn Read + Send>)
            })
            .await
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> StorageFuture<'a, bool> {
        Box::pin(async move {
            let path = self.resolve(name)?;
            let name = name.to_string();
            blocking(move || match fs::remove_file(&path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(source) => Err(FileError::Io {
                    op: "delete",
                    name,
                    source,
                }),
            })
            .await
        })
    }

    fn exists<'a>(&'a self, name: &'a str) -> StorageFuture<'a, bool> {
        Box::pin(async move {
            let path = self.resolve(name)?;
            let name = name.to_string();
            blocking(move || {
                path.try_exists().map_err(|source| FileError::Io {
                    op: "check",
                    name,
                    source,
                })
            })
            .await
        })
    }

    fn size<'a>(&'a self, name: &'a str) -> StorageFuture<'a, u64> {
        Box::pin(async move {
            let path = self.resolve(name)?;
            let name = name.to_string();
            blocking(move || {
                let m = fs::metadata(&path).map_err(io_err("read the size of", &name))?;
                if m.is_file() {
                    Ok(m.len())
                } else {
                    Err(FileError::NotFound { name })
                }
            })
            .await
        })
    }

    fn url(&self, name: &str) -> Result<String, FileError> {
        validate_relative_name(name)?;
        let mut url = self.base_url.clone();
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
                url.push(char::from(b));
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
        Ok(url)
    }

    fn path(&self, name: &str) -> Result<PathBuf, FileError> {
        self.resolve(name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory, removed when dropped.
    pub(crate) struct TempDir(pub(crate) PathBuf);
    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "hd-files-{tag}-{}-{}",
                std::process::id(),
                random_token(8)
            ));
            fs::create_dir_all(&p).expect("temp dir");
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Runs a future on a current-thread runtime.
    pub(crate) fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn save_never_overwrites() {
        let dir = TempDir::new("save");
        let s = FileSystemStorage::new(&dir.0, "/m/");
        run(async {
            let a = s.save("d/e/x.txt", b"first").await.unwrap();
            assert_eq!(a, "d/e/x.txt");
            let mut names = vec![a.clone()];
            for i in 0..20 {
                let n = s
                    .save("d/e/x.txt", format!("{i}").as_bytes())
                    .await
                    .unwrap();
                assert!(n.starts_with("d/e/x_") && n.ends_with(".txt"), "{n}");
                assert!(!names.contains(&n));
                names.push(n);
            }
            assert_eq!(s.read(&a).await.unwrap(), b"first");
            assert_eq!(fs::read(dir.0.join("d/e/x.txt")).unwrap(), b"first");
            // No temporary file is left behind.
            let left: Vec<_> = fs::read_dir(dir.0.join("d/e"))
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
                .collect();
            assert!(left.is_empty());
            assert_eq!(names.len(), 21);
        });
    }

    #[test]
    fn concurrent_saves_of_one_name_keep_every_file() {
        let dir = TempDir::new("race");
        let s = Arc::new(FileSystemStorage::new(&dir.0, "/m/"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime");
        let names = rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let s = s.clone();
                    tokio::spawn(async move {
                        let n = s.save("same.bin", &[i as u8; 3]).await.unwrap();
                        (n, i as u8)
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let mut seen = std::collections::HashSet::new();
        for (n, i) in names {
            assert!(seen.insert(n.clone()), "{n} handed out twice");
            assert_eq!(fs::read(dir.0.join(&n)).unwrap(), vec![i; 3]);
        }
    }

    #[test]
    fn operations() {
        let dir = TempDir::new("ops");
        let s = FileSystemStorage::new(&dir.0, "https://x.org/media");
        run(async {
            assert!(matches!(
                s.read("nope.txt").await,
                Err(FileError::NotFound { .. })
            ));
            assert!(matches!(
                s.size("nope.txt").await,
                Err(FileError::NotFound { .. })
            ));
            assert!(!s.exists("nope.txt").await.unwrap());
            assert!(!s.delete("nope.txt").await.unwrap());
            let n = s.save("a.txt", b"").await.unwrap();
            assert_eq!(s.size(&n).await.unwrap(), 0);
            let mut r = s.open(&n).await.unwrap();
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).unwrap();
            assert!(buf.is_empty());
            assert!(s.delete(&n).await.unwrap());
            // Bad names are refused before the disk is touched.
            for bad in ["../x", "/etc/passwd", "a/../../b", ".hidden", "a\\b", ""] {
                let e = s.save(bad, b"x").await.unwrap_err();
                assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
                assert!(s.read(bad).await.is_err());
                assert!(s.delete(bad).await.is_err());
                assert!(s.url(bad).is_err());
            }
            assert_eq!(
                s.url("a/b c.png").unwrap(),
                "https://x.org/media/a/b%20c.png"
            );
        });
        // Outside a runtime the work runs inline.
        let n = futures_lite_block_on(s.save("inline.txt", b"ok")).unwrap();
        assert_eq!(fs::read(dir.0.join(n)).unwrap(), b"ok");
    }

    /// Polls a future to completion without a runtime (the storage must not need one).
    fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut cx = Context::from_waker(Waker::noop());
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
