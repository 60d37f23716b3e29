//! File and image fields: Django's `FileField` and `ImageField`, a [`Storage`] trait with
//! [`FileSystemStorage`], and [`save_uploaded_file`] / [`save_uploaded_image`], which turn a
//! client's upload into a safe, never-overwriting file.
//!
//! The database holds only the file's name, relative to the storage's root (a `TEXT`
//! column); the bytes live in the storage.
//!
//! ```
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::files::{self, FileSystemStorage, UploadTo};
//!
//! model! {
//!     #[table = "products"]
//!     pub struct Product {
//!         pub id: Auto<i32> = Field::new().primary_key(),
//!         pub name: String,
//!         pub manual: FileField = Field::new().blank(true).max_length(255),
//!         pub photo: Option<ImageField>,
//!         pub photo_width: Option<i32>,  // the 2005 reference's width_field
//!         pub photo_height: Option<i32>, // and height_field
//!     }
//! }
//!
//! /// `upload_to`, declared next to the model.
//! const MANUALS: UploadTo = UploadTo::pattern("manuals/%Y/%m/");
//! const PHOTOS: UploadTo = UploadTo::pattern("products/photos/");
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), files::FileError> {
//! # let root = std::env::temp_dir().join(format!("hd-doc-files-{}", std::process::id()));
//! let storage = FileSystemStorage::new(&root, "/media/"); // MEDIA_ROOT, MEDIA_URL
//!
//! // Fill photo_width/photo_height before every save of a Product (a pre_save receiver).
//! files::dimension_fields::<Product, _, _, _>(
//!     std::sync::Arc::new(storage.clone()),
//!     |p| (&mut p.photo, &mut p.photo_width, &mut p.photo_height),
//! ).forget();
//!
//! let mut p = Product { name: "Widget".into(), ..Default::default() };
//! p.manual = files::save_uploaded_file(&storage, &MANUALS, "../../Widget Manual.pdf", b"%PDF-1.7").await?;
//! assert!(p.manual.name().starts_with("manuals/") && p.manual.name().ends_with("/Widget_Manual.pdf"));
//! assert_eq!(p.manual.read(&storage).await?, b"%PDF-1.7");
//!
//! let gif = b"GIF89a\x02\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x02\x00\x01\x00\x00\x02\x02D\x01\x00;";
//! let photo = files::save_uploaded_image(&storage, &PHOTOS, "photo.gif", gif).await?;
//! assert_eq!((photo.width(), photo.height()), (Some(2), Some(1)));
//! assert_eq!(photo.url(&storage)?, "/media/products/photos/photo.gif");
//! p.photo = Some(photo);
//! // p.save().await? would now store the names and photo_width = 2, photo_height = 1.
//!
//! assert!(files::save_uploaded_image(&storage, &PHOTOS, "x.gif", b"not an image").await.is_err());
//! # std::fs::remove_dir_all(&root).ok();
//! # Ok(()) }
//! ```
//!
//! **`upload_to`** is an argument of the save functions, an [`UploadTo`]: a directory pattern
//! with strftime codes (UTC), or a function that chooses the name (a directory per user).
//!
//! **Safe names**: the client's name is reduced to one safe path component by
//! [`get_valid_name`] (directories, `..`, backslashes, control characters and leading dots
//! removed; a NUL byte refused), the extension is kept, and a name already taken gets a
//! random suffix (`photo_k3j9x2a.jpg`). Every refusal is a [`FileError`] naming the input.
//!
//! **Images** are checked by [`inspect`]: PNG, JPEG, GIF and WebP, recognised by their magic
//! bytes, with their headers parsed and their structure walked (a truncated or corrupt file
//! is refused) to get the width and height, without an image library.

mod image;
mod names;
mod storage;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use hyperdjango_pgwire::__private::BytesMut;
use hyperdjango_pgwire::types::{BoxError, FromSql, IsNull, ToSql, Type};

pub use image::{IMAGE_EXTENSIONS, ImageError, ImageFormat, ImageInfo, inspect, sniff};
pub use names::{
    MAX_FILE_NAME, UploadTo, UtcDateTime, get_valid_name, split_extension, strftime,
    validate_relative_name, with_suffix,
};
pub use storage::{FileSystemStorage, Storage, StorageFuture};

use crate::field::{FieldType, HasLength, NotNull};
use crate::model::Model;

/// What went wrong with a file: the error names the file, the name or the pattern at fault.
///
/// ```
/// let e = hyperdjango_orm::files::get_valid_name("a\0.jpg").unwrap_err();
/// assert_eq!(e.to_string(), r#"invalid file name "a\0.jpg": it contains a NUL byte"#);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// A file name or storage name that is not allowed.
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// An `upload_to` pattern with an unknown strftime code.
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// An upload to an image field whose content is not a valid image.
    NotAnImage {
        /// The uploaded file's name.
        name: String,
        /// What the image check found.
        source: ImageError,
    },
    /// An image uploaded with an extension that is not an image's (`photo.html`).
    ExtensionNotAllowed {
        /// The uploaded file's name.
        name: String,
        /// The extension, without the dot.
        extension: String,
    },
    /// No file with this name.
    NotFound {
        /// The name.
        name: String,
    },
    /// The field holds no file (an empty name).
    NoFile,
    /// Every variant of the name was taken.
    NoAvailableName {
        /// The name asked for.
        name: String,
    },
    /// The storage cannot do this (no local path).
    Unsupported {
        /// What was asked.
        what: String,
    },
    /// An I/O error.
    Io {
        /// What was being done ("write", "read", ...).
        op: &'static str,
        /// The file's name.
        name: String,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::InvalidName { name, reason } => {
                write!(f, "invalid file name {name:?}: {reason}")
            }
            FileError::InvalidPattern { pattern, reason } => {
                write!(f, "invalid upload_to pattern {pattern:?}: {reason}")
            }
            FileError::NotAnImage { name, source } => {
                write!(f, "the upload {name:?} is not a valid image: {source}")
            }
            FileError::ExtensionNotAllowed { name, extension } => write!(
                f,
                "the upload {name:?} has the extension {extension:?}, which is not allowed for \
                 an image (allowed: {})",
                IMAGE_EXTENSIONS.join(", ")
            ),
            FileError::NotFound { name } => write!(f, "no file {name:?} in the storage"),
            FileError::NoFile => f.write_str("the field has no file associated with it"),
            FileError::NoAvailableName { name } => write!(
                f,
                "no available name for {name:?}: every variant tried is taken"
            ),
            FileError::Unsupported { what } => write!(f, "not supported: {what}"),
            FileError::Io { op, name, source } => {
                write!(f, "could not {op} the file {name:?}: {source}")
            }
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::NotAnImage { source, .. } => Some(source),
            FileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<FileError> for crate::Error {
    /// A file error in ORM code (a `pre_save` receiver, a function returning
    /// [`crate::Result`]) becomes [`crate::Error::Usage`] with its message.
    fn from(e: FileError) -> Self {
        crate::Error::Usage(e.to_string())
    }
}

/// A file field's value: the file's name relative to its storage (`manuals/2024/guide.pdf`),
/// stored in a `TEXT` column. An empty name is "no file" (what a new instance holds; declare
/// the field `.blank(true)` to allow saving it so, or use `Option<FileField>` for NULL).
///
/// The file itself is reached through a [`Storage`]: [`url`](FileField::url),
/// [`path`](FileField::path), [`size`](FileField::size), [`read`](FileField::read),
/// [`open`](FileField::open), [`delete`](FileField::delete).
///
/// ```
/// use hyperdjango_orm::files::{FileField, FileSystemStorage};
/// use hyperdjango_orm::FieldType;
/// let f = FileField::new("docs/2024/guide.pdf");
/// assert_eq!(f.name(), "docs/2024/guide.pdf");
/// assert_eq!(f.file_name(), "guide.pdf");
/// let storage = FileSystemStorage::new("/srv/media", "/media/");
/// assert_eq!(f.url(&storage).unwrap(), "/media/docs/2024/guide.pdf");
/// assert_eq!(<FileField as FieldType>::db_type(), "TEXT");
/// assert!(FileField::default().url(&storage).is_err()); // no file
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileField {
    name: String,
}

impl FileField {
    /// A value naming the file `name` in its storage (nothing is checked or written; names
    /// are checked when the storage is used).
    ///
    /// ```
    /// assert!(!hyperdjango_orm::files::FileField::new("a.txt").is_empty());
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        FileField { name: name.into() }
    }

    /// The name relative to the storage's root (empty: no file).
    ///
    /// ```
    /// assert_eq!(hyperdjango_orm::files::FileField::new("a/b.txt").name(), "a/b.txt");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether there is no file (an empty name).
    ///
    /// ```
    /// assert!(hyperdjango_orm::files::FileField::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
    }

    /// The last component of the name.
    ///
    /// ```
    /// assert_eq!(hyperdjango_orm::files::FileField::new("a/b.txt").file_name(), "b.txt");
    /// ```
    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or_default()
    }

    fn checked(&self) -> Result<&str, FileError> {
        if self.name.is_empty() {
            Err(FileError::NoFile)
        } else {
            Ok(&self.name)
        }
    }

    /// The URL of the file in `storage` (Django's `get_<field>_url`).
    ///
    /// ```
    /// use hyperdjango_orm::files::{FileField, FileSystemStorage};
    /// let s = FileSystemStorage::new("/srv/m", "/m/");
    /// assert_eq!(FileField::new("x.png").url(&s).unwrap(), "/m/x.png");
    /// ```
    pub fn url<S: Storage + ?Sized>(&self, storage: &S) -> Result<String, FileError> {
        storage.url(self.checked()?)
    }

    /// The file's local path in `storage` (an error for storages without one, and for names
    /// that would leave the storage's root, such as `../x`).
    ///
    /// ```
    /// use hyperdjango_orm::files::{FileField, FileSystemStorage};
    /// let s = FileSystemStorage::new("/srv/m", "/m/");
    /// assert!(FileField::new("x.png").path(&s).is_ok());
    /// assert!(FileField::new("../../etc/passwd").path(&s).is_err());
    /// ```
    pub fn path<S: Storage + ?Sized>(&self, storage: &S) -> Result<PathBuf, FileError> {
        storage.path(self.checked()?)
    }

    /// The file's size in bytes.
    pub async fn size<S: Storage + ?Sized>(&self, storage: &S) -> Result<u64, FileError> {
        storage.size(self.checked()?).await
    }

    /// Whether the file exists in `storage`.
    pub async fn exists<S: Storage + ?Sized>(&self, storage: &S) -> Result<bool, FileError> {
        storage.exists(self.checked()?).await
    }

    /// The file's whole content.
    pub async fn read<S: Storage + ?Sized>(&self, storage: &S) -> Result<Vec<u8>, FileError> {
        storage.read(self.checked()?).await
    }

    /// A reader over the file's content (see [`Storage::open`]).
    pub async fn open<S: Storage + ?Sized>(
        &self,
        storage: &S,
    ) -> Result<Box<dyn io::Read + Send>, FileError> {
        storage.open(self.checked()?).await
    }

    /// Deletes the file from `storage` and clears the name (save the instance afterwards, as
    /// with Django's `FieldFile.delete(save=False)`). Returns whether a file was deleted.
    pub async fn delete<S: Storage + ?Sized>(&mut self, storage: &S) -> Result<bool, FileError> {
        let deleted = storage.delete(self.checked()?).await?;
        self.name.clear();
        Ok(deleted)
    }
}

impl fmt::Display for FileField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl From<&str> for FileField {
    fn from(name: &str) -> Self {
        FileField::new(name)
    }
}

impl From<String> for FileField {
    fn from(name: String) -> Self {
        FileField::new(name)
    }
}

/// An image field's value: a [`FileField`] (it dereferences to one: `url`, `path`, `read`,
/// ...) that also knows its width and height once they were read, from the upload
/// ([`save_uploaded_image`]) or from the file ([`ImageField::read_dimensions`]). The size is
/// not stored in its column: declare width and height fields and fill them with
/// [`dimension_fields`] or [`update_dimension_fields`].
///
/// Two values are equal when their names are.
///
/// ```
/// use hyperdjango_orm::files::ImageField;
/// let img = ImageField::new("photos/a.png");
/// assert_eq!(img.name(), "photos/a.png"); // through Deref<Target = FileField>
/// assert_eq!(img.width(), None);          // not read yet
/// ```
#[derive(Debug, Clone, Default)]
pub struct ImageField {
    file: FileField,
    dimensions: Option<(u32, u32)>,
}

impl PartialEq for ImageField {
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file
    }
}

impl Eq for ImageField {}

impl std::hash::Hash for ImageField {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.file.hash(state);
    }
}

impl std::ops::Deref for ImageField {
    type Target = FileField;
    fn deref(&self) -> &FileField {
        &self.file
    }
}

impl fmt::Display for ImageField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.file.fmt(f)
    }
}

impl From<&str> for ImageField {
    fn from(name: &str) -> Self {
        ImageField::new(name)
    }
}

impl From<String> for ImageField {
    fn from(name: String) -> Self {
        ImageField::new(name)
    }
}

impl ImageField {
    /// A value naming the image `name` in its storage, size unknown.
    ///
    /// ```
    /// assert_eq!(hyperdjango_orm::files::ImageField::new("a.gif").dimensions(), None);
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        ImageField {
            file: FileField::new(name),
            dimensions: None,
        }
    }

    /// The underlying file value.
    ///
    /// ```
    /// let f = hyperdjango_orm::files::ImageField::new("a.gif");
    /// assert_eq!(f.as_file().name(), "a.gif");
    /// ```
    pub fn as_file(&self) -> &FileField {
        &self.file
    }

    /// `(width, height)` when known.
    ///
    /// ```
    /// assert!(hyperdjango_orm::files::ImageField::new("a.gif").dimensions().is_none());
    /// ```
    pub fn dimensions(&self) -> Option<(u32, u32)> {
        self.dimensions
    }

    /// The width in pixels, when known.
    ///
    /// ```
    /// assert!(hyperdjango_orm::files::ImageField::new("a.gif").width().is_none());
    /// ```
    pub fn width(&self) -> Option<u32> {
        self.dimensions.map(|d| d.0)
    }

    /// The height in pixels, when known.
    ///
    /// ```
    /// assert!(hyperdjango_orm::files::ImageField::new("a.gif").height().is_none());
    /// ```
    pub fn height(&self) -> Option<u32> {
        self.dimensions.map(|d| d.1)
    }

    /// Reads the image from `storage`, checks it and remembers its size.
    pub async fn read_dimensions<S: Storage + ?Sized>(
        &mut self,
        storage: &S,
    ) -> Result<(u32, u32), FileError> {
        let bytes = self.file.read(storage).await?;
        let info = inspect(&bytes).map_err(|source| FileError::NotAnImage {
            name: self.file.name.clone(),
            source,
        })?;
        self.dimensions = Some((info.width, info.height));
        Ok((info.width, info.height))
    }

    /// Deletes the image from `storage` and clears the name and the size.
    pub async fn delete<S: Storage + ?Sized>(&mut self, storage: &S) -> Result<bool, FileError> {
        let deleted = self.file.delete(storage).await?;
        self.dimensions = None;
        Ok(deleted)
    }
}

/// The ORM side: both are text on the wire.
macro_rules! text_value {
    ($t:ty, [$($f:ident).+], $make:expr) => {
        impl ToSql for $t {
            fn sql_type(&self) -> Type {
                Type::TEXT
            }
            fn accepts(&self, ty: &Type) -> bool {
                ToSql::accepts(&self.$($f).+, ty)
            }
            fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
                ToSql::to_sql(&self.$($f).+, ty, out)
            }
            fn rust_type(&self) -> &'static str {
                stringify!($t)
            }
            fn declared_type() -> Type {
                Type::TEXT
            }
        }

        impl<'a> FromSql<'a> for $t {
            fn accepts(ty: &Type) -> bool {
                <String as FromSql>::accepts(ty)
            }
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
                <String as FromSql>::from_sql(ty, raw).map($make)
            }
        }

        impl FieldType for $t {
            type Base = $t;
            fn db_type() -> &'static str {
                "TEXT"
            }
            fn zero() -> Self {
                <$t>::default()
            }
            fn as_base(&self) -> Option<&Self> {
                Some(self)
            }
            fn from_base(b: Self) -> Self {
                b
            }
        }

        impl NotNull for $t {}

        impl HasLength for $t {
            /// The name's length in characters (for `max_length`).
            fn length(&self) -> usize {
                self.$($f).+.chars().count()
            }
        }
    };
}

text_value!(FileField, [name], FileField::new);
text_value!(ImageField, [file.name], ImageField::new);

/// Saves an upload: the client's `original_name` is made safe ([`get_valid_name`]), placed by
/// `upload_to` ([`UploadTo`]) and written to `storage` under a name no other file has (a
/// suffix is added when it is taken); returns the value to put in the model's field.
///
/// The spec's `save_uploaded_file(product, "photo", content, "product.jpg", storage)` is, in
/// Rust, an assignment: `product.manual = save_uploaded_file(...).await?`.
///
/// ```
/// use hyperdjango_orm::files::{save_uploaded_file, FileSystemStorage, UploadTo};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), hyperdjango_orm::files::FileError> {
/// # let root = std::env::temp_dir().join(format!("hd-doc-upload-{}", std::process::id()));
/// let storage = FileSystemStorage::new(&root, "/media/");
/// let to = UploadTo::pattern("uploads/");
/// let a = save_uploaded_file(&storage, &to, "../../etc/passwd", b"x").await?;
/// assert_eq!(a.name(), "uploads/passwd");
/// let b = save_uploaded_file(&storage, &to, "passwd", b"y").await?;
/// assert!(b.name().starts_with("uploads/passwd_")); // not overwritten
/// assert!(save_uploaded_file(&storage, &to, "..", b"z").await.is_err());
/// # std::fs::remove_dir_all(&root).ok();
/// # Ok(()) }
/// ```
pub async fn save_uploaded_file<S: Storage + ?Sized>(
    storage: &S,
    upload_to: &UploadTo,
    original_name: &str,
    content: &[u8],
) -> Result<FileField, FileError> {
    let name = upload_to.generate(&get_valid_name(original_name)?)?;
    Ok(FileField::new(storage.save(&name, content).await?))
}

/// Saves an image upload like [`save_uploaded_file`], after checking that `content` is a
/// valid PNG, JPEG, GIF or WebP image ([`inspect`]); nothing is written otherwise. The name's
/// extension must be an image's ([`IMAGE_EXTENSIONS`], any case); a name without one gets
/// the format's. The value returned knows the image's width and height.
///
/// ```
/// use hyperdjango_orm::files::{save_uploaded_image, FileError, FileSystemStorage, UploadTo};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), FileError> {
/// # let root = std::env::temp_dir().join(format!("hd-doc-image-{}", std::process::id()));
/// let storage = FileSystemStorage::new(&root, "/media/");
/// let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
/// let img = save_uploaded_image(&storage, &UploadTo::default(), "pixel", gif).await?;
/// assert_eq!((img.name(), img.dimensions()), ("pixel.gif", Some((1, 1))));
/// let e = save_uploaded_image(&storage, &UploadTo::default(), "pixel.html", gif).await;
/// assert!(matches!(e, Err(FileError::ExtensionNotAllowed { .. })));
/// let e = save_uploaded_image(&storage, &UploadTo::default(), "a.gif", &gif[..10]).await;
/// assert!(matches!(e, Err(FileError::NotAnImage { .. })));
/// # std::fs::remove_dir_all(&root).ok();
/// # Ok(()) }
/// ```
pub async fn save_uploaded_image<S: Storage + ?Sized>(
    storage: &S,
    upload_to: &UploadTo,
    original_name: &str,
    content: &[u8],
) -> Result<ImageField, FileError> {
    let info = inspect(content).map_err(|source| FileError::NotAnImage {
        name: original_name.to_string(),
        source,
    })?;
    let mut valid = get_valid_name(original_name)?;
    let (_, ext) = split_extension(&valid);
    if ext.is_empty() {
        valid = format!("{valid}.{}", info.format.extension());
    } else {
        let ext = ext[1..].to_ascii_lowercase();
        if !IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            return Err(FileError::ExtensionNotAllowed {
                name: original_name.to_string(),
                extension: ext,
            });
        }
    }
    let name = upload_to.generate(&valid)?;
    let name = storage.save(&name, content).await?;
    Ok(ImageField {
        file: FileField::new(name),
        dimensions: Some((info.width, info.height)),
    })
}

/// An image field as declared on a model: `ImageField` or `Option<ImageField>`.
pub trait ImageSlot: Send + Sync + 'static {
    /// The image, if there is one (an empty name is none).
    fn image_mut(&mut self) -> Option<&mut ImageField>;
}

impl ImageSlot for ImageField {
    fn image_mut(&mut self) -> Option<&mut ImageField> {
        (!self.is_empty()).then_some(self)
    }
}

impl ImageSlot for Option<ImageField> {
    fn image_mut(&mut self) -> Option<&mut ImageField> {
        self.as_mut().and_then(ImageSlot::image_mut)
    }
}

/// A width or height field (the 2005 reference's `width_field` / `height_field`): `i32`,
/// `i64` (0 for no image) or `Option<i32>`, `Option<i64>` (NULL for no image).
pub trait DimensionValue: Send + Sync + 'static {
    /// The value, when set (0 counts as unset).
    fn dimension(&self) -> Option<u32>;
    /// Sets it (`None`: no image).
    fn set_dimension(&mut self, v: Option<u32>);
}

macro_rules! dimension_value {
    ($($t:ty),*) => {$(
        impl DimensionValue for $t {
            fn dimension(&self) -> Option<u32> {
                u32::try_from(*self).ok().filter(|v| *v > 0)
            }
            fn set_dimension(&mut self, v: Option<u32>) {
                *self = v.and_then(|v| <$t>::try_from(v).ok()).unwrap_or(0);
            }
        }
        impl DimensionValue for Option<$t> {
            fn dimension(&self) -> Option<u32> {
                self.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0)
            }
            fn set_dimension(&mut self, v: Option<u32>) {
                *self = v.and_then(|v| <$t>::try_from(v).ok());
            }
        }
    )*};
}
dimension_value!(i32, i64);

/// Fills the width and height fields from the image field, as Django does when an instance
/// with an `ImageField(width_field=..., height_field=...)` is saved:
///
/// - no image (NULL or an empty name): both are cleared (`None`, or 0);
/// - an image whose size is known (from [`save_uploaded_image`]): that size;
/// - otherwise, when `force` or a dimension field is unset: the file is read from `storage`
///   ([`ImageField::read_dimensions`]); when both are set, they are kept (the image has not
///   changed since they were filled).
///
/// ```
/// use hyperdjango_orm::files::{update_dimension_fields, FileSystemStorage, ImageField};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), hyperdjango_orm::files::FileError> {
/// let storage = FileSystemStorage::new("/nonexistent", "/m/");
/// let (mut img, mut w, mut h) = (None::<ImageField>, Some(5i32), Some(5i32));
/// update_dimension_fields(&storage, &mut img, &mut w, &mut h, false).await?;
/// assert_eq!((w, h), (None, None));
/// # Ok(()) }
/// ```
pub async fn update_dimension_fields<S, I, W, H>(
    storage: &S,
    image: &mut I,
    width: &mut W,
    height: &mut H,
    force: bool,
) -> Result<(), FileError>
where
    S: Storage + ?Sized,
    I: ImageSlot,
    W: DimensionValue,
    H: DimensionValue,
{
    let Some(img) = image.image_mut() else {
        width.set_dimension(None);
        height.set_dimension(None);
        return Ok(());
    };
    let (w, h) = match img.dimensions() {
        Some(d) => d,
        None if !force && width.dimension().is_some() && height.dimension().is_some() => {
            return Ok(());
        }
        None => img.read_dimensions(storage).await?,
    };
    width.set_dimension(Some(w));
    height.set_dimension(Some(h));
    Ok(())
}

/// Which fields of `M` hold an image and its width and height: a function (a closure that
/// captures nothing) returning them, `|p| (&mut p.photo, &mut p.photo_width, &mut
/// p.photo_height)`.
pub type DimensionAccessor<M, I, W, H> = for<'a> fn(&'a mut M) -> (&'a mut I, &'a mut W, &'a mut H);

/// Registers a `pre_save` receiver for `M` that fills the width and height fields from the
/// image field before every save ([`update_dimension_fields`], not forced). Returns the
/// receiver's handle ([`crate::signals::Receiver`]): `.disconnect()` or `.forget()` it. A
/// file that cannot be read or is not an image makes the save fail (nothing is written).
///
/// As with every receiver, saves of `M` then run inside `atomic` (see [`crate::signals`]).
/// Call it once per image field, at start-up. See the [module](self) example.
pub fn dimension_fields<M, I, W, H>(
    storage: Arc<dyn Storage>,
    fields: DimensionAccessor<M, I, W, H>,
) -> crate::signals::Receiver
where
    M: Model,
    I: ImageSlot,
    W: DimensionValue,
    H: DimensionValue,
{
    crate::signals::pre_save::<M>(move |m, _event| {
        let storage = storage.clone();
        Box::pin(async move {
            let (image, width, height) = fields(m);
            update_dimension_fields(&*storage, image, width, height, false)
                .await
                .map_err(|e| crate::Error::Field {
                    model: M::meta().name,
                    field: "(image dimensions)".into(),
                    message: e.to_string(),
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::image::tests::{Rng, gif_bytes, jpeg_bytes, png_bytes, webp_lossy};
    use super::storage::tests::{TempDir, run};
    use super::*;

    #[test]
    fn uploads() {
        let dir = TempDir::new("uploads");
        let s = FileSystemStorage::new(&dir.0, "/media/");
        run(async {
            let to = UploadTo::pattern("u/%Y/");
            let f = save_uploaded_file(&s, &to, "../../../etc/passwd", b"root")
                .await
                .unwrap();
            assert!(f.name().starts_with("u/") && f.name().ends_with("/passwd"));
            assert!(f.path(&s).unwrap().starts_with(&dir.0));
            assert_eq!(f.size(&s).await.unwrap(), 4);
            assert!(f.exists(&s).await.unwrap());
            let g = save_uploaded_file(&s, &to, "passwd", b"other")
                .await
                .unwrap();
            assert_ne!(f, g);
            assert_eq!(f.read(&s).await.unwrap(), b"root");
            let mut r = g.open(&s).await.unwrap();
            let mut buf = String::new();
            io::Read::read_to_string(&mut r, &mut buf).unwrap();
            assert_eq!(buf, "other");
            let mut g = g;
            assert!(g.delete(&s).await.unwrap());
            assert!(g.is_empty());
            assert!(matches!(g.read(&s).await, Err(FileError::NoFile)));
            for bad in ["", "..", "a\0b", "/", "\\"] {
                let e = save_uploaded_file(&s, &to, bad, b"x").await.unwrap_err();
                assert!(matches!(e, FileError::InvalidName { .. }), "{bad:?}: {e}");
            }
            let e = save_uploaded_file(&s, &UploadTo::pattern("%q/"), "a", b"x")
                .await
                .unwrap_err();
            assert!(matches!(e, FileError::InvalidPattern { .. }), "{e}");
        });
    }

    #[test]
    fn image_uploads() {
        let dir = TempDir::new("images");
        let s = FileSystemStorage::new(&dir.0, "/media/");
        run(async {
            let to = UploadTo::default();
            for (bytes, name, dims) in [
                (png_bytes(3, 2), "a.PNG", (3, 2)),
                (gif_bytes(4, 5), "b.gif", (4, 5)),
                (jpeg_bytes(6, 7, false), "c.jpeg", (6, 7)),
                (webp_lossy(8, 9), "d.webp", (8, 9)),
                (png_bytes(1, 1), "e.jpg", (1, 1)), // another image type's extension is fine
            ] {
                let img = save_uploaded_image(&s, &to, name, &bytes).await.unwrap();
                assert_eq!(img.dimensions(), Some(dims));
                assert_eq!(img.read(&s).await.unwrap(), bytes);
            }
            let img = save_uploaded_image(&s, &to, "noext", &webp_lossy(1, 1))
                .await
                .unwrap();
            assert_eq!(img.name(), "noext.webp");
            let before = std::fs::read_dir(&dir.0).unwrap().count();
            let e = save_uploaded_image(&s, &to, "x.svg", &png_bytes(1, 1))
                .await
                .unwrap_err();
            assert!(e.to_string().contains("\"svg\""), "{e}");
            let e = save_uploaded_image(&s, &to, "x.png", b"GIF89a\x01")
                .await
                .unwrap_err();
            assert!(e.to_string().contains("\"x.png\"") && e.to_string().contains("GIF"));
            assert_eq!(
                std::fs::read_dir(&dir.0).unwrap().count(),
                before,
                "nothing written"
            );

            // Dimensions: from the upload, from the file, kept, cleared.
            let mut img = ImageField::new("a.PNG");
            let (mut w, mut h) = (0i64, None::<i32>);
            update_dimension_fields(&s, &mut img, &mut w, &mut h, false)
                .await
                .unwrap();
            assert_eq!((w, h), (3, Some(2)));
            let (mut w, mut h) = (10i32, 10i32);
            update_dimension_fields(&s, &mut ImageField::new("a.PNG"), &mut w, &mut h, false)
                .await
                .unwrap();
            assert_eq!((w, h), (10, 10), "kept");
            update_dimension_fields(&s, &mut ImageField::new("a.PNG"), &mut w, &mut h, true)
                .await
                .unwrap();
            assert_eq!((w, h), (3, 2), "forced");
            update_dimension_fields(&s, &mut ImageField::default(), &mut w, &mut h, true)
                .await
                .unwrap();
            assert_eq!((w, h), (0, 0));
            let mut missing = Some(ImageField::new("missing.png"));
            let e = update_dimension_fields(&s, &mut missing, &mut w, &mut h, false)
                .await
                .unwrap_err();
            assert!(matches!(e, FileError::NotFound { .. }));
        });
    }

    #[test]
    fn fuzz_names_never_panic_and_stay_safe() {
        let mut rng = Rng(7);
        let pieces = [
            "..", ".", "/", "\\", "\0", "\u{1}", "a", "é", " ", "%", ":", "CON", ".png",
            "\u{202e}", "_", "-", "😀", "\n",
        ];
        for _ in 0..20_000 {
            let n = rng.below(8);
            let s: String = (0..n).map(|_| pieces[rng.below(pieces.len())]).collect();
            if let Ok(v) = get_valid_name(&s) {
                validate_relative_name(&v).unwrap_or_else(|e| panic!("{s:?} -> {v:?}: {e}"));
                assert!(!v.contains(['/', '\\', '\0']) && !v.starts_with('.'));
                assert!(v.len() <= MAX_FILE_NAME);
                let to = UploadTo::pattern("x/%Y/");
                validate_relative_name(&to.generate(&v).unwrap()).unwrap();
            }
            let _ = validate_relative_name(&s);
            let _ = strftime(&s, rng.next() as i64 >> 20);
        }
    }

    #[test]
    fn field_types() {
        let f = FileField::new("a/b.txt");
        let mut out = BytesMut::new();
        f.to_sql(&Type::TEXT, &mut out).unwrap();
        assert_eq!(&out[..], b"a/b.txt");
        assert_eq!(
            <FileField as FromSql>::from_sql(&Type::TEXT, b"a/b.txt").unwrap(),
            f
        );
        assert!(<FileField as FromSql>::accepts(&Type::VARCHAR));
        assert!(!<FileField as FromSql>::accepts(&Type::INT4));
        assert!(FileField::new("a\0").to_sql(&Type::TEXT, &mut out).is_err());
        assert_eq!(<Option<ImageField> as FieldType>::db_type(), "TEXT");
        assert_eq!(ImageField::new("x").length(), 1);
        let img = <ImageField as FromSql>::from_sql(&Type::TEXT, b"p.png").unwrap();
        assert_eq!(img, ImageField::new("p.png"));
        assert!(img.dimensions().is_none());
        assert_eq!(f.to_string(), "a/b.txt");
        let e: crate::Error = FileError::NoFile.into();
        assert!(e.to_string().contains("no file"));
    }
}
