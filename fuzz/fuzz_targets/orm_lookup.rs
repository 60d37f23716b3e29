//! Fuzzes the ORM's run-time string forms: lookup paths (`q::<M>("name__icontains", v)`),
//! `order_by` names (`"-price"`, `"?"`) and `values`/`only`/`defer`/`distinct_on` names.
//!
//! Input: the first byte picks the value given to the lookup (a string, an integer, a bool, a
//! list, a pair, NULL, a float, a list of strings, a (vector, threshold) pair, a JSON value);
//! the rest, which must be UTF-8, is the path or name (and, split
//! on `,`, the list of names for `values`). For every input:
//! - nothing panics;
//! - `q` gives exactly the error an independent model of the grammar predicts (unknown field,
//!   unknown transform, unknown lookup, a lookup on the wrong kind of field, wrong kind of
//!   value), and the message names the bad part; otherwise it is Ok and the queryset
//!   compiles. The grammar depends on the field's kind: after a JSONB field every part is a
//!   key except a last part naming a lookup; array fields take `contains`, `contained_by`,
//!   `overlap` and a list for `exact`; pgvector fields take the distance lookups with a
//!   (vector, threshold) pair;
//! - every SQL text that compiles has all its identifiers quoted: outside `"..."` there are
//!   only SQL keywords, `$n` placeholders and punctuation, and the quotes are balanced.
#![no_main]
use std::sync::Once;

use hyperdjango_orm::QuerySet;
use hyperdjango_orm::lookup::{IntoLookupValue, LookupValue};
use hyperdjango_orm::prelude::*;
use libfuzzer_sys::fuzz_target;

model! {
    #[table = "fz \"items\""]
    #[meta = Meta::new().ordering(["-price"])]
    pub struct Item {
        pub id: Auto<i32> = Field::new().primary_key(),
        pub label: String = Field::new().max_length(50),
        pub price: f64 = Field::new(),
        pub stock: i32 = Field::new().db_column("st\"ock col"),
        pub is_active: bool = Field::new(),
        pub weight_kg: Option<f64> = Field::new(),
        pub attrs: serde_json::Value = Field::new(),
        pub tags: Vec<String> = Field::new(),
        pub embedding: Vector = Field::new().dimensions(3),
    }
}

const FIELDS: &[&str] = &[
    "id",
    "label",
    "price",
    "stock",
    "is_active",
    "weight_kg",
    "attrs",
    "tags",
    "embedding",
];
const VECTOR_LOOKUPS: &[&str] = &["l2_distance", "cosine_distance", "inner_product"];
/// The number of value kinds [`value`] makes.
const KINDS: u8 = 10;
const TRANSFORMS: &[&str] = &[
    "date", "year", "month", "day", "week", "week_day", "quarter", "hour", "minute", "second",
    "lower", "upper", "length",
];
const LOOKUPS: &[&str] = &[
    "exact",
    "iexact",
    "contains",
    "icontains",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "range",
    "isnull",
    "regex",
    "iregex",
    "contained_by",
    "has_key",
    "has_keys",
    "has_any_keys",
    "overlap",
    // Registered below.
    "ne",
];

/// The words SQL text may contain outside quoted identifiers: the compiler's keywords and
/// function names. A field name, table name or fuzz input outside quotes is a bug.
const KEYWORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "ASC", "DESC", "NULLS", "FIRST",
    "LAST", "IS", "NULL", "TRUE", "FALSE", "IN", "BETWEEN", "LIKE", "ILIKE", "ESCAPE", "UPPER",
    "LOWER", "LENGTH", "EXTRACT", "DATE", "YEAR", "MONTH", "DAY", "WEEK", "QUARTER", "HOUR",
    "MINUTE", "SECOND", "DOW", "ISODOW", "RANDOM", "DISTINCT", "ON", "AS", "CAST", "CASE", "WHEN",
    "THEN", "ELSE", "END", "COALESCE", "LIMIT", "OFFSET", "integer", "text", "FLOOR", "date",
    "replace", "to_jsonb", "ARRAY", "TEXT", "JSONB",
];

fn value(kind: u8) -> LookupValue {
    match kind % KINDS {
        0 => "wid".into_lookup_value(),
        1 => 3i32.into_lookup_value(),
        2 => true.into_lookup_value(),
        3 => vec![1i32, 2].into_lookup_value(),
        4 => (1i32, 5i32).into_lookup_value(),
        5 => None::<i32>.into_lookup_value(),
        6 => 2.5f64.into_lookup_value(),
        7 => vec!["a", "b"].into_lookup_value(),
        8 => (Vector(vec![1.0, 2.0, 3.0]), 0.3).into_lookup_value(),
        _ => serde_json::json!({"a": [1, null]}).into_lookup_value(),
    }
}

/// Value kinds that are one value, a list, a pair.
fn is_one(k: u8) -> bool {
    matches!(k, 0 | 1 | 2 | 6 | 9)
}
fn is_list(k: u8) -> bool {
    matches!(k, 3 | 7)
}
fn is_pair(k: u8) -> bool {
    matches!(k, 4 | 8)
}

/// What `q` must answer, from the grammar alone: `None` for Ok, else the message's tail.
fn expected_error(path: &str, kind: u8) -> Option<String> {
    let k = kind % KINDS;
    let mut parts = path.split("__");
    let name = parts.next().unwrap_or_default();
    if !FIELDS.contains(&name) {
        return Some(format!("Item.{name}: no such field"));
    }
    let rest: Vec<&str> = parts.collect();
    let takes =
        |lookup: &str, what: &str| Some(format!("Item.{path}: the {lookup} lookup takes {what}"));
    let needs =
        |lookup: &str, what: &str| Some(format!("Item.{path}: the {lookup} lookup needs {what}"));
    if name == "attrs" {
        // JSONB: every part is a key, but a last part that names a lookup.
        let (keys, lookup) = match rest.split_last() {
            Some((last, init)) if LOOKUPS.contains(last) => (init.len(), *last),
            _ => (rest.len(), "exact"),
        };
        return match lookup {
            "overlap" => needs(lookup, "an array field (attrs is JSONB)"),
            "has_key" if k == 0 => None,
            "has_key" => takes(lookup, "one key (a string)"),
            "has_keys" | "has_any_keys" if k == 0 || k == 7 => None,
            "has_keys" | "has_any_keys" => takes(lookup, "a list of keys"),
            "contains" | "contained_by" if is_one(k) || is_list(k) => None,
            "contains" | "contained_by" => takes(lookup, "a JSON value"),
            "exact" if (k == 5 && keys > 0) || is_list(k) => None,
            _ => value_error(path, lookup, k),
        };
    }
    if rest.len() <= 1 {
        let one = rest.first().copied().unwrap_or("exact");
        if VECTOR_LOOKUPS.contains(&one) {
            return if name != "embedding" {
                needs(one, "a pgvector field")
            } else if is_pair(k) {
                None
            } else {
                takes(one, "a pair (query vector, threshold)")
            };
        }
        if name == "tags" {
            match one {
                "contains" | "contained_by" | "overlap" if is_one(k) || is_list(k) => return None,
                "contains" | "contained_by" | "overlap" => return takes(one, "a list of values"),
                "exact" if is_list(k) => return None,
                _ => {}
            }
        }
    }
    if let Some(last) = rest.last() {
        match *last {
            "has_key" | "has_keys" | "has_any_keys" => return needs(last, "a JSONB field"),
            "contained_by" if name != "tags" => return needs(last, "a JSONB or array field"),
            "overlap" if name != "tags" => return needs(last, "an array field"),
            l if VECTOR_LOOKUPS.contains(&l) => return needs(l, "a pgvector field"),
            _ => {}
        }
    }
    let (transforms, lookup) = match rest.split_last() {
        None => (&[][..], "exact"),
        Some((last, _)) if TRANSFORMS.contains(last) => (&rest[..], "exact"),
        Some((last, init)) => (init, *last),
    };
    if let Some(t) = transforms.iter().find(|t| !TRANSFORMS.contains(t)) {
        return Some(format!("Item.{path}: unknown transform {t:?}"));
    }
    if !LOOKUPS.contains(&lookup) {
        return Some(format!("Item.{path}: unknown lookup {lookup:?}"));
    }
    value_error(path, lookup, k)
}

/// The kind of value a lookup takes: a list for `in`, a pair for `range`, a bool for
/// `isnull`, NULL only for `exact`, else one value.
fn value_error(path: &str, lookup: &str, k: u8) -> Option<String> {
    let takes = |what: &str| Some(format!("Item.{path}: the {lookup} lookup takes {what}"));
    match lookup {
        "in" if is_list(k) => None,
        "range" if is_pair(k) => None,
        "isnull" if k == 2 => None,
        "exact" if k == 5 => None,
        "in" => takes("a list"),
        "range" => takes("a pair (low, high)"),
        "isnull" => takes("a bool"),
        _ if k == 5 => takes("a value, not NULL"),
        _ if is_list(k) || is_pair(k) => takes("one value"),
        _ => None,
    }
}

/// What compiling an accepted path must answer: the text lookups (LIKE) need a string, which
/// only the compiler checks (the value's type is known there).
fn compile_error(path: &str, kind: u8) -> Option<String> {
    let parts: Vec<&str> = path.split("__").collect();
    let name = parts[0];
    let lookup = if parts.len() > 1 {
        parts[parts.len() - 1]
    } else {
        "exact"
    };
    let text_lookup = [
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
    ]
    .contains(&lookup);
    // On JSONB and (as the one lookup) on arrays, contains is @>, not LIKE.
    let containment =
        lookup == "contains" && (name == "attrs" || (name == "tags" && parts.len() == 2));
    (text_lookup && !containment && kind % KINDS != 0).then(|| {
        format!("Item.{name}: a text lookup (contains, startswith, ...) needs a string value")
    })
}

/// Panics unless every identifier in `sql` is quoted.
fn assert_quoted(sql: &str) {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            // A quoted identifier: "" inside is an escaped quote; it must be closed.
            i += 1;
            loop {
                match b.get(i) {
                    None => panic!("unbalanced quote in {sql:?}"),
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
        } else if c == b'\'' {
            // A string literal written by the compiler (a LIKE escape): short, no fuzz text.
            let end = sql[i + 1..]
                .find('\'')
                .unwrap_or_else(|| panic!("unbalanced literal in {sql:?}"));
            assert!(end <= 2, "unexpected literal in {sql:?}");
            i += end + 2;
        } else if c == b'$' {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            assert!(i > start, "bare $ in {sql:?}");
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while b
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                i += 1;
            }
            let word = &sql[start..i];
            assert!(
                KEYWORDS.contains(&word),
                "unquoted word {word:?} in {sql:?}"
            );
        } else if c.is_ascii_digit() {
            i += 1;
        } else {
            assert!(
                b" ,.()*=<>!%:|+-~\\?&@#[]".contains(&c),
                "unexpected character {:?} in {sql:?}",
                c as char
            );
            i += 1;
        }
    }
}

/// Checks a result against the prediction (`None`: Ok; else the start of the error message)
/// and gives the value when it is Ok.
fn expect<T>(
    text: &str,
    what: &str,
    got: hyperdjango_orm::Result<T>,
    want: Option<String>,
) -> Option<T> {
    match (got, want) {
        (Ok(v), None) => Some(v),
        (Err(e), Some(want)) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(&want),
                "{text:?}: got {msg:?}, want {want:?}"
            );
            None
        }
        (Ok(_), Some(want)) => panic!("{text:?} {what}, want {want:?}"),
        (Err(e), None) => panic!("{text:?} not {what}: {e}"),
    }
}

/// Compiles `qs`: Ok must be quoted SQL; an error must name one of `names` (or, for a
/// relation path, its first step).
fn check(qs: &QuerySet<Item>, names: &[&str]) {
    match qs.to_sql() {
        Ok((sql, _)) => assert_quoted(&sql),
        Err(e) => {
            let msg = e.to_string();
            // A relation path (`a__b`) may name the step that fails: here its first.
            assert!(
                names.iter().any(|n| {
                    let first = n.split("__").next().unwrap_or(n);
                    msg.contains(&format!("Item.{n}: ")) || msg.contains(&format!("Item.{first}: "))
                }),
                "error {msg:?} names none of {names:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| hyperdjango_orm::register_lookup("ne", "{lhs} <> {rhs}"));
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };

    // The lookup path: first parsed, then compiled.
    let parsed = expect(
        text,
        "parsed",
        q::<Item>(text, value(kind)),
        expected_error(text, kind),
    );
    if let Some(cond) = parsed {
        let compiled = Item::objects().filter(cond).to_sql();
        if let Some((sql, _)) = expect(text, "compiled", compiled, compile_error(text, kind)) {
            assert_quoted(&sql);
        }
    }

    // The order_by name: "?" is random, a leading '-' is descending.
    let field = text.strip_prefix('-').unwrap_or(text);
    let ordered = Item::objects().order_by(text);
    match ordered.to_sql() {
        Ok((sql, _)) => {
            assert!(
                text == "?" || FIELDS.contains(&field),
                "order_by({text:?}) accepted"
            );
            assert_quoted(&sql);
        }
        Err(e) => {
            assert!(!FIELDS.contains(&field), "order_by({text:?}) refused: {e}");
            check(&ordered, &[field]);
        }
    }

    // Names, comma-separated, for values, only, defer and distinct_on.
    let names: Vec<&str> = text.split(',').collect();
    let all_known = names.iter().all(|n| FIELDS.contains(n));
    for qs in [
        Item::objects().values(&names),
        Item::objects().only(&names),
        Item::objects().defer(&names),
        Item::objects().distinct_on(&names).order_by("id"),
    ] {
        if all_known {
            if let Err(e) = qs.to_sql() {
                panic!("{names:?} refused: {e}");
            }
        }
        check(&qs, &names);
    }
});
