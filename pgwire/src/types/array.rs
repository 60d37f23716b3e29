//! Arrays of any element type: `Vec<T>` and `&[T]` for one dimension (`Vec<Option<T>>` when
//! elements may be NULL), and [`Array<T>`] for any number of dimensions with their lower
//! bounds.
//!
//! The binary format: the number of dimensions, a has-NULLs flag, the element type's OID,
//! then each dimension's length and lower bound, then each element as a length (-1 for NULL)
//! and its bytes, in row-major order. An empty array has zero dimensions.
//!
//! Sending an array of a type defined in the database (an enum, a domain, ...) needs the
//! element type's OID, which only a prepared statement knows: prepare the statement, or send
//! the values as text and cast (`$1::text[]::mood[]`).

use bytes::{BufMut, BytesMut};

use super::{BoxError, FromSql, IsNull, Kind, Reader, ToSql, Type, wire_len, write_nested};

/// PostgreSQL's limit on array dimensions (MAXDIM).
const MAX_DIMS: i32 = 6;

/// One dimension of an array: its length and the index of its first element.
///
/// ```
/// use hyperdjango_pgwire::types::Dimension;
/// let d = Dimension { len: 3, lower_bound: 1 };
/// assert_eq!(d.len, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dimension {
    /// The number of elements along this dimension.
    pub len: i32,
    /// The index of the first element (1 unless the array says otherwise).
    pub lower_bound: i32,
}

/// An N-dimensional array: its dimensions and its elements in row-major order. Use
/// `Array<Option<T>>` when elements may be NULL.
///
/// ```
/// use hyperdjango_pgwire::types::{Array, Dimension};
/// let a = Array::new(
///     vec![Dimension { len: 2, lower_bound: 1 }, Dimension { len: 3, lower_bound: 0 }],
///     vec![1, 2, 3, 4, 5, 6],
/// ).unwrap();
/// assert_eq!(a.get(&[2, 0]), Some(&4));
/// assert_eq!(a.get(&[3, 0]), None);
/// assert!(Array::new(vec![Dimension { len: 2, lower_bound: 1 }], vec![1]).is_err());
/// assert!(Array::<i32>::from_vec(vec![]).dimensions().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Array<T> {
    dims: Vec<Dimension>,
    elements: Vec<T>,
}

impl<T> Array<T> {
    /// An array with the given dimensions; the number of elements must be the product of the
    /// lengths (an array with no dimensions is empty).
    pub fn new(dims: Vec<Dimension>, elements: Vec<T>) -> Result<Array<T>, BoxError> {
        if dims.len() > MAX_DIMS as usize {
            return Err(format!("{} dimensions, PostgreSQL allows at most 6", dims.len()).into());
        }
        let count = element_count(&dims)?;
        if count != elements.len() {
            return Err(format!(
                "the dimensions hold {count} elements but {} were given",
                elements.len()
            )
            .into());
        }
        Ok(Array { dims, elements })
    }

    /// A one-dimensional array with lower bound 1 (no dimensions if `elements` is empty).
    pub fn from_vec(elements: Vec<T>) -> Array<T> {
        let dims = if elements.is_empty() {
            Vec::new()
        } else {
            vec![Dimension {
                len: elements.len() as i32,
                lower_bound: 1,
            }]
        };
        Array { dims, elements }
    }

    /// The dimensions (none for an empty array).
    pub fn dimensions(&self) -> &[Dimension] {
        &self.dims
    }

    /// The elements, in row-major order.
    pub fn elements(&self) -> &[T] {
        &self.elements
    }

    /// The elements, in row-major order.
    pub fn into_elements(self) -> Vec<T> {
        self.elements
    }

    /// The element at PostgreSQL indices `index` (one per dimension, from each lower bound).
    pub fn get(&self, index: &[i32]) -> Option<&T> {
        if index.len() != self.dims.len() || self.dims.is_empty() {
            return None;
        }
        let mut flat = 0usize;
        for (i, d) in index.iter().zip(&self.dims) {
            let off = i.checked_sub(d.lower_bound)?;
            if off < 0 || off >= d.len {
                return None;
            }
            flat = flat * d.len as usize + off as usize;
        }
        self.elements.get(flat)
    }
}

fn element_count(dims: &[Dimension]) -> Result<usize, BoxError> {
    if dims.is_empty() {
        return Ok(0);
    }
    let mut count: usize = 1;
    for d in dims {
        if d.len < 0 {
            return Err(format!("array dimension has a negative length {}", d.len).into());
        }
        if d.lower_bound.checked_add(d.len).is_none() {
            return Err("array dimension's upper bound overflows int4".into());
        }
        count = count
            .checked_mul(d.len as usize)
            .ok_or("array has too many elements")?;
    }
    Ok(count)
}

/// The element type of array type `ty`.
fn element_type(ty: &Type) -> Option<&Type> {
    match ty.base().kind() {
        Kind::Array(elem) => Some(elem),
        _ => None,
    }
}

/// A decoded array header and a reader positioned at the first element.
struct Parsed<'a, 't> {
    dims: Vec<Dimension>,
    count: usize,
    reader: Reader<'a, 't>,
    elem: &'t Type,
}

fn parse<'a, 't>(ty: &'t Type, raw: &'a [u8]) -> Result<Parsed<'a, 't>, BoxError> {
    let elem = element_type(ty).ok_or_else(|| format!("{ty} is not an array type"))?;
    let mut r = Reader::new(ty, raw);
    let ndim = r.i32()?;
    if !(0..=MAX_DIMS).contains(&ndim) {
        return Err(format!("{ty} value has {ndim} dimensions").into());
    }
    let flags = r.i32()?;
    if flags & !1 != 0 {
        return Err(format!("{ty} value has unknown flags {flags:#x}").into());
    }
    let elem_oid = r.u32()?;
    if elem_oid != elem.oid() && !matches!(elem.kind(), Kind::Pseudo) {
        return Err(format!(
            "{ty} value says its elements have type oid {elem_oid}, expected {elem} (oid {})",
            elem.oid()
        )
        .into());
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    for _ in 0..ndim {
        let len = r.i32()?;
        let lower_bound = r.i32()?;
        dims.push(Dimension { len, lower_bound });
    }
    let count = element_count(&dims)?;
    // Every element takes at least its 4-byte length: bound the allocation by the input.
    if count > r.remaining() / 4 {
        return Err(format!(
            "{ty} value declares {count} elements but has only {} bytes for them",
            r.remaining()
        )
        .into());
    }
    Ok(Parsed {
        dims,
        count,
        reader: r,
        elem,
    })
}

fn decode_elements<'a, T: FromSql<'a>>(p: &mut Parsed<'a, '_>) -> Result<Vec<T>, BoxError> {
    let base = p.elem.base();
    let mut out = Vec::with_capacity(p.count);
    for i in 0..p.count {
        let raw = p.reader.value()?;
        out.push(
            T::from_sql_nullable(base, raw).map_err(|e| format!("array element {}: {e}", i + 1))?,
        );
    }
    p.reader.finish()?;
    Ok(out)
}

fn accepts_elements<'a, T: FromSql<'a>>(ty: &Type) -> bool {
    element_type(ty).is_some_and(|e| T::accepts(e.base()))
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Array<T> {
    fn accepts(ty: &Type) -> bool {
        accepts_elements::<T>(ty)
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let mut p = parse(ty, raw)?;
        let elements = decode_elements(&mut p)?;
        Ok(Array {
            dims: p.dims,
            elements,
        })
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Vec<T> {
    fn accepts(ty: &Type) -> bool {
        accepts_elements::<T>(ty)
    }
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let mut p = parse(ty, raw)?;
        if p.dims.len() > 1 {
            return Err(format!(
                "{ty} value has {} dimensions; a Vec holds one (read it as Array<_>)",
                p.dims.len()
            )
            .into());
        }
        decode_elements(&mut p)
    }
}

/// Encodes elements with the given dimensions as array type `ty`.
fn encode<T: ToSql>(
    ty: &Type,
    dims: &[Dimension],
    elements: &[T],
    out: &mut BytesMut,
) -> Result<IsNull, BoxError> {
    let elem = element_type(ty).ok_or_else(|| {
        if *ty == Type::UNSPECIFIED {
            "the array's element type is not known before the query is prepared (it is a type \
             defined in the database): prepare the statement first"
                .to_string()
        } else {
            format!("{ty} is not an array type")
        }
    })?;
    if elem.oid() == 0 {
        return Err("the array's element type is not known".into());
    }
    let base = elem.base();
    out.put_i32(wire_len(dims.len(), "array dimension count")?);
    let flags_at = out.len();
    out.put_i32(0);
    out.put_u32(elem.oid());
    for d in dims {
        out.put_i32(d.len);
        out.put_i32(d.lower_bound);
    }
    let mut has_null = false;
    for (i, e) in elements.iter().enumerate() {
        let at = out.len();
        write_nested(out, e, base).map_err(|err| format!("array element {}: {err}", i + 1))?;
        has_null |= out[at..at + 4] == (-1i32).to_be_bytes();
    }
    if has_null {
        out[flags_at..flags_at + 4].copy_from_slice(&1i32.to_be_bytes());
    }
    Ok(IsNull::No)
}

/// The array type of a sequence of `T`: from `T`'s declared type, or from the first element.
fn array_type_of<T: ToSql>(elements: &[T]) -> Type {
    let declared = T::declared_type();
    if declared != Type::UNSPECIFIED {
        return declared.array_type();
    }
    elements
        .iter()
        .map(ToSql::sql_type)
        .find(|t| *t != Type::UNSPECIFIED)
        .map_or(Type::UNSPECIFIED, |t| t.array_type())
}

fn accepts_values<T: ToSql>(ty: &Type, elements: &[T]) -> bool {
    element_type(ty).is_some_and(|e| elements.iter().all(|v| v.accepts(e.base())))
}

fn one_dim(len: usize) -> Result<Vec<Dimension>, BoxError> {
    Ok(if len == 0 {
        Vec::new()
    } else {
        vec![Dimension {
            len: wire_len(len, "array length")?,
            lower_bound: 1,
        }]
    })
}

impl<T: ToSql> ToSql for [T] {
    fn sql_type(&self) -> Type {
        array_type_of(self)
    }
    fn accepts(&self, ty: &Type) -> bool {
        accepts_values(ty, self)
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        encode(ty, &one_dim(self.len())?, self, out)
    }
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

impl<T: ToSql> ToSql for Vec<T> {
    fn sql_type(&self) -> Type {
        array_type_of(self)
    }
    fn accepts(&self, ty: &Type) -> bool {
        accepts_values(ty, self)
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.as_slice().to_sql(ty, out)
    }
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
    fn declared_type() -> Type {
        T::declared_type().array_type()
    }
}

impl<T: ToSql> ToSql for Array<T> {
    fn sql_type(&self) -> Type {
        array_type_of(&self.elements)
    }
    fn accepts(&self, ty: &Type) -> bool {
        accepts_values(ty, &self.elements)
    }
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        encode(ty, &self.dims, &self.elements, out)
    }
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
    fn declared_type() -> Type {
        T::declared_type().array_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: ToSql + ?Sized>(v: &T) -> Vec<u8> {
        let mut b = BytesMut::new();
        v.to_sql(&v.sql_type(), &mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn one_and_many_dimensions_round_trip() {
        let v = vec![Some(1i32), None, Some(3)];
        let raw = enc(&v);
        assert_eq!(raw[4..8], [0, 0, 0, 1], "has-null flag");
        assert_eq!(
            Vec::<Option<i32>>::from_sql(&Type::INT4_ARRAY, &raw).unwrap(),
            v
        );
        let e = Vec::<i32>::from_sql(&Type::INT4_ARRAY, &raw)
            .unwrap_err()
            .to_string();
        assert!(e.contains("element 2") && e.contains("NULL"), "{e}");
        let empty: Vec<String> = vec![];
        assert_eq!(
            Vec::<String>::from_sql(&Type::TEXT_ARRAY, &enc(&empty)).unwrap(),
            empty
        );

        let dims = vec![
            Dimension {
                len: 2,
                lower_bound: -1,
            },
            Dimension {
                len: 1,
                lower_bound: 5,
            },
            Dimension {
                len: 2,
                lower_bound: 1,
            },
        ];
        let a = Array::new(
            dims,
            vec!["a", "b", "c", "d"]
                .into_iter()
                .map(String::from)
                .collect(),
        )
        .unwrap();
        let raw = enc(&a);
        let back = Array::<String>::from_sql(&Type::TEXT_ARRAY, &raw).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.get(&[0, 5, 2]), Some(&"d".to_string()));
        assert!(Vec::<String>::from_sql(&Type::TEXT_ARRAY, &raw).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = enc(&vec![1i64, 2, 3]);
        for cut in 0..good.len() {
            assert!(
                Vec::<i64>::from_sql(&Type::INT8_ARRAY, &good[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut wrong_oid = good.clone();
        wrong_oid[11] = 23;
        assert!(Vec::<i64>::from_sql(&Type::INT8_ARRAY, &wrong_oid).is_err());
        let mut huge = good.clone();
        huge[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(Vec::<i64>::from_sql(&Type::INT8_ARRAY, &huge).is_err());
        let mut negative = good.clone();
        negative[12..16].copy_from_slice(&(-3i32).to_be_bytes());
        assert!(Vec::<i64>::from_sql(&Type::INT8_ARRAY, &negative).is_err());
        let mut dims = good.clone();
        dims[3] = 9;
        assert!(Vec::<i64>::from_sql(&Type::INT8_ARRAY, &dims).is_err());
        let mut trailing = good;
        trailing.push(0);
        assert!(Vec::<i64>::from_sql(&Type::INT8_ARRAY, &trailing).is_err());
        assert!(Vec::<i64>::from_sql(&Type::INT8, &[0; 12]).is_err());
    }

    #[test]
    fn element_types_are_declared() {
        assert_eq!(vec![1i16].sql_type(), Type::INT2_ARRAY);
        assert_eq!(Vec::<Option<f64>>::declared_type(), Type::FLOAT8_ARRAY);
        assert_eq!(vec!["a"].sql_type(), Type::TEXT_ARRAY);
        assert!(!vec![1i32].accepts(&Type::INT8_ARRAY));
        let mut b = BytesMut::new();
        assert!(vec![1i32].to_sql(&Type::UNSPECIFIED, &mut b).is_err());
    }
}
