//! Types defined in the database, which the connection looks up by OID and caches:
//!
//! - **enums**: read as `String`/`&str` (their label), or as a Rust enum declared with
//!   [`pg_enum!`](crate::pg_enum);
//! - **domains**: read and written as their base type (nothing to do here: every decoder
//!   sees the base type);
//! - **composite types** (and anonymous `record`s): read field by field through
//!   [`Composite`];
//! - **hstore**: `HashMap<String, Option<String>>`;
//! - **pgvector**: [`Vector`] (`vector`), [`HalfVector`] (`halfvec`) and [`SparseVector`]
//!   (`sparsevec`).
//!
//! Extension types are recognised by name (their OIDs differ between databases). When a
//! query is sent without preparing it, their values are declared as
//! [`Type::UNSPECIFIED`](crate::types::Type::UNSPECIFIED), so the server takes the type from
//! the query (`$1::vector`, or the column an `INSERT` writes to).

use std::collections::HashMap;
use std::hash::BuildHasher;

use bytes::{BufMut, BytesMut};

use super::{BoxError, FromSql, IsNull, Kind, Reader, ToSql, Type, oids, wire_len};

/// Declares a Rust enum that maps to a PostgreSQL enum type, label by label.
///
/// It expands to the enum (with `Debug`, `Clone`, `Copy`, `PartialEq`, `Eq`, `Hash`), a
/// `label()` method and a `from_label()` function, and [`ToSql`]/[`FromSql`] impls that
/// accept the PostgreSQL type by name. A label the Rust enum does not know is a decode error
/// naming it. Values are declared as [`Type::UNSPECIFIED`] when a query is sent without
/// preparing it, so the server infers the enum type from the query.
///
/// ```
/// use hyperdjango_pgwire::pg_enum;
/// use hyperdjango_pgwire::types::{FromSql, Kind, Type};
///
/// pg_enum! {
///     /// How someone feels.
///     pub enum Mood("mood") {
///         Sad = "sad",
///         Ok = "ok",
///         Happy = "happy",
///     }
/// }
///
/// assert_eq!(Mood::Happy.label(), "happy");
/// assert_eq!(Mood::from_label("ok"), Some(Mood::Ok));
/// let mood = Type::new(20000, "mood", "public", Kind::Enum(vec!["sad".into(), "ok".into(), "happy".into()]));
/// assert_eq!(Mood::from_sql(&mood, b"sad").unwrap(), Mood::Sad);
/// assert!(Mood::from_sql(&mood, b"meh").is_err());
/// assert!(!<Mood as FromSql>::accepts(&Type::INT4));
/// ```
#[macro_export]
macro_rules! pg_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($pg:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $label:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The PostgreSQL label of this value.
            pub fn label(&self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }

            /// The value with PostgreSQL label `label`.
            pub fn from_label(label: &str) -> ::std::option::Option<$name> {
                match label {
                    $($label => ::std::option::Option::Some($name::$variant),)+
                    _ => ::std::option::Option::None,
                }
            }
        }

        impl $crate::types::ToSql for $name {
            fn sql_type(&self) -> $crate::types::Type {
                $crate::types::Type::UNSPECIFIED
            }
            fn accepts(&self, ty: &$crate::types::Type) -> bool {
                ty.is_named($pg) || <&str as $crate::types::FromSql>::accepts(ty)
            }
            fn to_sql(
                &self,
                ty: &$crate::types::Type,
                out: &mut $crate::__private::BytesMut,
            ) -> ::std::result::Result<$crate::types::IsNull, $crate::types::BoxError> {
                $crate::types::ToSql::to_sql(self.label(), ty, out)
            }
            fn rust_type(&self) -> &'static str {
                stringify!($name)
            }
        }

        impl<'a> $crate::types::FromSql<'a> for $name {
            fn accepts(ty: &$crate::types::Type) -> bool {
                ty.is_named($pg) || <&str as $crate::types::FromSql>::accepts(ty)
            }
            fn from_sql(
                ty: &$crate::types::Type,
                raw: &'a [u8],
            ) -> ::std::result::Result<Self, $crate::types::BoxError> {
                let label = <&str as $crate::types::FromSql>::from_sql(ty, raw)?;
                $name::from_label(label).ok_or_else(|| {
                    format!("{ty} label {label:?} is not a value of Rust enum {}", stringify!($name)).into()
                })
            }
        }
    };
}

/// A composite value (a row type, or an anonymous `record`), read field by field.
///
/// The binary format: the field count, then each field's type OID, length (-1 for NULL) and
/// bytes. Field names come from the column's type, when it is a named composite type.
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// use hyperdjango_pgwire::types::Composite;
/// let row = conn.query_one("SELECT ROW(1, 'two')", &[]).await?;
/// let c: Composite = row.get(0)?;
/// assert_eq!(c.get::<i32>(0).unwrap(), 1);
/// assert_eq!(c.get::<&str>(1).unwrap(), "two");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Composite<'a> {
    ty: Type,
    fields: Vec<(Type, Option<&'a [u8]>)>,
}

impl<'a> Composite<'a> {
    /// The composite's type.
    pub fn type_(&self) -> &Type {
        &self.ty
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The names of the fields, when the type is a named composite type.
    pub fn field_names(&self) -> Vec<&str> {
        match self.ty.kind() {
            Kind::Composite(fields) => fields.iter().map(|f| f.name()).collect(),
            _ => Vec::new(),
        }
    }

    /// The type of field `i`.
    pub fn field_type(&self, i: usize) -> Option<&Type> {
        self.fields.get(i).map(|f| &f.0)
    }

    /// Decodes field `i` (0-based) as `T`.
    pub fn get<T: FromSql<'a>>(&self, i: usize) -> Result<T, BoxError> {
        let (ty, raw) = self
            .fields
            .get(i)
            .ok_or_else(|| format!("{} has {} fields, no field {i}", self.ty, self.fields.len()))?;
        let base = ty.base();
        if !T::accepts(base) {
            return Err(format!(
                "cannot read field {i} of {}, of PostgreSQL type {ty}, as Rust type {}",
                self.ty,
                std::any::type_name::<T>()
            )
            .into());
        }
        T::from_sql_nullable(base, *raw)
            .map_err(|e| format!("field {i} of {}: {e}", self.ty).into())
    }

    /// Decodes the field named `name` as `T`.
    pub fn get_by_name<T: FromSql<'a>>(&self, name: &str) -> Result<T, BoxError> {
        let i = self
            .field_names()
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| format!("{} has no field named {name:?}", self.ty))?;
        self.get(i)
    }
}

fn is_composite(ty: &Type) -> bool {
    matches!(ty.kind(), Kind::Composite(_)) || ty.oid() == oids::RECORD
}

impl<'a> FromSql<'a> for Composite<'a> {
    fn accepts(ty: &Type) -> bool {
        is_composite(ty)
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let declared: &[super::Field] = match ty.kind() {
            Kind::Composite(f) => f,
            _ => &[],
        };
        let mut r = Reader::new(ty, raw);
        let n = r.i32()?;
        if n < 0 || n as usize > r.remaining() / 8 {
            return Err(
                format!("{ty} value declares {n} fields in {} bytes", r.remaining()).into(),
            );
        }
        if !declared.is_empty() && n as usize != declared.len() {
            return Err(
                format!("{ty} value has {n} fields, the type has {}", declared.len()).into(),
            );
        }
        let mut fields = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            let oid = r.u32()?;
            let value = r.value()?;
            // The catalog's description knows the field's name and structure; the value's own
            // OID is authoritative for records.
            let fty = match declared.get(i) {
                Some(f) if f.type_().oid() == oid => f.type_().clone(),
                Some(f) => {
                    return Err(format!(
                        "{ty} value's field {i} has type oid {oid}, the type says {}",
                        f.type_()
                    )
                    .into());
                }
                None => Type::from_oid(oid),
            };
            fields.push((fty, value));
        }
        r.finish()?;
        Ok(Composite {
            ty: ty.clone(),
            fields,
        })
    }
}

impl<S: BuildHasher + Default> ToSql for HashMap<String, Option<String>, S> {
    fn sql_type(&self) -> Type {
        Type::UNSPECIFIED
    }
    fn accepts(&self, ty: &Type) -> bool {
        ty.is_named("hstore")
    }
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i32(wire_len(self.len(), "hstore size")?);
        let put = |s: &str, out: &mut BytesMut| -> Result<(), BoxError> {
            if s.contains('\0') {
                return Err("hstore keys and values cannot contain NUL bytes".into());
            }
            out.put_i32(wire_len(s.len(), "hstore string length")?);
            out.put_slice(s.as_bytes());
            Ok(())
        };
        for (k, v) in self {
            put(k, out)?;
            match v {
                Some(v) => put(v, out)?,
                None => out.put_i32(-1),
            }
        }
        Ok(IsNull::No)
    }
    fn rust_type(&self) -> &'static str {
        "HashMap<String, Option<String>>"
    }
}

impl<'a, S: BuildHasher + Default> FromSql<'a> for HashMap<String, Option<String>, S> {
    fn accepts(ty: &Type) -> bool {
        ty.is_named("hstore")
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let mut r = Reader::new(ty, raw);
        let n = r.i32()?;
        if n < 0 || n as usize > r.remaining() / 8 {
            return Err(format!("{ty} value declares {n} pairs in {} bytes", r.remaining()).into());
        }
        let text = |b: &[u8]| -> Result<String, BoxError> {
            String::from_utf8(b.to_vec())
                .map_err(|e| format!("{ty} text is not valid UTF-8: {e}").into())
        };
        let mut map = HashMap::with_capacity_and_hasher(n as usize, S::default());
        for _ in 0..n {
            let key = r
                .value()?
                .ok_or_else(|| format!("{ty} value has a NULL key"))?;
            let value = r.value()?.map(text).transpose()?;
            map.insert(text(key)?, value);
        }
        r.finish()?;
        Ok(map)
    }
}

/// A pgvector `vector`: single-precision floats.
///
/// ```
/// use hyperdjango_pgwire::types::{FromSql, Kind, ToSql, Type, Vector};
/// let ty = Type::new(30000, "vector", "public", Kind::Simple);
/// let mut buf = bytes::BytesMut::new();
/// Vector(vec![1.0, -2.5]).to_sql(&ty, &mut buf).unwrap();
/// assert_eq!(Vector::from_sql(&ty, &buf).unwrap(), Vector(vec![1.0, -2.5]));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vector(pub Vec<f32>);

/// A pgvector `halfvec`: half-precision floats, held here as the `f32`s they are exactly.
///
/// Sending a value that half precision cannot hold exactly is an error; round first with
/// [`HalfVector::rounded`].
///
/// ```
/// use hyperdjango_pgwire::types::HalfVector;
/// let h = HalfVector::rounded(vec![0.1, 1.0]);
/// assert_eq!(h.0, [0.099975586, 1.0]);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HalfVector(pub Vec<f32>);

impl HalfVector {
    /// Each value rounded to the nearest half-precision float (ties to even).
    pub fn rounded(values: Vec<f32>) -> HalfVector {
        HalfVector(
            values
                .into_iter()
                .map(|v| f16_to_f32(f32_to_f16(v, false).unwrap_or(0x7e00)))
                .collect(),
        )
    }
}

/// A pgvector `sparsevec`: a dimension and the non-zero elements (0-based indices, strictly
/// increasing).
///
/// ```
/// use hyperdjango_pgwire::types::SparseVector;
/// let s = SparseVector::new(5, vec![0, 3], vec![1.5, -2.0]).unwrap();
/// assert_eq!(s.to_dense(), [1.5, 0.0, 0.0, -2.0, 0.0]);
/// assert!(SparseVector::new(2, vec![2], vec![1.0]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseVector {
    dim: i32,
    indices: Vec<i32>,
    values: Vec<f32>,
}

impl SparseVector {
    /// A sparse vector of dimension `dim` with `values` at `indices`.
    pub fn new(dim: i32, indices: Vec<i32>, values: Vec<f32>) -> Result<SparseVector, BoxError> {
        if indices.len() != values.len() {
            return Err(format!("{} indices but {} values", indices.len(), values.len()).into());
        }
        if dim < 0 {
            return Err(format!("negative dimension {dim}").into());
        }
        let mut prev = -1;
        for &i in &indices {
            if i <= prev || i >= dim {
                return Err(format!(
                    "sparse vector indices must increase and lie below the dimension {dim}: {i}"
                )
                .into());
            }
            prev = i;
        }
        Ok(SparseVector {
            dim,
            indices,
            values,
        })
    }

    /// The dimension.
    pub fn dim(&self) -> i32 {
        self.dim
    }

    /// The indices of the stored elements (0-based).
    pub fn indices(&self) -> &[i32] {
        &self.indices
    }

    /// The stored elements.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The dense form.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut v = vec![0.0; self.dim.max(0) as usize];
        for (i, x) in self.indices.iter().zip(&self.values) {
            v[*i as usize] = *x;
        }
        v
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f32::from(h & 0x3ff);
    match exp {
        0 => sign * mant * 2f32.powi(-24),
        31 if mant == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + mant / 1024.0) * 2f32.powi(exp - 15),
    }
}

/// The half-precision bits of `v`: exactly, or (with `exact` false) rounded to nearest even.
fn f32_to_f16(v: f32, exact: bool) -> Result<u16, BoxError> {
    let sign = if v.is_sign_negative() { 0x8000u16 } else { 0 };
    if v.is_nan() {
        return Err("NaN is not allowed in a halfvec".into());
    }
    let a = v.abs();
    if a.is_infinite() {
        return Ok(sign | 0x7c00);
    }
    // Candidates: scale to an integer number of the smallest unit for this binade.
    let bits = if a < 2f32.powi(-14) {
        // Subnormal: multiples of 2^-24.
        let m = (a * 2f32.powi(24)).round_ties_even();
        m as u16
    } else {
        let e = a.log2().floor() as i32;
        // Guard against log2 rounding at binade edges.
        let e = if 2f32.powi(e) > a {
            e - 1
        } else if 2f32.powi(e + 1) <= a {
            e + 1
        } else {
            e
        };
        let m = (a / 2f32.powi(e) * 1024.0).round_ties_even() - 1024.0;
        let (e, m) = if m >= 1024.0 { (e + 1, 0.0) } else { (e, m) };
        if e > 15 {
            return Err(format!("{v} is too large for a halfvec (at most 65504)").into());
        }
        (((e + 15) as u16) << 10) | m as u16
    };
    let h = sign | bits;
    if exact && f16_to_f32(h) != v {
        return Err(format!(
            "{v} is not exactly representable in half precision (use HalfVector::rounded)"
        )
        .into());
    }
    Ok(h)
}

macro_rules! extension_type {
    ($t:ty, $pg:literal, |$ty:ident, $raw:ident| $dec:expr, |$v:ident, $out:ident| $enc:expr) => {
        impl ToSql for $t {
            fn sql_type(&self) -> Type {
                Type::UNSPECIFIED
            }
            fn accepts(&self, ty: &Type) -> bool {
                ty.is_named($pg)
            }
            fn to_sql(&self, _ty: &Type, $out: &mut BytesMut) -> Result<IsNull, BoxError> {
                let $v = self;
                $enc;
                Ok(IsNull::No)
            }
            fn rust_type(&self) -> &'static str {
                stringify!($t)
            }
        }

        impl<'a> FromSql<'a> for $t {
            fn accepts(ty: &Type) -> bool {
                ty.is_named($pg)
            }
            fn from_sql($ty: &Type, $raw: &'a [u8]) -> Result<Self, BoxError> {
                $dec
            }
        }
    };
}

/// Reads the `dim`/`unused` header of vector and halfvec.
fn vector_header(r: &mut Reader<'_, '_>, ty: &Type, width: usize) -> Result<usize, BoxError> {
    let dim = r.u16()? as usize;
    let _unused = r.u16()?;
    if r.remaining() != dim * width {
        return Err(format!(
            "{ty} value of {dim} dimensions carries {} bytes",
            r.remaining()
        )
        .into());
    }
    Ok(dim)
}

fn dim16(n: usize) -> Result<u16, BoxError> {
    u16::try_from(n)
        .map_err(|_| format!("a vector of {n} dimensions exceeds pgvector's 16000").into())
}

extension_type!(
    Vector,
    "vector",
    |ty, raw| {
        let mut r = Reader::new(ty, raw);
        let dim = vector_header(&mut r, ty, 4)?;
        (0..dim)
            .map(|_| r.f32())
            .collect::<Result<_, _>>()
            .map(Vector)
    },
    |v, out| {
        out.put_u16(dim16(v.0.len())?);
        out.put_u16(0);
        for x in &v.0 {
            out.put_f32(*x);
        }
    }
);

extension_type!(
    HalfVector,
    "halfvec",
    |ty, raw| {
        let mut r = Reader::new(ty, raw);
        let dim = vector_header(&mut r, ty, 2)?;
        (0..dim)
            .map(|_| r.u16().map(f16_to_f32))
            .collect::<Result<_, _>>()
            .map(HalfVector)
    },
    |v, out| {
        out.put_u16(dim16(v.0.len())?);
        out.put_u16(0);
        for x in &v.0 {
            out.put_u16(f32_to_f16(*x, true)?);
        }
    }
);

extension_type!(
    SparseVector,
    "sparsevec",
    |ty, raw| {
        let mut r = Reader::new(ty, raw);
        let dim = r.i32()?;
        let nnz = r.i32()?;
        let _unused = r.i32()?;
        if nnz < 0 || r.remaining() != nnz as usize * 8 {
            return Err(format!(
                "{ty} value with {nnz} elements carries {} bytes",
                r.remaining()
            )
            .into());
        }
        let indices = (0..nnz).map(|_| r.i32()).collect::<Result<Vec<_>, _>>()?;
        let values = (0..nnz).map(|_| r.f32()).collect::<Result<Vec<_>, _>>()?;
        SparseVector::new(dim, indices, values).map_err(|e| format!("{ty} value: {e}").into())
    },
    |v, out| {
        out.put_i32(v.dim);
        out.put_i32(wire_len(v.indices.len(), "sparsevec element count")?);
        out.put_i32(0);
        for i in &v.indices {
            out.put_i32(*i);
        }
        for x in &v.values {
            out.put_f32(*x);
        }
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Type {
        Type::new(50000, name, "public", Kind::Simple)
    }

    #[test]
    fn half_precision_conversions() {
        for h in [
            0u16, 1, 0x3ff, 0x400, 0x3c00, 0x7bff, 0x8001, 0xfc00, 0x7c00, 0x3555,
        ] {
            assert_eq!(f32_to_f16(f16_to_f32(h), true).unwrap(), h, "{h:#x}");
        }
        assert!(f32_to_f16(0.1, true).is_err());
        assert_eq!(f32_to_f16(0.1, false).unwrap(), 0x2e66);
        assert!(f32_to_f16(70000.0, false).is_err());
        assert!(f32_to_f16(f32::NAN, false).is_err());
        assert_eq!(f32_to_f16(65504.0, true).unwrap(), 0x7bff);
    }

    #[test]
    fn malformed_extension_values_are_errors() {
        let vector = named("vector");
        assert!(Vector::from_sql(&vector, &[0, 2, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Vector::from_sql(&vector, &[0]).is_err());
        assert!(!<Vector as FromSql>::accepts(&Type::FLOAT4_ARRAY));
        let half = named("halfvec");
        assert!(HalfVector::from_sql(&half, &[0, 1, 0, 0, 0]).is_err());
        let sparse = named("sparsevec");
        let mut b = BytesMut::new();
        SparseVector::new(4, vec![1, 3], vec![1.0, 2.0])
            .unwrap()
            .to_sql(&sparse, &mut b)
            .unwrap();
        assert_eq!(
            SparseVector::from_sql(&sparse, &b).unwrap().to_dense(),
            [0.0, 1.0, 0.0, 2.0]
        );
        for cut in 0..b.len() {
            assert!(SparseVector::from_sql(&sparse, &b[..cut]).is_err());
        }
        let mut unsorted = b.to_vec();
        unsorted[12..16].copy_from_slice(&3i32.to_be_bytes());
        assert!(SparseVector::from_sql(&sparse, &unsorted).is_err());
        let hstore = named("hstore");
        assert!(HashMap::<String, Option<String>>::from_sql(&hstore, &[0, 0, 0, 1]).is_err());
        assert!(
            HashMap::<String, Option<String>>::from_sql(
                &hstore,
                &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
            )
            .is_err()
        );
    }

    #[test]
    fn composites_check_their_structure() {
        let rec = Type::RECORD;
        // (1::int4, NULL)
        let raw = [
            0, 0, 0, 2, 0, 0, 0, 23, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff,
        ];
        let c = Composite::from_sql(&rec, &raw).unwrap();
        assert_eq!(c.get::<i32>(0).unwrap(), 1);
        assert_eq!(c.get::<Option<&str>>(1).unwrap(), None);
        assert!(c.get::<&str>(0).is_err());
        assert!(c.get::<i32>(5).is_err());
        for cut in 0..raw.len() {
            assert!(Composite::from_sql(&rec, &raw[..cut]).is_err());
        }
    }
}
