//! JSONB lookups: containment, key existence and key paths (Django's `JSONField` lookups).
//!
//! | string form | typed | SQL |
//! | --- | --- | --- |
//! | `attributes__contains=json!({"cpu": "M4"})` | `Product::attributes.contains(json!({"cpu": "M4"}))` | `attributes @> $1` |
//! | `attributes__contained_by=v` | `.contained_by(v)` | `attributes <@ $1` |
//! | `attributes__has_key="cpu"` | `.has_key("cpu")` | `attributes ? $1` |
//! | `attributes__has_keys=vec!["cpu", "ram_gb"]` | `.has_keys(["cpu", "ram_gb"])` | `attributes ?& ARRAY[$1, $2]` |
//! | `attributes__has_any_keys=vec![..]` | `.has_any_keys([..])` | `attributes ?\| ARRAY[..]` |
//! | `attributes__cpu="M4"` | `.key("cpu").eq("M4")` | `(attributes -> $1) = to_jsonb($2)` |
//! | `attributes__dims__width__gt=10` | `.key("dims").key("width").gt(10)` | `((attributes -> $1) -> $2) > to_jsonb($3)` |
//! | `attributes__ports__0="usb-c"` | `.key("ports").key(0).eq("usb-c")` | `(attributes -> $1) = ...` with `$1` an integer |
//! | `attributes__cpu__icontains="m"` | `.key_text("cpu").icontains("m")` | `(attributes ->> $1) ILIKE $2` |
//!
//! **Key paths.** After a JSONB field, every part of the path is a key, except the last
//! when it names a lookup (so a key called like a lookup, `in` or `contains`, needs an
//! explicit lookup after it: `attributes__in__exact`). A key made of digits is an array
//! index (as in Django). Keys are bind parameters, never SQL text.
//!
//! **Comparisons.** `->` keeps JSON: `exact`, `gt`, `gte`, `lt`, `lte`, `in` and `range`
//! compare JSON values, the value converted with `to_jsonb` (a string matches a JSON
//! string, a number a JSON number; `"32"` does not match `32`). Ordering comparisons follow
//! jsonb's order, which is only meaningful between values of the same JSON type.
//! `contains`/`contained_by` on a key path are JSON containment of that sub-document.
//! The text lookups (`iexact`, `icontains`, `startswith`, `istartswith`, `endswith`,
//! `iendswith`, `regex`, `iregex`) compare the key's value as text (`->>`; a string's text
//! is without its quotes).
//!
//! **Missing keys and NULL.** A missing key (or a path through a non-object) is SQL NULL:
//! no comparison matches it, `isnull=true` does (it means "the key is absent"), and
//! `exclude` keeps those rows. `attributes__cpu=None` (`.key("cpu").eq(serde_json::Value::Null)`)
//! matches a key whose value is JSON `null`; on the field itself (`attributes=None`) `None`
//! is SQL NULL, as in Django.
//!
//! The typed form needs the `serde_json` feature (JSONB fields are `serde_json::Value` or
//! `Json<T>`). `has_key` on a field that is not JSONB, or a key path on one, is an error
//! naming the model and the field (typed: it does not compile).

use crate::error::{Error, Result};
use crate::expr::Node;
use crate::field::FieldMeta;
use crate::lookup::{
    Lookup, LookupValue, Where, builtin_lookup, lookup_op, lookup_rhs, user_lookup,
};

/// Whether a column of this DDL type is JSONB (the only JSON type with these operators).
pub(crate) fn is_json_type(sql_type: &str) -> bool {
    sql_type.eq_ignore_ascii_case("JSONB")
}

/// The lookups that compare a key's value as text (`->>`).
const TEXT_LOOKUPS: &[&str] = &[
    "iexact",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "regex",
    "iregex",
];

/// `doc -> key` (`->>` for text): a key of digits is an array index.
pub(crate) fn key_node(doc: Node, key: &str, text: bool) -> Node {
    let k = match key.parse::<i32>() {
        Ok(i) if key.bytes().all(|b| b.is_ascii_digit()) => Node::param(i),
        _ => Node::param(key.to_string()),
    };
    Node::Binary(Box::new(doc), if text { "->>" } else { "->" }, Box::new(k))
}

/// A value as JSON: `to_jsonb($n)` (its declared type decides the JSON type).
fn to_jsonb(p: crate::expr::Param) -> Node {
    Node::Func("to_jsonb", vec![Node::Param(p)])
}

/// A JSON constant, as a text parameter cast to JSONB.
fn json_text(text: &str) -> Node {
    Node::Cast(Box::new(Node::param(text.to_string())), "JSONB".into())
}

/// A list of parameters as one JSON array.
fn json_array(items: Vec<crate::expr::Param>) -> Node {
    if items.is_empty() {
        return json_text("[]");
    }
    Node::Func(
        "to_jsonb",
        vec![Node::Array(items.into_iter().map(Node::Param).collect())],
    )
}

/// Whether a parameter is text (keys).
fn is_text(p: &crate::expr::Param) -> bool {
    use hyperdjango_pgwire::Type;
    let t = p.sql_type();
    t == Type::TEXT || t == Type::VARCHAR
}

/// The string form on JSONB field `field`: `rest` is the path after the field's name.
pub(crate) fn json_lookup(
    meta: &'static crate::ModelMeta,
    path: &str,
    field: &FieldMeta,
    rest: &[&str],
    value: LookupValue,
) -> Result<Where> {
    let is_lookup = |n: &str| builtin_lookup(n).is_some() || user_lookup(n).is_some();
    let (keys, name) = match rest.split_last() {
        None => (rest, "exact"),
        Some((last, init)) if is_lookup(last) => (init, *last),
        Some(_) => (rest, "exact"),
    };
    let text = TEXT_LOOKUPS.contains(&name);
    let mut lhs = Node::Field(field.index);
    for (k, key) in keys.iter().enumerate() {
        lhs = key_node(lhs, key, text && k + 1 == keys.len());
    }
    if text && keys.is_empty() {
        lhs = Node::Cast(Box::new(lhs), "TEXT".into());
    }
    let op = match lookup_op(meta, path, name)? {
        Lookup::Contains => Lookup::DataContains,
        op => op,
    };
    let bad = |what: &str| {
        Err(Error::field(
            meta.name,
            path,
            format!("the {name} lookup takes {what}"),
        ))
    };
    let lookup = |op: Lookup, rhs: Node| {
        Ok(Where::Lookup {
            lhs: lhs.clone(),
            op,
            rhs: crate::lookup::Rhs::Node(rhs),
        })
    };
    match (&op, value) {
        (Lookup::Overlap, _) => Err(Error::field(
            meta.name,
            path,
            format!(
                "the overlap lookup needs an array field ({} is {})",
                field.name, field.sql_type
            ),
        )),
        (Lookup::HasKey, LookupValue::One(p)) if is_text(&p) => lookup(op, Node::Param(p)),
        (Lookup::HasKey, _) => bad("one key (a string)"),
        (Lookup::HasKeys | Lookup::HasAnyKeys, v) => {
            let keys = match v {
                LookupValue::List(l) => l,
                LookupValue::One(p) => vec![p],
                _ => return bad("a list of keys"),
            };
            if !keys.iter().all(is_text) {
                return bad("a list of keys (strings)");
            }
            let items = keys.into_iter().map(Node::Param).collect();
            lookup(op, crate::containment::array_node(items, "TEXT[]"))
        }
        (Lookup::DataContains | Lookup::ContainedBy, LookupValue::One(p)) => {
            lookup(op, to_jsonb(p))
        }
        (Lookup::DataContains | Lookup::ContainedBy, LookupValue::List(l)) => {
            lookup(op, json_array(l))
        }
        (Lookup::DataContains | Lookup::ContainedBy, _) => bad("a JSON value"),
        // A key whose value is JSON null (on the field itself, None is SQL NULL).
        (Lookup::Exact, LookupValue::Null) if !keys.is_empty() => lookup(op, json_text("null")),
        (Lookup::Exact, LookupValue::List(l)) => lookup(op, json_array(l)),
        (
            Lookup::Exact
            | Lookup::Gt
            | Lookup::Gte
            | Lookup::Lt
            | Lookup::Lte
            | Lookup::In
            | Lookup::Range,
            v,
        ) => lookup_rhs(meta, path, lhs, op, name, v, to_jsonb),
        (_, v) => lookup_rhs(meta, path, lhs, op, name, v, Node::Param),
    }
}

#[cfg(feature = "serde_json")]
pub use typed::{JsonDocument, JsonKey};

#[cfg(feature = "serde_json")]
mod typed {
    use serde_json::Value;

    use crate::containment::{ContainedByValue, ContainsValue, array_node};
    use crate::expr::{Column, Expr, Node, Operand};
    use crate::field::FieldType;
    use crate::lookup::{Lookup, Q, Rhs, Where};

    /// The Rust types of JSONB fields: `serde_json::Value` and `Json<T>`.
    pub trait JsonDocument {}
    impl JsonDocument for Value {}
    impl<T> JsonDocument for hyperdjango_pgwire::types::Json<T> {}

    /// A key of a JSON path: a string (an object key) or an integer (an array index).
    ///
    /// ```
    /// use hyperdjango_orm::json::JsonKey;
    /// fn takes(_: impl JsonKey) {}
    /// takes("cpu");
    /// takes(0);
    /// ```
    pub trait JsonKey {
        /// The key as a bind parameter.
        #[doc(hidden)]
        fn key_node(self) -> Node;
    }
    impl JsonKey for &str {
        fn key_node(self) -> Node {
            Node::param(self.to_string())
        }
    }
    impl JsonKey for String {
        fn key_node(self) -> Node {
            Node::param(self)
        }
    }
    impl JsonKey for i32 {
        fn key_node(self) -> Node {
            Node::param(self)
        }
    }

    // Plain values compare with a JSON expression as the JSON values they are.
    macro_rules! json_operand {
        ($($t:ty),*) => {$(
            impl<M> Operand<M, Value> for $t {
                fn into_node(self) -> Node {
                    Node::param(Value::from(self))
                }
            }
        )*};
    }
    json_operand!(&str, String, i32, i64, f64, bool);

    impl ContainsValue<Value> for Value {
        fn contains_rhs(self) -> (Lookup, Rhs) {
            (Lookup::DataContains, Rhs::Node(Node::param(self)))
        }
    }
    impl<T> ContainsValue<hyperdjango_pgwire::types::Json<T>> for Value {
        fn contains_rhs(self) -> (Lookup, Rhs) {
            (Lookup::DataContains, Rhs::Node(Node::param(self)))
        }
    }
    impl ContainedByValue<Value> for Value {
        fn contained_by_rhs(self) -> Rhs {
            Rhs::Node(Node::param(self))
        }
    }
    impl<T> ContainedByValue<hyperdjango_pgwire::types::Json<T>> for Value {
        fn contained_by_rhs(self) -> Rhs {
            Rhs::Node(Node::param(self))
        }
    }

    fn keys_node<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Node {
        let items = keys.into_iter().map(|k| Node::param(k.into())).collect();
        array_node(items, "TEXT[]")
    }

    macro_rules! json_methods {
        () => {
            fn json_where(self, op: Lookup, rhs: Node) -> Q<M> {
                Q::from_where(Where::Lookup {
                    lhs: self.json_node(),
                    op,
                    rhs: Rhs::Node(rhs),
                })
            }

            /// The value at `key` (`-> key`, still JSON): an object key or an array index.
            /// Compare it with plain values (`.eq("M4")`, `.gt(16)`) or JSON ones; a
            /// missing key is NULL (`.isnull(true)` matches it).
            pub fn key(self, key: impl JsonKey) -> Expr<M, Value> {
                Expr::new(Node::Binary(
                    Box::new(self.json_node()),
                    "->",
                    Box::new(key.key_node()),
                ))
            }

            /// The value at `key` as text (`->> key`), for the text lookups.
            pub fn key_text(self, key: impl JsonKey) -> Expr<M, String> {
                Expr::new(Node::Binary(
                    Box::new(self.json_node()),
                    "->>",
                    Box::new(key.key_node()),
                ))
            }

            /// `?`: the object has `key` at its top level.
            pub fn has_key(self, key: &str) -> Q<M> {
                self.json_where(Lookup::HasKey, Node::param(key.to_string()))
            }

            /// `?&`: the object has every key.
            pub fn has_keys<K: Into<String>>(self, keys: impl IntoIterator<Item = K>) -> Q<M> {
                self.json_where(Lookup::HasKeys, keys_node(keys))
            }

            /// `?|`: the object has at least one of the keys.
            pub fn has_any_keys<K: Into<String>>(self, keys: impl IntoIterator<Item = K>) -> Q<M> {
                self.json_where(Lookup::HasAnyKeys, keys_node(keys))
            }
        };
    }

    /// JSONB field handles: `Product::attributes.key("cpu").eq("M4")`.
    ///
    /// ```
    /// use hyperdjango_orm::prelude::*;
    /// use serde_json::json;
    /// model! {
    ///     #[table = "products"]
    ///     pub struct Product {
    ///         pub id: Auto<i32> = Field::new().primary_key(),
    ///         pub attributes: serde_json::Value = Field::new(),
    ///     }
    /// }
    /// let _qs = Product::objects()
    ///     .filter(Product::attributes.contains(json!({"cpu": "M4"})))
    ///     .filter(Product::attributes.key("ram_gb").gte(16))
    ///     .filter(Product::attributes.key("dims").key("width").lt(40.5))
    ///     .filter(Product::attributes.key_text("cpu").istartswith("m"))
    ///     .filter(Product::attributes.has_keys(["cpu", "ram_gb"]));
    /// ```
    impl<M, T: FieldType> Column<M, T>
    where
        T::Base: JsonDocument,
    {
        fn json_node(self) -> Node {
            Node::Field(self.index())
        }
        json_methods!();
    }

    impl<M> Expr<M, Value> {
        fn json_node(self) -> Node {
            self.into_node()
        }
        json_methods!();
    }
}
