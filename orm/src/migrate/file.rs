//! Migration files: plain SQL, numbered, with an UP and a DOWN section, checksummed.
//!
//! ```text
//! -- hyperdjango migration 0002_add_note
//! -- hyperdjango: no-transaction          (only when it holds CREATE INDEX CONCURRENTLY)
//! -- hyperdjango: destructive: drops column orders.legacy and its data (~1200 rows)
//! -- Add column orders.note
//! -- +up
//! ALTER TABLE "orders" ADD COLUMN "note" text;
//! -- +down
//! ALTER TABLE "orders" DROP COLUMN "note";
//! ```
//!
//! The name is `NNNN_words.sql`; the number orders the migrations. The checksum is the
//! SHA-256 of the file's bytes: it is recorded when the migration is applied, and a file
//! whose checksum no longer matches is refused (an applied migration must not change; write
//! a new one). Lines starting with `-- hyperdjango:` before `-- +up` are the header.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A migration file, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    /// The number (`2` for `0002_add_note.sql`).
    pub number: u32,
    /// The name: the file name without `.sql` (`0002_add_note`).
    pub name: String,
    /// The UP section's statements.
    pub up: Vec<String>,
    /// The DOWN section's statements (empty: irreversible).
    pub down: Vec<String>,
    /// Runs outside a transaction (`-- hyperdjango: no-transaction`).
    pub no_transaction: bool,
    /// What it destroys going forward (`-- hyperdjango: destructive: ...`).
    pub destructive: Vec<String>,
    /// What it destroys going backward (`-- hyperdjango: destructive-down: ...`).
    pub destructive_down: Vec<String>,
    /// The SHA-256 of the file's bytes, in hex.
    pub checksum: String,
}

/// The SHA-256 of `bytes`, in lower-case hex.
///
/// ```
/// assert_eq!(&hyperdjango_orm::migrate::file::checksum(b"")[..8], "e3b0c442");
/// ```
pub fn checksum(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The number of a migration file name (`0002_add_note.sql` is 2), or `None` when the name
/// is not `NNNN_words.sql` (digits, then `_`, then letters, digits and `_`).
///
/// ```
/// use hyperdjango_orm::migrate::file::number_of;
/// assert_eq!(number_of("0002_add_note.sql"), Some(2));
/// assert_eq!(number_of("2_x.sql"), None);
/// assert_eq!(number_of("0002-x.sql"), None);
/// ```
pub fn number_of(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(".sql")?;
    let (num, words) = stem.split_once('_')?;
    if num.len() != 4 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if words.is_empty()
        || !words
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    num.parse().ok()
}

/// Parses a migration file's text (`name` without `.sql`).
///
/// ```
/// use hyperdjango_orm::migrate::file::parse;
/// let m = parse("0001_initial", "-- +up\nCREATE TABLE t (id int);\n-- +down\nDROP TABLE t;\n").unwrap();
/// assert_eq!(m.up, ["CREATE TABLE t (id int)"]);
/// assert_eq!(m.down, ["DROP TABLE t"]);
/// assert!(parse("0001_initial", "CREATE TABLE t (id int);").is_err());
/// ```
pub fn parse(name: &str, text: &str) -> Result<Migration> {
    let number = number_of(&format!("{name}.sql")).ok_or_else(|| {
        Error::Migration(format!(
            "{name}: a migration is named NNNN_words.sql (four digits, an underscore, lower-case letters, digits and underscores)"
        ))
    })?;
    let mut header = Vec::new();
    let mut up = String::new();
    let mut down = String::new();
    let mut section = 0; // 0 header, 1 up, 2 down
    for line in text.lines() {
        match line.trim_end() {
            "-- +up" if section == 0 => section = 1,
            "-- +down" if section == 1 => section = 2,
            "-- +up" | "-- +down" => {
                return Err(Error::Migration(format!(
                    "{name}: `{}` out of place (the file has a header, `-- +up`, its SQL, then optionally `-- +down` and its SQL)",
                    line.trim_end()
                )));
            }
            l => match section {
                0 => header.push(l.to_string()),
                1 => {
                    up.push_str(line);
                    up.push('\n');
                }
                _ => {
                    down.push_str(line);
                    down.push('\n');
                }
            },
        }
    }
    if section == 0 {
        return Err(Error::Migration(format!(
            "{name}: no `-- +up` line: a migration file has an UP section (and optionally `-- +down`)"
        )));
    }
    let mut m = Migration {
        number,
        name: name.to_string(),
        up: split_statements(&up),
        down: split_statements(&down),
        no_transaction: false,
        destructive: Vec::new(),
        destructive_down: Vec::new(),
        checksum: checksum(text.as_bytes()),
    };
    for h in header {
        let Some(directive) = h.strip_prefix("-- hyperdjango:") else {
            continue;
        };
        let directive = directive.trim();
        if directive == "no-transaction" {
            m.no_transaction = true;
        } else if let Some(r) = directive.strip_prefix("destructive-down:") {
            m.destructive_down.push(r.trim().to_string());
        } else if let Some(r) = directive.strip_prefix("destructive:") {
            m.destructive.push(r.trim().to_string());
        } else {
            return Err(Error::Migration(format!(
                "{name}: unknown header directive `-- hyperdjango: {directive}` (known: no-transaction, destructive: .., destructive-down: ..)"
            )));
        }
    }
    Ok(m)
}

/// Reads every migration in `dir`, ordered by number. Other files are ignored, but a
/// `.sql` file with a malformed name, or two files with one number, is an error.
pub fn load_dir(dir: &Path) -> Result<Vec<Migration>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Migration(format!(
                "reading the migrations directory {}: {e}",
                dir.display()
            )));
        }
    };
    let mut out: Vec<Migration> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::Migration(format!("{}: {e}", dir.display())))?;
        let file = entry.file_name().to_string_lossy().to_string();
        if !file.ends_with(".sql") {
            continue;
        }
        if number_of(&file).is_none() {
            return Err(Error::Migration(format!(
                "{}: a migration is named NNNN_words.sql (four digits, an underscore, lower-case letters, digits and underscores)",
                entry.path().display()
            )));
        }
        let text = std::fs::read_to_string(entry.path())
            .map_err(|e| Error::Migration(format!("{}: {e}", entry.path().display())))?;
        out.push(parse(file.trim_end_matches(".sql"), &text)?);
    }
    out.sort_by_key(|m| m.number);
    for w in out.windows(2) {
        if w[0].number == w[1].number {
            return Err(Error::Migration(format!(
                "{} and {} have the same number: renumber one (migrations apply in number order)",
                w[0].name, w[1].name
            )));
        }
    }
    Ok(out)
}

/// What a new migration file holds.
#[derive(Debug, Clone, Default)]
pub struct NewMigration {
    /// Descriptions (one comment line each).
    pub comments: Vec<String>,
    /// The UP statements.
    pub up: Vec<String>,
    /// The DOWN statements.
    pub down: Vec<String>,
    /// Outside a transaction.
    pub no_transaction: bool,
    /// Hazards going forward.
    pub destructive: Vec<String>,
    /// Hazards going backward.
    pub destructive_down: Vec<String>,
}

/// The text of a migration file.
///
/// ```
/// use hyperdjango_orm::migrate::file::{render, parse, NewMigration};
/// let text = render("0001_initial", &NewMigration { up: vec!["CREATE TABLE t (id int)".into()], down: vec!["DROP TABLE t".into()], ..Default::default() });
/// assert_eq!(parse("0001_initial", &text).unwrap().up, ["CREATE TABLE t (id int)"]);
/// ```
pub fn render(name: &str, m: &NewMigration) -> String {
    let mut s = format!("-- hyperdjango migration {name}\n");
    if m.no_transaction {
        s.push_str("-- hyperdjango: no-transaction\n");
    }
    for d in &m.destructive {
        s.push_str(&format!("-- hyperdjango: destructive: {}\n", one_line(d)));
    }
    for d in &m.destructive_down {
        s.push_str(&format!(
            "-- hyperdjango: destructive-down: {}\n",
            one_line(d)
        ));
    }
    for c in &m.comments {
        s.push_str(&format!("-- {}\n", one_line(c)));
    }
    s.push_str("-- +up\n");
    for st in &m.up {
        s.push_str(st);
        s.push_str(";\n");
    }
    s.push_str("-- +down\n");
    for st in &m.down {
        s.push_str(st);
        s.push_str(";\n");
    }
    s
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Writes a migration file (creating its directory), refusing to overwrite one.
pub fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Migration(format!("creating {}: {e}", dir.display())))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::Migration(format!("writing {}: {e}", path.display())))?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .map_err(|e| Error::Migration(format!("writing {}: {e}", path.display())))
}

/// Splits SQL text into statements at `;`, outside quotes (`'..'`, `".."`, `$tag$..$tag$`)
/// and comments (`--`, nested `/* */`). Comment-only and empty statements are dropped, and
/// so are line comments before a statement; comments inside one are kept.
///
/// ```
/// use hyperdjango_orm::migrate::file::split_statements;
/// let s = split_statements("SELECT ';'; -- a; comment\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;");
/// assert_eq!(s, ["SELECT ';'", "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql"]);
/// ```
pub fn split_statements(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut has_code = false;
    let push = |out: &mut Vec<String>, s: &str, has_code: bool| {
        let mut t = s.trim();
        // Line comments before the statement are dropped.
        while t.starts_with("--") {
            t = t.split_once('\n').map_or("", |(_, rest)| rest).trim_start();
        }
        if has_code && !t.is_empty() {
            out.push(t.to_string());
        }
    };
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                has_code = true;
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' => {
                has_code = true;
                // A dollar quote: $$ or $tag$ (tag: letters, digits, _; not starting with a digit).
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(e) if b[e] == b'$' && !b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                        let tag = &b[i..=e];
                        let body = e + 1;
                        match b[body..].windows(tag.len()).position(|w| w == tag) {
                            Some(p) => i = body + p + tag.len(),
                            None => i = b.len(),
                        }
                    }
                    _ => i += 1,
                }
            }
            b';' => {
                push(&mut out, &sql[start..i], has_code);
                has_code = false;
                i += 1;
                start = i;
            }
            c => {
                if !c.is_ascii_whitespace() {
                    has_code = true;
                }
                i += 1;
            }
        }
    }
    push(&mut out, &sql[start.min(sql.len())..], has_code);
    out
}
