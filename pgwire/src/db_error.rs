//! Errors and notices reported by the server (ErrorResponse and NoticeResponse).
//!
//! Every field the server sends is kept: the documented ones have accessors, and any field
//! type a future server adds is kept in [`DbError::other_fields`].

use std::fmt;

use crate::proto::ProtocolError;
use crate::proto::backend::Reader;
use crate::sqlstate::SqlState;

/// Where in the query text an error occurred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPosition {
    /// A 1-based character position in the query the client sent.
    Original(u32),
    /// A position in an internally generated query (e.g. a PL/pgSQL statement).
    Internal {
        /// The 1-based character position.
        position: u32,
        /// The internal query's text.
        query: String,
    },
}

/// The severity of a [`DbError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// ERROR: the current command failed.
    Error,
    /// FATAL: the session is ending.
    Fatal,
    /// PANIC: the whole server is restarting.
    Panic,
    /// WARNING.
    Warning,
    /// NOTICE.
    Notice,
    /// DEBUG.
    Debug,
    /// INFO.
    Info,
    /// LOG.
    Log,
}

impl Severity {
    fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "ERROR" => Severity::Error,
            "FATAL" => Severity::Fatal,
            "PANIC" => Severity::Panic,
            "WARNING" => Severity::Warning,
            "NOTICE" => Severity::Notice,
            "DEBUG" => Severity::Debug,
            "INFO" => Severity::Info,
            "LOG" => Severity::Log,
            _ => return None,
        })
    }
}

/// An error or notice from the server, with every field it sent.
///
/// ```
/// use hyperdjango_pgwire::{DbError, SqlState};
///
/// fn explain(e: &DbError) -> String {
///     if e.code() == &SqlState::UNIQUE_VIOLATION {
///         format!("duplicate value (constraint {:?})", e.constraint())
///     } else {
///         e.to_string()
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    severity: String,
    parsed_severity: Option<Severity>,
    code: SqlState,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    position: Option<ErrorPosition>,
    where_: Option<String>,
    schema: Option<String>,
    table: Option<String>,
    column: Option<String>,
    datatype: Option<String>,
    constraint: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    routine: Option<String>,
    other: Vec<(u8, String)>,
}

impl DbError {
    /// Parses the body of an ErrorResponse or NoticeResponse.
    ///
    /// ```
    /// use hyperdjango_pgwire::{DbError, SqlState};
    ///
    /// let e = DbError::parse(b"SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0\0").unwrap();
    /// assert_eq!(e.code(), &SqlState::UNDEFINED_TABLE);
    /// assert_eq!(e.message(), "relation \"x\" does not exist");
    /// ```
    pub fn parse(body: &[u8]) -> Result<DbError, ProtocolError> {
        let mut r = Reader::new(body, "ErrorResponse");
        let mut severity = None;
        let mut severity_v = None;
        let mut code = None;
        let mut message = None;
        let mut e = DbError {
            severity: String::new(),
            parsed_severity: None,
            code: SqlState::INTERNAL_ERROR,
            message: String::new(),
            detail: None,
            hint: None,
            position: None,
            where_: None,
            schema: None,
            table: None,
            column: None,
            datatype: None,
            constraint: None,
            file: None,
            line: None,
            routine: None,
            other: Vec::new(),
        };
        let mut internal_position = None;
        let mut internal_query = None;
        loop {
            let kind = r.take(1)?[0];
            if kind == 0 {
                break;
            }
            let value = r.cstr()?;
            let owned = || Some(value.to_owned());
            match kind {
                b'S' => severity = owned(),
                b'V' => severity_v = owned(),
                b'C' => code = Some(value),
                b'M' => message = owned(),
                b'D' => e.detail = owned(),
                b'H' => e.hint = owned(),
                b'P' => e.position = Some(ErrorPosition::Original(parse_u32(value, "position")?)),
                b'p' => internal_position = Some(parse_u32(value, "internal position")?),
                b'q' => internal_query = owned(),
                b'W' => e.where_ = owned(),
                b's' => e.schema = owned(),
                b't' => e.table = owned(),
                b'c' => e.column = owned(),
                b'd' => e.datatype = owned(),
                b'n' => e.constraint = owned(),
                b'F' => e.file = owned(),
                b'L' => e.line = Some(parse_u32(value, "line")?),
                b'R' => e.routine = owned(),
                other => e.other.push((other, value.to_owned())),
            }
        }
        r.finish()?;
        if let Some(position) = internal_position {
            e.position = Some(ErrorPosition::Internal {
                position,
                query: internal_query.unwrap_or_default(),
            });
        }
        let missing = |f: &str| ProtocolError::new(format!("ErrorResponse without the {f} field"));
        // 'V' (non-localized severity) exists since 9.6; prefer it for classification.
        e.severity = severity
            .or_else(|| severity_v.clone())
            .ok_or_else(|| missing("severity"))?;
        e.parsed_severity = severity_v
            .as_deref()
            .and_then(Severity::parse)
            .or_else(|| Severity::parse(&e.severity));
        let code = code.ok_or_else(|| missing("SQLSTATE code"))?;
        e.code = SqlState::from_code(code).ok_or_else(|| {
            ProtocolError::new(format!("ErrorResponse with malformed SQLSTATE {code:?}"))
        })?;
        e.message = message.ok_or_else(|| missing("message"))?;
        Ok(e)
    }

    /// The severity as the server sent it (possibly translated).
    pub fn severity(&self) -> &str {
        &self.severity
    }
    /// The severity, parsed from the untranslated field when the server sent it.
    pub fn parsed_severity(&self) -> Option<Severity> {
        self.parsed_severity
    }
    /// The SQLSTATE code. Classify errors by this, never by the message.
    pub fn code(&self) -> &SqlState {
        &self.code
    }
    /// The primary message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The optional detail message.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    /// The optional hint.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    /// Where in the query the error occurred.
    pub fn position(&self) -> Option<&ErrorPosition> {
        self.position.as_ref()
    }
    /// The context (call stack) of the error.
    pub fn where_(&self) -> Option<&str> {
        self.where_.as_deref()
    }
    /// The schema of the object involved.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
    /// The table involved.
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }
    /// The column involved.
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }
    /// The data type involved.
    pub fn datatype(&self) -> Option<&str> {
        self.datatype.as_deref()
    }
    /// The constraint involved.
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }
    /// The server source file that reported the error.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }
    /// The line in that source file.
    pub fn line(&self) -> Option<u32> {
        self.line
    }
    /// The server routine that reported the error.
    pub fn routine(&self) -> Option<&str> {
        self.routine.as_deref()
    }
    /// Fields of types this client does not know, as (field type byte, value).
    pub fn other_fields(&self) -> &[(u8, String)] {
        &self.other
    }
}

fn parse_u32(value: &str, field: &str) -> Result<u32, ProtocolError> {
    value.parse().map_err(|_| {
        ProtocolError::new(format!(
            "ErrorResponse {field} field {value:?} is not a number"
        ))
    })
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_fields_are_kept() {
        let body = b"SERREUR\0VERROR\0C23505\0Mdup\0Dkey (id)=(1)\0Hfix it\0P7\0Wctx\0spublic\0tt\0cid\0dint4\0nt_pkey\0Fnbtinsert.c\0L664\0R_bt_check_unique\0Zzzz\0\0";
        let e = DbError::parse(body).unwrap();
        assert_eq!(e.severity(), "ERREUR");
        assert_eq!(e.parsed_severity(), Some(Severity::Error));
        assert_eq!(e.code(), &SqlState::UNIQUE_VIOLATION);
        assert_eq!(e.message(), "dup");
        assert_eq!(e.detail(), Some("key (id)=(1)"));
        assert_eq!(e.hint(), Some("fix it"));
        assert_eq!(e.position(), Some(&ErrorPosition::Original(7)));
        assert_eq!(e.where_(), Some("ctx"));
        assert_eq!(
            (e.schema(), e.table(), e.column()),
            (Some("public"), Some("t"), Some("id"))
        );
        assert_eq!(
            (e.datatype(), e.constraint()),
            (Some("int4"), Some("t_pkey"))
        );
        assert_eq!(
            (e.file(), e.line(), e.routine()),
            (Some("nbtinsert.c"), Some(664), Some("_bt_check_unique"))
        );
        assert_eq!(e.other_fields(), &[(b'Z', "zzz".to_string())]);
        assert_eq!(
            e.to_string(),
            "ERREUR 23505: dup\nDETAIL: key (id)=(1)\nHINT: fix it"
        );
    }

    #[test]
    fn internal_position() {
        let e = DbError::parse(b"SERROR\0C42601\0Mx\0p3\0qSELECT 1\0\0").unwrap();
        assert_eq!(
            e.position(),
            Some(&ErrorPosition::Internal {
                position: 3,
                query: "SELECT 1".into()
            })
        );
    }

    #[test]
    fn malformed() {
        for (body, want) in [
            (&b"SERROR\0C23505\0"[..], "remain"),
            (b"SERROR\0C23505", "not NUL-terminated"),
            (b"SERROR\0Mx\0\0", "SQLSTATE code"),
            (b"C23505\0Mx\0\0", "severity"),
            (b"SERROR\0C2350\0Mx\0\0", "malformed SQLSTATE"),
            (b"SERROR\0C23505\0\0", "message"),
            (b"SERROR\0C23505\0Mx\0Pabc\0\0", "position"),
            (b"SERROR\0C23505\0Mx\0\0junk", "trailing"),
        ] {
            let e = DbError::parse(body).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
