//! Parameters encoded ahead of time: owned, `Send`, `'static`, ready to be bound later.
//!
//! The query methods take borrowed parameters (`&[&dyn ToSql]`) and encode them straight
//! into the Bind message. A query that is handed to another task first (for example to one
//! that pipelines queries from many callers over a single connection) can't borrow the
//! caller's values, so [`EncodedParams::encode`] turns them into bytes at once, in the
//! caller, exactly as the query methods would have: each value is declared as its
//! [`ToSql::sql_type`] and encoded for that type. The result binds byte for byte the same.
//!
//! ```
//! use hyperdjango_pgwire::EncodedParams;
//!
//! let name = String::from("ann");
//! let params = EncodedParams::encode(&[&42i64, &name, &None::<i32>])?;
//! drop(name); // the encoded parameters own their bytes
//! assert_eq!(params.len(), 3);
//! let refs = params.as_refs(); // what the query methods take
//! assert_eq!(refs.len(), 3);
//! # Ok::<(), hyperdjango_pgwire::Error>(())
//! ```

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use crate::conn::Params;
use crate::error::{Error, Result};
use crate::types::{BoxError, IsNull, ToSql, Type};

/// One parameter value, already encoded in binary for its declared type.
#[derive(Debug, Clone)]
pub struct EncodedParam {
    ty: Type,
    value: Option<Bytes>,
    rust_type: &'static str,
}

impl EncodedParam {
    /// The type the value is declared as.
    ///
    /// ```
    /// # use hyperdjango_pgwire::{EncodedParams, Type};
    /// let params = EncodedParams::encode(&[&7i16])?;
    /// assert_eq!(params.iter().next().unwrap().declared_type(), &Type::INT2);
    /// # Ok::<(), hyperdjango_pgwire::Error>(())
    /// ```
    pub fn declared_type(&self) -> &Type {
        &self.ty
    }

    /// The encoded bytes, or `None` for NULL.
    ///
    /// ```
    /// # use hyperdjango_pgwire::EncodedParams;
    /// let params = EncodedParams::encode(&[&7i16, &None::<i16>])?;
    /// let values: Vec<_> = params.iter().map(|p| p.value().map(<[u8]>::to_vec)).collect();
    /// assert_eq!(values, [Some(vec![0, 7]), None]);
    /// # Ok::<(), hyperdjango_pgwire::Error>(())
    /// ```
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

impl ToSql for EncodedParam {
    fn sql_type(&self) -> Type {
        self.ty.clone()
    }

    /// Only the declared type, for which the bytes were made (a NULL fits any type).
    fn accepts(&self, ty: &Type) -> bool {
        self.value.is_none() || *ty == self.ty
    }

    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if !self.accepts(ty) {
            return Err(format!(
                "the value was encoded in advance as {}, not as {ty}",
                self.ty
            )
            .into());
        }
        match &self.value {
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn rust_type(&self) -> &'static str {
        self.rust_type
    }
}

/// A query's parameters, encoded in advance (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct EncodedParams {
    params: SmallVec<[EncodedParam; 4]>,
}

impl EncodedParams {
    /// Encodes each value for its declared type ([`ToSql::sql_type`]). A value that can't be
    /// encoded is [`Error::Param`], naming its position and both types, as the query
    /// methods would report it.
    ///
    /// ```
    /// # use hyperdjango_pgwire::{EncodedParams, Error};
    /// let err = EncodedParams::encode(&[&1i32, &"a\0b"]).unwrap_err();
    /// assert!(matches!(err, Error::Param { index: 2, .. }), "{err}");
    /// ```
    pub fn encode(params: Params<'_>) -> Result<EncodedParams> {
        let mut buf = BytesMut::new();
        let mut out = SmallVec::with_capacity(params.len());
        for (i, p) in params.iter().enumerate() {
            let ty = p.sql_type();
            let written = p.to_sql(&ty, &mut buf).map_err(|e| Error::Param {
                index: i + 1,
                message: format!(
                    "cannot encode Rust type {} as PostgreSQL type {ty}: {e}",
                    p.rust_type()
                ),
            })?;
            let bytes = buf.split().freeze();
            let value = match written {
                IsNull::No => Some(bytes),
                IsNull::Yes => None,
            };
            out.push(EncodedParam {
                ty,
                value,
                rust_type: p.rust_type(),
            });
        }
        Ok(EncodedParams { params: out })
    }

    /// How many parameters there are.
    ///
    /// ```
    /// # use hyperdjango_pgwire::EncodedParams;
    /// assert_eq!(EncodedParams::encode(&[])?.len(), 0);
    /// # Ok::<(), hyperdjango_pgwire::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether there are none.
    ///
    /// ```
    /// # use hyperdjango_pgwire::EncodedParams;
    /// assert!(EncodedParams::encode(&[])?.is_empty());
    /// # Ok::<(), hyperdjango_pgwire::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The parameters, in order.
    ///
    /// ```
    /// # use hyperdjango_pgwire::{EncodedParams, Type};
    /// let params = EncodedParams::encode(&[&1i64, &"x"])?;
    /// let types: Vec<Type> = params.iter().map(|p| p.declared_type().clone()).collect();
    /// assert_eq!(types, [Type::INT8, Type::TEXT]);
    /// # Ok::<(), hyperdjango_pgwire::Error>(())
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &EncodedParam> {
        self.params.iter()
    }

    /// The parameters as the query methods take them: `conn.query(sql, &params.as_refs())`.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// use hyperdjango_pgwire::EncodedParams;
    /// let params = EncodedParams::encode(&[&41i64])?;
    /// let row = conn.query_one("SELECT $1 + 1", &params.as_refs()).await?;
    /// assert_eq!(row.get::<_, i64>(0)?, 42);
    /// # Ok(()) }
    /// ```
    pub fn as_refs(&self) -> SmallVec<[&(dyn ToSql + Sync); 8]> {
        self.params
            .iter()
            .map(|p| p as &(dyn ToSql + Sync))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_match_what_the_value_itself_writes() {
        let values: [&(dyn ToSql + Sync); 4] = [&-5i32, &"héllo", &2.5f64, &vec![1i64, 2]];
        let encoded = EncodedParams::encode(&values).unwrap();
        for (v, e) in values.iter().zip(encoded.iter()) {
            let mut direct = BytesMut::new();
            v.to_sql(&v.sql_type(), &mut direct).unwrap();
            assert_eq!(e.value(), Some(&direct[..]));
            assert_eq!(e.declared_type(), &v.sql_type());
            assert_eq!(e.rust_type(), v.rust_type());
            let mut again = BytesMut::new();
            assert_eq!(e.to_sql(&v.sql_type(), &mut again).unwrap(), IsNull::No);
            assert_eq!(again, direct);
        }
    }

    #[test]
    fn null_stays_null_and_another_type_is_refused() {
        let encoded = EncodedParams::encode(&[&None::<String>, &1i32]).unwrap();
        let mut out = BytesMut::new();
        let null = encoded.iter().next().unwrap();
        assert_eq!(null.to_sql(&Type::TEXT, &mut out).unwrap(), IsNull::Yes);
        let one = encoded.iter().nth(1).unwrap();
        assert!(one.accepts(&Type::INT4) && !one.accepts(&Type::INT8));
        let err = one.to_sql(&Type::INT8, &mut out).unwrap_err();
        assert!(err.to_string().contains("int4"), "{err}");
        assert!(out.is_empty());
    }
}
