//! File and image fields against a real server: uploads into a temporary-directory storage,
//! names stored in TEXT columns and read back, width/height fields filled on save, traversal
//! names neutralised, no overwriting, deletion, and a name in the database that tries to
//! leave the storage refused.

use std::path::PathBuf;
use std::sync::Arc;

use hyperdjango_orm::files::{
    self, FileError, FileSystemStorage, Storage, UploadTo, save_uploaded_file, save_uploaded_image,
};
use hyperdjango_orm::prelude::*;

use crate::common::unique;
use crate::orm_test;

model! {
    /// The spec's Product with a manual and a photo (and the 2005 reference's height_field
    /// and width_field).
    #[table = "file_products"]
    #[derive(Debug, Clone)]
    pub struct FileProduct {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub name: String,
        pub manual: FileField = Field::new().blank(true).max_length(255),
        pub photo: Option<ImageField> = Field::new(),
        pub photo_width: Option<i32> = Field::new(),
        pub photo_height: Option<i32> = Field::new(),
    }
}

model! {
    /// A model whose only image field has non-null integer dimension fields.
    #[table = "file_avatars"]
    #[derive(Debug, Clone)]
    pub struct FileAvatar {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub image: ImageField = Field::new().blank(true),
        pub w: i32 = Field::new().default(0),
        pub h: i32 = Field::new().default(0),
    }
}

const MANUALS: UploadTo = UploadTo::pattern("manuals/%Y/%m/%d/");
const PHOTOS: UploadTo = UploadTo::pattern("products/photos/");

/// A temporary media root, removed when dropped.
struct Media(PathBuf);

impl Media {
    fn new() -> Media {
        let p = std::env::temp_dir().join(unique("hd_media"));
        std::fs::create_dir_all(&p).expect("media dir");
        Media(p)
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A 3x2 PNG built by hand (signature, IHDR, IDAT, IEND with their CRCs).
fn png_3x2() -> Vec<u8> {
    fn crc(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], body: &[u8]) {
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        let c = crc(&out[start..]);
        out.extend_from_slice(&c.to_be_bytes());
    }
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut v, b"IHDR", &[0, 0, 0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0]);
    chunk(&mut v, b"IDAT", &[0x78, 0x9C, 0x63, 0, 0, 0, 1, 0, 1]);
    chunk(&mut v, b"IEND", &[]);
    v
}

/// A 2x1 GIF.
const GIF_2X1: &[u8] =
    b"GIF89a\x02\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x02\x00\x01\x00\x00\x02\x02D\x01\x00;";

#[tokio::test]
async fn uploads_round_trip_through_the_database() {
    let media = Media::new();
    let storage = Arc::new(FileSystemStorage::new(&media.0, "/media/"));
    let dims = files::dimension_fields::<FileProduct, _, _, _>(storage.clone(), |p| {
        (&mut p.photo, &mut p.photo_width, &mut p.photo_height)
    });
    orm_test!([FileProduct], async {
        // A traversal name is reduced to its last component, under upload_to's directory.
        let manual = save_uploaded_file(&*storage, &MANUALS, "../../etc/passwd", b"manual v1")
            .await
            .unwrap();
        assert!(
            manual.name().starts_with("manuals/") && manual.name().ends_with("/passwd"),
            "{}",
            manual.name()
        );
        assert_eq!(
            manual.name().matches('/').count(),
            4,
            "manuals/Y/m/d/passwd"
        );
        let on_disk = manual.path(&*storage).unwrap();
        assert!(on_disk.starts_with(&media.0), "{on_disk:?}");
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"manual v1");
        assert!(!media.0.join("etc").exists());

        let photo =
            save_uploaded_image(&*storage, &PHOTOS, r"C:\fakepath\My Photo.png", &png_3x2())
                .await
                .unwrap();
        assert_eq!(photo.name(), "products/photos/My_Photo.png");
        assert_eq!(photo.dimensions(), Some((3, 2)));

        let mut p = FileProduct::objects()
            .create(FileProduct {
                name: "Widget".into(),
                manual: manual.clone(),
                photo: Some(photo.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        // The pre_save receiver filled the dimension fields from the upload.
        assert_eq!((p.photo_width, p.photo_height), (Some(3), Some(2)));

        let got = FileProduct::objects()
            .get(FileProduct::id.eq(p.id))
            .await
            .unwrap();
        assert_eq!(got.manual, manual);
        assert_eq!(got.photo.as_ref().map(|i| i.name()), Some(photo.name()));
        assert_eq!((got.photo_width, got.photo_height), (Some(3), Some(2)));
        assert_eq!(got.manual.read(&*storage).await.unwrap(), b"manual v1");
        assert_eq!(got.manual.size(&*storage).await.unwrap(), 9);
        assert_eq!(
            got.photo.as_ref().unwrap().url(&*storage).unwrap(),
            "/media/products/photos/My_Photo.png"
        );
        // Filters compare the stored name.
        let n = FileProduct::objects()
            .filter(FileProduct::manual.eq(manual.clone()))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);
        let n = FileProduct::objects()
            .filter(q("manual__startswith", "manuals/").unwrap())
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);

        // A loaded instance does not know the image's size; with the fields cleared, a save
        // reads it from the file.
        let mut loaded = got.clone();
        loaded.photo_width = None;
        loaded.save().await.unwrap();
        assert_eq!(
            (loaded.photo_width, loaded.photo_height),
            (Some(3), Some(2))
        );

        // A second upload with the same name does not overwrite the first.
        let second = save_uploaded_file(&*storage, &MANUALS, "passwd", b"manual v2")
            .await
            .unwrap();
        assert_ne!(second.name(), manual.name());
        assert!(second.name().contains("/passwd_"), "{}", second.name());
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"manual v1");
        assert_eq!(second.read(&*storage).await.unwrap(), b"manual v2");
        let photo2 = save_uploaded_image(&*storage, &PHOTOS, "My Photo.png", GIF_2X1)
            .await
            .unwrap();
        assert_ne!(photo2.name(), photo.name());
        assert_eq!(photo.read(&*storage).await.unwrap(), png_3x2());

        // Replacing the photo updates the dimensions on save.
        p.photo = Some(photo2.clone());
        p.save().await.unwrap();
        p.refresh_from_db().await.unwrap();
        assert_eq!((p.photo_width, p.photo_height), (Some(2), Some(1)));
        assert_eq!(p.photo.as_ref().unwrap().name(), photo2.name());

        // Deleting: the file goes, the field is cleared, the row keeps an empty name; with no
        // photo the dimension fields become NULL.
        assert!(p.manual.delete(&*storage).await.unwrap());
        assert!(!on_disk.exists());
        let old_photo = p.photo.take().unwrap();
        assert!(storage.delete(old_photo.name()).await.unwrap());
        p.save().await.unwrap();
        let got = FileProduct::objects()
            .get(FileProduct::id.eq(p.id))
            .await
            .unwrap();
        assert!(got.manual.is_empty());
        assert!(got.photo.is_none());
        assert_eq!((got.photo_width, got.photo_height), (None, None));
        assert!(!storage.exists(photo2.name()).await.unwrap());
        assert!(
            storage.exists(second.name()).await.unwrap(),
            "other files stay"
        );

        // An empty (required) FileField fails validation unless blank(true): manual is blank.
        assert!(got.full_clean().await.is_ok());
    });
    dims.disconnect();
}

#[tokio::test]
async fn hostile_names_and_contents_are_refused() {
    let media = Media::new();
    let storage = FileSystemStorage::new(&media.0, "/media/");
    orm_test!([FileAvatar], async {
        // Neutralised: directories and leading dots removed.
        for (input, want) in [
            ("../../../../etc/passwd", "passwd.gif"),
            ("/absolute/path/x.gif", "x.gif"),
            ("..\\..\\windows\\win.ini.gif", "win.ini.gif"),
            ("...gif", "gif.gif"),
            ("\u{1}ctl\u{7f}.gif", "ctl.gif"),
        ] {
            let img = save_uploaded_image(&storage, &UploadTo::default(), input, GIF_2X1)
                .await
                .unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(img.name(), want, "{input:?}");
            assert!(img.path(&storage).unwrap().starts_with(&media.0));
        }
        // Refused, naming the input.
        for input in ["..", "a\0.gif", "///", ""] {
            let e = save_uploaded_image(&storage, &UploadTo::default(), input, GIF_2X1)
                .await
                .unwrap_err();
            assert!(matches!(e, FileError::InvalidName { .. }), "{input:?}: {e}");
            assert!(e.to_string().contains(&format!("{input:?}")), "{e}");
        }
        let e = save_uploaded_image(&storage, &UploadTo::default(), "x.gif", b"GIF89a\x02\x00")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = save_uploaded_image(&storage, &UploadTo::default(), "x.html", GIF_2X1)
            .await
            .unwrap_err();
        assert!(matches!(e, FileError::ExtensionNotAllowed { .. }), "{e}");
        let e = save_uploaded_file(&storage, &UploadTo::pattern("../up/"), "a.txt", b"x")
            .await
            .unwrap_err();
        assert!(matches!(e, FileError::InvalidName { .. }), "{e}");

        // A name in the database that tries to leave the storage is refused on use.
        let mut a = FileAvatar::objects()
            .create(FileAvatar {
                image: ImageField::new("../../etc/passwd"),
                ..Default::default()
            })
            .await
            .unwrap();
        a.refresh_from_db().await.unwrap();
        assert_eq!(a.image.name(), "../../etc/passwd");
        assert!(a.image.path(&storage).is_err());
        assert!(a.image.read(&storage).await.is_err());
        assert!(a.image.url(&storage).is_err());
        let mut img = a.image.clone();
        assert!(img.delete(&storage).await.is_err());

        // Integer dimension fields, filled without signals.
        a.image = save_uploaded_image(&storage, &UploadTo::default(), "p.png", &png_3x2())
            .await
            .unwrap();
        files::update_dimension_fields(&storage, &mut a.image, &mut a.w, &mut a.h, false)
            .await
            .unwrap();
        a.save().await.unwrap();
        let got = FileAvatar::objects()
            .get(FileAvatar::id.eq(a.id))
            .await
            .unwrap();
        assert_eq!((got.w, got.h), (3, 2));
        assert_eq!(got.image.read(&storage).await.unwrap(), png_3x2());
        // A dyn Storage works the same.
        let dyn_storage: &dyn Storage = &storage;
        assert_eq!(
            got.image.size(dyn_storage).await.unwrap(),
            png_3x2().len() as u64
        );
    });
}
