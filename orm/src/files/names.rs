//! Safe file names, `upload_to` (with a strftime subset) and the UTC calendar they need.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::FileError;

/// The longest file name (the last path component) [`get_valid_name`] produces, in bytes.
pub const MAX_FILE_NAME: usize = 100;

/// The longest extension (with its dot) kept by [`get_valid_name`], in bytes; a longer one is
/// treated as part of the stem.
const MAX_EXTENSION: usize = 16;

/// Names Windows reserves for devices: a file called `CON.txt` cannot be opened there.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Turns a client-supplied file name into a safe file name: one path component of letters,
/// digits, `-`, `_` and `.`, that never starts with a dot, keeping the extension.
///
/// - Directories are dropped: everything up to the last `/` or `\` (so `../../etc/passwd`
///   is `passwd` and `C:\Users\me\cv.pdf` is `cv.pdf`).
/// - Whitespace becomes `_`; control characters and other punctuation are removed (letters
///   and digits of any script are kept, as Django does).
/// - Leading dots and trailing dots are removed (`.htaccess` is `htaccess`).
/// - A name Windows reserves (`CON`, `NUL`, `COM1`, ...) gets a `_` in front.
/// - The name is cut to [`MAX_FILE_NAME`] bytes, keeping the extension.
///
/// Refused, with an error naming the input: a NUL byte (a NUL-truncation attack such as
/// `shell.php\0.jpg`), and names with nothing usable left (``, `..`, `///`, `???`).
///
/// ```
/// use hyperdjango_orm::files::get_valid_name;
/// assert_eq!(get_valid_name("../../etc/passwd").unwrap(), "passwd");
/// assert_eq!(get_valid_name(r"C:\Users\me\My CV (final).pdf").unwrap(), "My_CV_final.pdf");
/// assert_eq!(get_valid_name(".htaccess").unwrap(), "htaccess");
/// assert_eq!(get_valid_name("photo.JPG").unwrap(), "photo.JPG");
/// assert!(get_valid_name("shell.php\0.jpg").is_err());
/// assert!(get_valid_name("..").is_err());
/// ```
pub fn get_valid_name(original: &str) -> Result<String, FileError> {
    let refuse = |reason: &str| FileError::InvalidName {
        name: original.to_string(),
        reason: reason.to_string(),
    };
    if original.contains('\0') {
        return Err(refuse("it contains a NUL byte"));
    }
    let last = original.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = last
        .chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some('_')
            } else if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                Some(c)
            } else {
                None
            }
        })
        .collect();
    // No leading dots (hidden files, `..`), no trailing dots or underscores from spaces.
    name = name
        .trim_start_matches(['.', '_'])
        .trim_end_matches(['.', '_'])
        .to_string();
    if name.is_empty() || name.chars().all(|c| c == '.' || c == '-') {
        return Err(refuse(
            "no usable characters are left once directories and unsafe characters are removed",
        ));
    }
    let (stem, ext) = split_extension(&name);
    let mut stem = stem.to_string();
    let ext = ext.to_string();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&stem)) {
        stem.insert(0, '_');
    }
    Ok(truncate_name(&stem, &ext, MAX_FILE_NAME))
}

/// Splits `name` into its stem and its extension (with the dot): `a.tar.gz` is `a.tar` and
/// `.gz`. A name without a dot, or whose only dot is first, has no extension.
///
/// ```
/// use hyperdjango_orm::files::split_extension;
/// assert_eq!(split_extension("a.tar.gz"), ("a.tar", ".gz"));
/// assert_eq!(split_extension("README"), ("README", ""));
/// ```
pub fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= MAX_EXTENSION && i + 1 < name.len() => {
            (&name[..i], &name[i..])
        }
        _ => (name, ""),
    }
}

/// `stem + ext`, with the stem cut (on a character boundary) so the whole is at most `max`
/// bytes.
fn truncate_name(stem: &str, ext: &str, max: usize) -> String {
    let room = max.saturating_sub(ext.len());
    let mut end = stem.len().min(room);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let stem = stem[..end].trim_end_matches(['.', '_']);
    let stem = if stem.is_empty() { "file" } else { stem };
    format!("{stem}{ext}")
}

/// `name` with `suffix` inserted before the extension: `photo.jpg` + `_1` is `photo_1.jpg`
/// (in the file name, not a directory; the file name stays within [`MAX_FILE_NAME`]).
///
/// ```
/// assert_eq!(hyperdjango_orm::files::with_suffix("a/photo.jpg", "_x1"), "a/photo_x1.jpg");
/// ```
pub fn with_suffix(name: &str, suffix: &str) -> String {
    let (dir, file) = match name.rfind('/') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    };
    let (stem, ext) = split_extension(file);
    let ext = format!("{suffix}{ext}");
    format!(
        "{dir}{}",
        truncate_name(stem, &ext, MAX_FILE_NAME.max(ext.len() + 1))
    )
}

/// Checks a relative storage name (`uploads/2024/photo.jpg`): non-empty `/`-separated
/// components, none of them empty, `.` or `..`, none starting with a dot, and no `\`, NUL,
/// control characters or drive letters (`C:`). Storages call this before touching the disk,
/// so a name read back from the database cannot escape the storage's root either.
///
/// ```
/// use hyperdjango_orm::files::validate_relative_name;
/// assert!(validate_relative_name("uploads/2024/a.png").is_ok());
/// assert!(validate_relative_name("../secret").is_err());
/// assert!(validate_relative_name("/etc/passwd").is_err());
/// assert!(validate_relative_name("a\\b").is_err());
/// ```
pub fn validate_relative_name(name: &str) -> Result<(), FileError> {
    let refuse = |reason: String| FileError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(refuse("the name is empty".into()));
    }
    if name.starts_with('/') {
        return Err(refuse("absolute paths are not allowed".into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || *c == '\\' || *c == ':')
    {
        return Err(refuse(format!("it contains the character {c:?}")));
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Err(refuse(
                "it has an empty path component (`//` or a trailing `/`)".into(),
            ));
        }
        if part == "." || part == ".." {
            return Err(refuse(format!("it has the path component {part:?}")));
        }
        if part.starts_with('.') {
            return Err(refuse(format!(
                "the component {part:?} starts with a dot (hidden files are not served)"
            )));
        }
    }
    Ok(())
}

/// Where uploads of a field go: a directory pattern with strftime codes (Django's
/// `upload_to="uploads/%Y/%m/%d/"`), or a function that chooses the whole name (the 2005
/// readers' wish: a directory per user).
///
/// `upload_to` is an argument of [`save_uploaded_file`](super::save_uploaded_file) (and of
/// [`save_uploaded_image`](super::save_uploaded_image)), usually a constant declared next to
/// the model:
///
/// ```
/// use hyperdjango_orm::files::UploadTo;
/// const MANUALS: UploadTo = UploadTo::pattern("manuals/%Y/%m/");
/// // 2024-02-29 13:05:09 UTC
/// assert_eq!(MANUALS.generate_at("guide.pdf", 1_709_211_909).unwrap(), "manuals/2024/02/guide.pdf");
///
/// let per_user = UploadTo::function(|file_name| format!("users/42/{file_name}"));
/// assert_eq!(per_user.generate("me.png").unwrap(), "users/42/me.png");
/// ```
///
/// The codes (UTC): `%Y` year, `%y` year in the century, `%m` month, `%d` day, `%H` hour,
/// `%M` minute, `%S` second, `%j` day of the year (001-366), `%%` a percent sign. Any other
/// code is an error naming the pattern. The pattern is a directory: the file name is added
/// after it (with a `/` if it has none). Its result must be a safe relative path (see
/// [`validate_relative_name`]), as must a function's.
#[derive(Clone)]
pub enum UploadTo {
    /// A directory pattern with strftime codes.
    Pattern(&'static str),
    /// A directory pattern built at run time.
    Owned(Arc<str>),
    /// A function from the safe file name to the whole relative name.
    Function(Arc<dyn Fn(&str) -> String + Send + Sync>),
}

impl fmt::Debug for UploadTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadTo::Pattern(p) => f.debug_tuple("Pattern").field(p).finish(),
            UploadTo::Owned(p) => f.debug_tuple("Owned").field(p).finish(),
            UploadTo::Function(_) => f.write_str("Function(..)"),
        }
    }
}

impl Default for UploadTo {
    /// The storage's root (an empty pattern).
    fn default() -> Self {
        UploadTo::Pattern("")
    }
}

impl From<&'static str> for UploadTo {
    fn from(p: &'static str) -> Self {
        UploadTo::Pattern(p)
    }
}

impl From<String> for UploadTo {
    fn from(p: String) -> Self {
        UploadTo::Owned(p.into())
    }
}

impl UploadTo {
    /// A directory pattern with strftime codes (usable in a `const`).
    ///
    /// ```
    /// const PHOTOS: hyperdjango_orm::files::UploadTo = hyperdjango_orm::files::UploadTo::pattern("photos/");
    /// assert_eq!(PHOTOS.generate("a.png").unwrap(), "photos/a.png");
    /// ```
    pub const fn pattern(p: &'static str) -> Self {
        UploadTo::Pattern(p)
    }

    /// A function from the safe file name to the whole relative name.
    ///
    /// ```
    /// let u = hyperdjango_orm::files::UploadTo::function(|n| format!("avatars/{n}"));
    /// assert_eq!(u.generate("x.gif").unwrap(), "avatars/x.gif");
    /// ```
    pub fn function(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        UploadTo::Function(Arc::new(f))
    }

    /// The relative name for the (already safe) `file_name` now.
    ///
    /// ```
    /// assert!(hyperdjango_orm::files::UploadTo::pattern("%Y/").generate("a").unwrap().ends_with("/a"));
    /// ```
    pub fn generate(&self, file_name: &str) -> Result<String, FileError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.generate_at(file_name, now)
    }

    /// The relative name for `file_name` at `unix_seconds` (UTC).
    ///
    /// ```
    /// use hyperdjango_orm::files::UploadTo;
    /// let u = UploadTo::pattern("u/%Y-%m-%d_%H%M%S_%j_%%/");
    /// assert_eq!(u.generate_at("f", 0).unwrap(), "u/1970-01-01_000000_001_%/f");
    /// assert!(UploadTo::pattern("u/%Q/").generate_at("f", 0).is_err());
    /// assert!(UploadTo::pattern("../x/").generate_at("f", 0).is_err());
    /// ```
    pub fn generate_at(&self, file_name: &str, unix_seconds: i64) -> Result<String, FileError> {
        let name = match self {
            UploadTo::Pattern(p) => join_dir(&strftime(p, unix_seconds)?, file_name),
            UploadTo::Owned(p) => join_dir(&strftime(p, unix_seconds)?, file_name),
            UploadTo::Function(f) => f(file_name),
        };
        validate_relative_name(&name)?;
        Ok(name)
    }
}

fn join_dir(dir: &str, file: &str) -> String {
    if dir.is_empty() || dir.ends_with('/') {
        format!("{dir}{file}")
    } else {
        format!("{dir}/{file}")
    }
}

/// A UTC calendar date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// The year (proleptic Gregorian).
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    /// 0-23.
    pub hour: u32,
    /// 0-59.
    pub minute: u32,
    /// 0-59.
    pub second: u32,
    /// 1-366.
    pub day_of_year: u32,
}

impl UtcDateTime {
    /// The UTC date and time of a Unix timestamp (seconds; negative is before 1970).
    ///
    /// ```
    /// use hyperdjango_orm::files::UtcDateTime;
    /// let t = UtcDateTime::from_unix(951_782_400); // 2000-02-29
    /// assert_eq!((t.year, t.month, t.day, t.day_of_year), (2000, 2, 29, 60));
    /// ```
    pub fn from_unix(secs: i64) -> UtcDateTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let day_of_year = BEFORE[(month - 1) as usize] + day + u32::from(leap && month > 2);
        UtcDateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            day_of_year,
        }
    }
}

/// Formats `unix_seconds` (UTC) with the strftime subset of [`UploadTo`]: `%Y %y %m %d %H
/// %M %S %j %%`. Another code, or a `%` at the end, is an error naming the pattern.
///
/// ```
/// use hyperdjango_orm::files::strftime;
/// assert_eq!(strftime("%Y/%m/%d %H:%M:%S", 1_709_211_909).unwrap(), "2024/02/29 13:05:09");
/// assert!(strftime("100%", 0).is_err());
/// ```
pub fn strftime(pattern: &str, unix_seconds: i64) -> Result<String, FileError> {
    let t = UtcDateTime::from_unix(unix_seconds);
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let code = chars.next();
        match code {
            Some('Y') => out.push_str(&format!("{:04}", t.year)),
            Some('y') => out.push_str(&format!("{:02}", t.year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{:02}", t.month)),
            Some('d') => out.push_str(&format!("{:02}", t.day)),
            Some('H') => out.push_str(&format!("{:02}", t.hour)),
            Some('M') => out.push_str(&format!("{:02}", t.minute)),
            Some('S') => out.push_str(&format!("{:02}", t.second)),
            Some('j') => out.push_str(&format!("{:03}", t.day_of_year)),
            Some('%') => out.push('%'),
            other => {
                return Err(FileError::InvalidPattern {
                    pattern: pattern.to_string(),
                    reason: match other {
                        Some(c) => format!("unknown code %{c} (known: %Y %y %m %d %H %M %S %j %%)"),
                        None => "it ends with a lone %".into(),
                    },
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        let cases = [
            ("photo.jpg", "photo.jpg"),
            ("../../etc/passwd", "passwd"),
            ("/etc/passwd", "passwd"),
            (r"..\..\windows\system32\cmd.exe", "cmd.exe"),
            ("my file (1).jpg", "my_file_1.jpg"),
            (".htaccess", "htaccess"),
            ("...hidden.png", "hidden.png"),
            ("a\u{1}b\u{7f}c.txt", "abc.txt"),
            ("résumé.pdf", "résumé.pdf"),
            ("evil\u{202e}gpj.exe", "evilgpj.exe"),
            ("con.txt", "_con.txt"),
            ("NUL", "_NUL"),
            ("trailing.dots...", "trailing.dots"),
            ("a.tar.gz", "a.tar.gz"),
        ];
        for (input, want) in cases {
            assert_eq!(get_valid_name(input).unwrap(), want, "{input:?}");
        }
        for bad in [
            "", "..", "/", "///", "???", "a\0b.jpg", " . ", "x/..", "-", "x/y/",
        ] {
            let e = get_valid_name(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        // Long names are cut, keeping the extension.
        let long = format!("{}.jpeg", "é".repeat(300));
        let v = get_valid_name(&long).unwrap();
        assert!(v.len() <= MAX_FILE_NAME && v.ends_with(".jpeg"), "{v}");
        // Whatever comes out is a valid relative name.
        for (input, _) in cases {
            validate_relative_name(&get_valid_name(input).unwrap()).unwrap();
        }
    }

    #[test]
    fn suffixes() {
        assert_eq!(with_suffix("photo.jpg", "_1"), "photo_1.jpg");
        assert_eq!(with_suffix("d/README", "_1"), "d/README_1");
        assert_eq!(with_suffix("d/a.tar.gz", "_ab"), "d/a.tar_ab.gz");
        let long = format!("{}.png", "x".repeat(MAX_FILE_NAME - 4));
        let s = with_suffix(&long, "_abcdefg");
        assert!(
            s.len() <= MAX_FILE_NAME && s.ends_with("_abcdefg.png"),
            "{s}"
        );
    }

    #[test]
    fn relative_names() {
        for ok in ["a", "a/b.c", "2024/01/x_y-z.png", "é/ü"] {
            validate_relative_name(ok).unwrap();
        }
        for bad in [
            "", "/a", "a//b", "a/", "./a", "a/./b", "../a", "a/..", ".a", "a/.b", "a\\b", "a\0",
            "a\nb", "C:x", "C:/x",
        ] {
            assert!(validate_relative_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn calendar() {
        // Checked against `date -u -d @N`.
        type Civil = (i64, u32, u32, u32, u32, u32, u32);
        let cases: [(i64, Civil); 7] = [
            (0, (1970, 1, 1, 0, 0, 0, 1)),
            (-1, (1969, 12, 31, 23, 59, 59, 365)),
            (951_782_400, (2000, 2, 29, 0, 0, 0, 60)),
            (1_709_211_909, (2024, 2, 29, 13, 5, 9, 60)),
            (1_735_689_599, (2024, 12, 31, 23, 59, 59, 366)),
            (4_107_542_400, (2100, 3, 1, 0, 0, 0, 60)),
            (-2_208_988_800, (1900, 1, 1, 0, 0, 0, 1)),
        ];
        for (secs, (y, mo, d, h, mi, s, j)) in cases {
            let t = UtcDateTime::from_unix(secs);
            assert_eq!(
                (
                    t.year,
                    t.month,
                    t.day,
                    t.hour,
                    t.minute,
                    t.second,
                    t.day_of_year
                ),
                (y, mo, d, h, mi, s, j),
                "{secs}"
            );
        }
        // Every day of 400 years: day_of_year runs 1..=365/366 and resets on 1 January.
        let mut prev = UtcDateTime::from_unix(-86_400);
        for day in 0..146_097i64 {
            let t = UtcDateTime::from_unix(day * 86_400);
            if t.month == 1 && t.day == 1 {
                assert_eq!(t.day_of_year, 1);
                assert!(prev.day_of_year == 365 || prev.day_of_year == 366);
            } else {
                assert_eq!(t.day_of_year, prev.day_of_year + 1);
            }
            prev = t;
        }
    }

    #[test]
    fn patterns() {
        assert_eq!(strftime("%y %j", 1_709_211_909).unwrap(), "24 060");
        assert_eq!(strftime("no codes", 5).unwrap(), "no codes");
        let e = strftime("x/%Q/", 0).unwrap_err().to_string();
        assert!(e.contains("\"x/%Q/\"") && e.contains("%Q"), "{e}");
        assert_eq!(
            UploadTo::pattern("u").generate_at("f.txt", 0).unwrap(),
            "u/f.txt"
        );
        assert_eq!(UploadTo::default().generate_at("f", 0).unwrap(), "f");
        assert!(UploadTo::pattern("/abs/").generate_at("f", 0).is_err());
        assert!(UploadTo::function(|_| "../x".into()).generate("f").is_err());
        assert!(UploadTo::from(String::from("a/%Y")).generate("f").is_ok());
    }
}
