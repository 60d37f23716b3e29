//! The SQL compiler: queries to SQL text and bind parameters.
//!
//! Every value becomes a `$n` parameter; every identifier is quoted (`"name"`, inner `"`
//! doubled). The top-level table is referred to by its quoted name; subqueries use the
//! aliases `"u1"`, `"u2"`, ... by depth, so `OuterRef` can reach the enclosing query.
//! Statements that only depend on the model (the column list, INSERT, UPDATE by primary key,
//! DELETE by primary key, refresh) are compiled once per model and cached in its metadata;
//! the driver then caches the prepared statement per SQL text, so a query shape is parsed
//! and planned once per connection.
//!
//! SELECTs of the common shapes (model rows; filters of `=`, `<`, `<=`, `>`, `>=`, `in`,
//! `isnull` and `exact(None)` on fields joined with AND/OR/NOT; ordering by fields or random;
//! limit and offset) are compiled once per *query shape*: the structure of the query without
//! its parameter values. A repeated shape reuses the cached SQL string (the same
//! `Arc<str>`) and only collects its parameters.

use std::fmt::Write as _;
use std::sync::Arc;

use hyperdjango_pgwire::Type;

use crate::error::{Error, Result};
use crate::expr::{Node, Param};
use crate::lookup::{Lookup, Rhs, Where};
use crate::model::ModelMeta;
use crate::query::{OrderTerm, Query, Select};

/// Quotes an identifier: `"` around it, inner `"` doubled, NUL dropped.
///
/// ```
/// assert_eq!(hyperdjango_orm::compiler::quote(r#"we"ird"#), r#""we""ird""#);
/// ```
pub fn quote(name: &str) -> String {
    hyperdjango_pgwire::quote_identifier(name)
        .unwrap_or_else(|_| format!("\"{}\"", name.replace('\0', "").replace('"', "\"\"")))
}

/// Compiled SQL with its parameters.
pub(crate) struct Compiled {
    pub(crate) sql: Arc<str>,
    pub(crate) params: Vec<Param>,
    /// Fields used with regex lookups (named when the server rejects a pattern).
    pub(crate) regex_fields: Vec<String>,
    pub(crate) model: &'static str,
}

impl Compiled {
    pub(crate) fn refs(&self) -> Vec<&(dyn hyperdjango_pgwire::ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| &**p as &(dyn hyperdjango_pgwire::ToSql + Sync))
            .collect()
    }

    /// Turns the server's "invalid regular expression" into an error naming the field.
    pub(crate) fn map_err(&self, e: Error) -> Error {
        if e.code() == Some(&hyperdjango_pgwire::SqlState::INVALID_REGULAR_EXPRESSION)
            && !self.regex_fields.is_empty()
        {
            return Error::field(
                self.model,
                self.regex_fields.join(", "),
                format!("invalid regular expression: {e}"),
            );
        }
        e
    }
}

struct Scope {
    model: &'static ModelMeta,
    alias: String,
    annotations: Vec<(String, Node)>,
}

pub(crate) struct Ctx {
    pub(crate) params: Vec<Param>,
    scopes: Vec<Scope>,
    regex_fields: Vec<String>,
    /// Inside a combinator's ORDER BY: columns by bare name.
    bare: bool,
}

impl Ctx {
    pub(crate) fn new() -> Self {
        Ctx {
            params: Vec::new(),
            scopes: Vec::new(),
            regex_fields: Vec::new(),
            bare: false,
        }
    }

    fn push_param(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    fn scope(&self) -> &Scope {
        self.scopes.last().expect("a scope")
    }

    fn column(&self, scope: &Scope, i: usize) -> Result<String> {
        let f =
            scope.model.fields.get(i).ok_or_else(|| {
                Error::Usage(format!("{}: no field number {i}", scope.model.name))
            })?;
        if self.bare {
            return Ok(quote(f.column));
        }
        Ok(format!("{}.{}", scope.alias, quote(f.column)))
    }

    fn field_label(&self, n: &Node) -> String {
        match n {
            Node::Field(i) => self
                .scope()
                .model
                .fields
                .get(*i)
                .map(|f| f.name.to_string())
                .unwrap_or_default(),
            Node::Name(n) => n.clone(),
            Node::Func(_, a) if !a.is_empty() => self.field_label(&a[0]),
            Node::Extract(_, a) | Node::Neg(a) | Node::Cast(a, _) | Node::Binary(a, _, _) => {
                self.field_label(a)
            }
            _ => "expression".into(),
        }
    }

    pub(crate) fn node(&mut self, n: &Node, out: &mut String) -> Result<()> {
        match n {
            Node::Field(i) => {
                let s = self.column(self.scope(), *i)?;
                out.push_str(&s);
            }
            Node::Name(name) => {
                let scope = self.scope();
                if let Some((_, e)) = scope.annotations.iter().find(|(a, _)| a == name) {
                    if self.bare {
                        out.push_str(&quote(name));
                        return Ok(());
                    }
                    let e = e.clone();
                    out.push('(');
                    self.node(&e, out)?;
                    out.push(')');
                } else if scope.model.field(name).is_none() && name.contains("__") {
                    // A path across relations (`customer__name`): a scalar subquery per step.
                    let n = crate::relations::path_node(scope.model, name)?;
                    self.node(&n, out)?;
                } else {
                    let f = scope.model.field_or_err(name)?;
                    let s = self.column(scope, f.index)?;
                    out.push_str(&s);
                }
            }
            Node::Outer(name) => {
                let n = self.scopes.len();
                if n < 2 {
                    return Err(Error::Usage(format!(
                        "OuterRef({name:?}) used outside a subquery"
                    )));
                }
                let outer = &self.scopes[n - 2];
                let f = outer.model.field_or_err(name)?;
                let s = self.column(outer, f.index)?;
                out.push_str(&s);
            }
            Node::Param(p) => {
                let s = self.push_param(p.clone());
                out.push_str(&s);
            }
            Node::Null => out.push_str("NULL"),
            Node::Binary(a, op, b) => {
                out.push('(');
                self.node(a, out)?;
                let _ = write!(out, " {op} ");
                self.node(b, out)?;
                out.push(')');
            }
            Node::Neg(a) => {
                out.push_str("(-");
                self.node(a, out)?;
                out.push(')');
            }
            Node::Func(name, args) => {
                out.push_str(name);
                out.push('(');
                self.node_list(args, out)?;
                out.push(')');
            }
            Node::Extract(part, a) => match *part {
                "DATE" => {
                    out.push('(');
                    self.node(a, out)?;
                    out.push_str(")::date");
                }
                "WEEK_DAY" => {
                    out.push_str("(EXTRACT(DOW FROM ");
                    self.node(a, out)?;
                    out.push_str(")::integer + 1)");
                }
                "SECOND" => {
                    out.push_str("FLOOR(EXTRACT(SECOND FROM ");
                    self.node(a, out)?;
                    out.push_str("))::integer");
                }
                part => {
                    let _ = write!(out, "EXTRACT({part} FROM ");
                    self.node(a, out)?;
                    out.push_str(")::integer");
                }
            },
            Node::Cast(a, ty) => {
                out.push_str("CAST(");
                self.node(a, out)?;
                let _ = write!(out, " AS {ty})");
            }
            Node::Agg {
                func,
                distinct,
                arg,
                filter,
            } => {
                out.push_str(func);
                out.push('(');
                if *distinct {
                    out.push_str("DISTINCT ");
                }
                match arg {
                    Some(a) => self.node(a, out)?,
                    None => out.push('*'),
                }
                out.push(')');
                if let Some(w) = filter {
                    out.push_str(" FILTER (WHERE ");
                    self.cond(w, out)?;
                    out.push(')');
                }
            }
            Node::Case(whens, default) => {
                out.push_str("CASE");
                for (c, v) in whens {
                    out.push_str(" WHEN ");
                    self.cond(c, out)?;
                    out.push_str(" THEN ");
                    self.node(v, out)?;
                }
                if let Some(d) = default {
                    out.push_str(" ELSE ");
                    self.node(d, out)?;
                }
                out.push_str(" END");
            }
            Node::Subquery(q) => {
                out.push('(');
                self.select(q, out)?;
                out.push(')');
            }
            Node::Cond(w) => {
                out.push('(');
                self.cond(w, out)?;
                out.push(')');
            }
            Node::Raw(sql, params) => self.raw(sql, params, out)?,
            Node::Random => out.push_str("RANDOM()"),
            Node::Array(items) => {
                out.push_str("ARRAY[");
                self.node_list(items, out)?;
                out.push(']');
            }
        }
        Ok(())
    }

    /// Nodes separated by commas.
    fn node_list(&mut self, items: &[Node], out: &mut String) -> Result<()> {
        for (k, a) in items.iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            self.node(a, out)?;
        }
        Ok(())
    }

    fn raw(&mut self, sql: &str, params: &[Param], out: &mut String) -> Result<()> {
        let parts: Vec<&str> = sql.split("%s").collect();
        if parts.len() - 1 != params.len() {
            return Err(Error::Usage(format!(
                "raw SQL {sql:?} has {} %s for {} parameters",
                parts.len() - 1,
                params.len()
            )));
        }
        for (k, part) in parts.iter().enumerate() {
            out.push_str(part);
            if k < params.len() {
                let s = self.push_param(params[k].clone());
                out.push_str(&s);
            }
        }
        Ok(())
    }

    fn is_nullable(&self, n: &Node) -> bool {
        let scope = self.scope();
        match n {
            Node::Field(i) => scope.model.fields.get(*i).is_some_and(|f| f.nullable),
            Node::Name(name) => scope.model.field(name).is_none_or(|f| f.nullable),
            Node::Extract(_, a) => self.is_nullable(a),
            Node::Func(_, a) => a.first().is_some_and(|a| self.is_nullable(a)),
            // A JSON key may be missing: NULL.
            Node::Binary(_, "->" | "->>", _) => true,
            n if crate::vector::distance_operand(n).is_some() => {
                crate::vector::distance_operand(n).is_some_and(|c| self.is_nullable(c))
            }
            _ => false,
        }
    }

    pub(crate) fn cond(&mut self, w: &Where, out: &mut String) -> Result<()> {
        match w {
            Where::And(v) | Where::Or(v) => {
                let (sep, empty) = if matches!(w, Where::And(_)) {
                    (" AND ", "TRUE")
                } else {
                    (" OR ", "FALSE")
                };
                if v.is_empty() {
                    out.push_str(empty);
                    return Ok(());
                }
                out.push('(');
                for (k, c) in v.iter().enumerate() {
                    if k > 0 {
                        out.push_str(sep);
                    }
                    self.cond(c, out)?;
                }
                out.push(')');
            }
            Where::Xor(v) => {
                out.push_str("((");
                for (k, c) in v.iter().enumerate() {
                    if k > 0 {
                        out.push_str(" + ");
                    }
                    out.push_str("CASE WHEN ");
                    self.cond(c, out)?;
                    out.push_str(" THEN 1 ELSE 0 END");
                }
                out.push_str(") % 2 = 1)");
            }
            Where::Not(inner) => {
                out.push_str("NOT (");
                // Django's exclude: a NULL in a nullable column does not match the condition,
                // so its row is kept.
                match &**inner {
                    Where::Lookup { lhs, op, .. }
                        if !matches!(op, Lookup::IsNull) && self.is_nullable(lhs) =>
                    {
                        self.cond(inner, out)?;
                        out.push_str(" AND ");
                        self.node(lhs, out)?;
                        out.push_str(" IS NOT NULL");
                    }
                    _ => self.cond(inner, out)?,
                }
                out.push(')');
            }
            Where::Lookup { lhs, op, rhs } => self.lookup(lhs, op, rhs, out)?,
            Where::Exists(q) => {
                out.push_str("EXISTS(");
                self.select(q, out)?;
                out.push(')');
            }
            Where::Const(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
            Where::Raw(sql, params, _) => {
                out.push('(');
                self.raw(sql, params, out)?;
                out.push(')');
            }
            Where::Invalid(msg) => {
                return Err(Error::field(self.scope().model.name, "filter", msg.clone()));
            }
        }
        Ok(())
    }

    fn like(&mut self, lhs: &Node, op: &Lookup, rhs: &Rhs, out: &mut String) -> Result<()> {
        let (pre, post, kw) = match op {
            Lookup::Contains => ("%", "%", "LIKE"),
            Lookup::IContains => ("%", "%", "ILIKE"),
            Lookup::StartsWith => ("", "%", "LIKE"),
            Lookup::IStartsWith => ("", "%", "ILIKE"),
            Lookup::EndsWith => ("%", "", "LIKE"),
            _ => ("%", "", "ILIKE"),
        };
        self.node(lhs, out)?;
        let _ = write!(out, " {kw} ");
        match rhs {
            Rhs::Node(Node::Param(p)) => {
                let text = param_text(p).ok_or_else(|| {
                    Error::field(
                        self.scope().model.name,
                        self.field_label(lhs),
                        "a text lookup (contains, startswith, ...) needs a string value",
                    )
                })?;
                let escaped = text
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let s = self.push_param(Arc::new(format!("{pre}{escaped}{post}")));
                out.push_str(&s);
            }
            Rhs::Node(n) => {
                let _ = write!(out, "'{pre}' || replace(replace(replace((");
                self.node(n, out)?;
                let _ = write!(
                    out,
                    ")::text, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '{post}'"
                );
            }
            _ => return Err(Error::Usage("a text lookup takes one value".into())),
        }
        Ok(())
    }

    fn lookup(&mut self, lhs: &Node, op: &Lookup, rhs: &Rhs, out: &mut String) -> Result<()> {
        let simple = |op: &Lookup| match op {
            Lookup::Exact => Some("="),
            Lookup::Gt => Some(">"),
            Lookup::Gte => Some(">="),
            Lookup::Lt => Some("<"),
            Lookup::Lte => Some("<="),
            Lookup::Regex => Some("~"),
            Lookup::IRegex => Some("~*"),
            Lookup::DataContains => Some("@>"),
            Lookup::ContainedBy => Some("<@"),
            Lookup::HasKey => Some("?"),
            Lookup::HasKeys => Some("?&"),
            Lookup::HasAnyKeys => Some("?|"),
            Lookup::Overlap => Some("&&"),
            _ => None,
        };
        match (op, rhs) {
            (Lookup::Exact, Rhs::Node(Node::Null)) | (Lookup::IsNull, Rhs::Bool(true)) => {
                self.node(lhs, out)?;
                out.push_str(" IS NULL");
            }
            (Lookup::IsNull, Rhs::Bool(false)) => {
                self.node(lhs, out)?;
                out.push_str(" IS NOT NULL");
            }
            (_, Rhs::Node(Node::Null)) => {
                return Err(Error::field(
                    self.scope().model.name,
                    self.field_label(lhs),
                    "comparing with NULL: use isnull or eq(None)",
                ));
            }
            (Lookup::In, Rhs::List(list)) => {
                if list.is_empty() {
                    out.push_str("FALSE");
                    return Ok(());
                }
                self.node(lhs, out)?;
                out.push_str(" IN (");
                for (k, n) in list.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    self.node(n, out)?;
                }
                out.push(')');
            }
            (Lookup::In, Rhs::Query(q)) => {
                self.node(lhs, out)?;
                out.push_str(" IN (");
                self.select(q, out)?;
                out.push(')');
            }
            (Lookup::Range, Rhs::Pair(a, b)) => {
                self.node(lhs, out)?;
                out.push_str(" BETWEEN ");
                self.node(a, out)?;
                out.push_str(" AND ");
                self.node(b, out)?;
            }
            (Lookup::IExact, Rhs::Node(n)) => {
                out.push_str("UPPER(");
                self.node(lhs, out)?;
                out.push_str("::text) = UPPER(");
                self.node(n, out)?;
                out.push(')');
            }
            (
                Lookup::Contains
                | Lookup::IContains
                | Lookup::StartsWith
                | Lookup::IStartsWith
                | Lookup::EndsWith
                | Lookup::IEndsWith,
                _,
            ) => self.like(lhs, op, rhs, out)?,
            (Lookup::User(l), Rhs::Node(n)) => {
                let mut l_sql = String::new();
                self.node(lhs, &mut l_sql)?;
                let mut r_sql = String::new();
                self.node(n, &mut r_sql)?;
                out.push('(');
                out.push_str(&l.template.replace("{lhs}", &l_sql).replace("{rhs}", &r_sql));
                out.push(')');
            }
            (op, Rhs::Node(n)) if simple(op).is_some() => {
                if matches!(op, Lookup::Regex | Lookup::IRegex) {
                    let label = self.field_label(lhs);
                    self.regex_fields.push(label);
                }
                self.node(lhs, out)?;
                let _ = write!(out, " {} ", simple(op).unwrap_or("="));
                self.node(n, out)?;
            }
            (op, _) => {
                return Err(Error::field(
                    self.scope().model.name,
                    self.field_label(lhs),
                    format!("the {op:?} lookup got the wrong kind of value"),
                ));
            }
        }
        Ok(())
    }

    fn order(&mut self, terms: &[OrderTerm], out: &mut String) -> Result<()> {
        if terms.is_empty() {
            return Ok(());
        }
        out.push_str(" ORDER BY ");
        for (k, t) in terms.iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            // The inner product descending is `<#>` ascending: the form a pgvector index
            // serves (NULL vectors last, as nearest-neighbour search wants).
            if let (true, None, Some(ip)) = (
                t.desc,
                t.nulls,
                crate::vector::negated_inner_product(&t.node),
            ) {
                self.node(ip, out)?;
                continue;
            }
            self.node(&t.node, out)?;
            if t.desc {
                out.push_str(" DESC");
            }
            match t.nulls {
                Some(true) => out.push_str(" NULLS FIRST"),
                Some(false) => out.push_str(" NULLS LAST"),
                None => {}
            }
        }
        Ok(())
    }

    /// The select list of a query.
    fn columns(&mut self, q: &Query, out: &mut String) -> Result<()> {
        match &q.select {
            Select::Model(fields) => {
                let scope = self.scope();
                let top = self.scopes.len() == 1;
                match fields {
                    None if top => out.push_str(select_list(q.model)),
                    None => {
                        let cols: Vec<String> = (0..q.model.fields.len())
                            .map(|i| self.column(scope, i))
                            .collect::<Result<_>>()?;
                        out.push_str(&cols.join(", "));
                    }
                    Some(idx) => {
                        let cols: Vec<String> = idx
                            .iter()
                            .map(|&i| self.column(scope, i))
                            .collect::<Result<_>>()?;
                        out.push_str(&cols.join(", "));
                    }
                }
                for (name, e) in &q.annotations {
                    out.push_str(", ");
                    self.node(e, out)?;
                    let _ = write!(out, " AS {}", quote(name));
                }
                if top && !q.related.is_empty() {
                    let mut alias = 0;
                    for node in &related_nodes(q)? {
                        related_columns(node, &mut alias, out);
                    }
                }
            }
            Select::Values(v) | Select::Custom(v) => {
                for (k, (name, e)) in v.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    self.node(e, out)?;
                    let _ = write!(out, " AS {}", quote(name));
                }
            }
        }
        Ok(())
    }

    /// FROM, WHERE, GROUP BY, HAVING.
    fn body(&mut self, q: &Query, out: &mut String) -> Result<()> {
        let depth = self.scopes.len();
        if depth == 1 {
            let _ = write!(out, " FROM {}", q.model.qtable());
            if !q.related.is_empty() && matches!(q.select, Select::Model(_)) {
                let mut alias = 0;
                let parent = q.model.qtable();
                for node in &related_nodes(q)? {
                    related_joins(node, q.model, &parent, &mut alias, out);
                }
            }
        } else {
            let _ = write!(out, " FROM {} AS {}", q.model.qtable(), self.scope().alias);
        }
        let grouped = q.grouped();
        let (having, wheres): (Vec<&Where>, Vec<&Where>) = q
            .filters
            .iter()
            .partition(|w| grouped && self.refers_to_aggregate(w, q));
        if !wheres.is_empty() {
            out.push_str(" WHERE ");
            self.conj(&wheres, out)?;
        }
        if grouped {
            out.push_str(" GROUP BY ");
            match &q.select {
                Select::Values(v) => {
                    let keys: Vec<&Node> = v
                        .iter()
                        .map(|(_, n)| n)
                        .filter(|n| !self.node_is_aggregate(n, q))
                        .collect();
                    if keys.is_empty() {
                        out.push_str("()");
                    }
                    for (k, n) in keys.into_iter().enumerate() {
                        if k > 0 {
                            out.push_str(", ");
                        }
                        self.node(n, out)?;
                    }
                }
                _ => {
                    let s = self.column(self.scope(), q.model.pk_index)?;
                    out.push_str(&s);
                }
            }
            if !having.is_empty() {
                out.push_str(" HAVING ");
                self.conj(&having, out)?;
            }
        }
        Ok(())
    }

    fn node_is_aggregate(&self, n: &Node, q: &Query) -> bool {
        match n {
            Node::Name(name) => q
                .annotations
                .iter()
                .any(|(a, e)| a == name && e.has_aggregate()),
            n => n.has_aggregate(),
        }
    }

    fn refers_to_aggregate(&self, w: &Where, q: &Query) -> bool {
        if w.has_aggregate() {
            return true;
        }
        match w {
            Where::And(v) | Where::Or(v) | Where::Xor(v) => {
                v.iter().any(|w| self.refers_to_aggregate(w, q))
            }
            Where::Not(w) => self.refers_to_aggregate(w, q),
            Where::Lookup { lhs, .. } => self.node_is_aggregate(lhs, q),
            _ => false,
        }
    }

    fn conj(&mut self, ws: &[&Where], out: &mut String) -> Result<()> {
        for (k, w) in ws.iter().enumerate() {
            if k > 0 {
                out.push_str(" AND ");
            }
            self.cond(w, out)?;
        }
        Ok(())
    }

    fn enter(&mut self, q: &Query) {
        let depth = self.scopes.len();
        let alias = if depth == 0 {
            q.model.qtable()
        } else {
            quote(&format!("u{depth}"))
        };
        self.scopes.push(Scope {
            model: q.model,
            alias,
            annotations: q.annotations.clone(),
        });
    }

    /// A complete SELECT (entering a new scope).
    pub(crate) fn select(&mut self, q: &Query, out: &mut String) -> Result<()> {
        if let Some(e) = q.errors.first() {
            return Err(clone_error(e));
        }
        q.model.check()?;
        if let Some(c) = &q.combinator {
            let mut first = q.clone();
            first.combinator = None;
            first.order = Some(Vec::new());
            first.limit = None;
            first.offset = None;
            // The parts live as long as this call; compile them into owned strings.
            let mut parts = vec![first];
            parts.extend(c.others.iter().cloned().map(|mut o| {
                o.order = Some(Vec::new());
                o
            }));
            for (k, p) in parts.iter().enumerate() {
                if k > 0 {
                    let _ = write!(out, " {}{} ", c.op, if c.all { " ALL" } else { "" });
                }
                out.push('(');
                let mut sub = String::new();
                self.select_owned(p, &mut sub)?;
                out.push_str(&sub);
                out.push(')');
            }
            self.enter(q);
            self.bare = true;
            let terms = q.order.clone().unwrap_or_default();
            let r = self.order(&terms, out);
            self.bare = false;
            r?;
            self.limits(q, out);
            self.scopes.pop();
            return Ok(());
        }
        self.enter(q);
        out.push_str("SELECT ");
        if q.distinct {
            if q.distinct_on.is_empty() {
                out.push_str("DISTINCT ");
            } else {
                out.push_str("DISTINCT ON (");
                for (k, n) in q.distinct_on.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    self.node(n, out)?;
                }
                out.push_str(") ");
            }
        }
        self.columns(q, out)?;
        self.body(q, out)?;
        let terms: Vec<OrderTerm> = match &q.order {
            Some(o) => o.clone(),
            None if matches!(q.select, Select::Custom(_)) => Vec::new(),
            // The model's default order would need its columns in a DISTINCT select list.
            None if q.distinct && matches!(q.select, Select::Values(_)) => Vec::new(),
            None => q
                .model
                .ordering
                .iter()
                .map(|s| OrderTerm::parse(s))
                .collect(),
        };
        self.order(&terms, out)?;
        self.limits(q, out);
        if let Some(l) = &q.lock {
            out.push_str(if l.no_key {
                " FOR NO KEY UPDATE"
            } else {
                " FOR UPDATE"
            });
            if !l.of.is_empty() {
                out.push_str(" OF ");
                let names: Vec<String> =
                    l.of.iter()
                        .map(|n| {
                            if n == "self" || n == q.model.name {
                                self.scope().alias.clone()
                            } else {
                                quote(n)
                            }
                        })
                        .collect();
                out.push_str(&names.join(", "));
            }
            if l.nowait {
                out.push_str(" NOWAIT");
            } else if l.skip_locked {
                out.push_str(" SKIP LOCKED");
            }
        }
        self.scopes.pop();
        Ok(())
    }

    /// A SELECT of a query the context does not borrow for long.
    fn select_owned(&mut self, q: &Query, out: &mut String) -> Result<()> {
        // Scopes borrow the query; compile with a fresh context sharing the parameters.
        let mut sub = Ctx::new();
        sub.params = std::mem::take(&mut self.params);
        let r = sub.select(q, out);
        self.params = std::mem::take(&mut sub.params);
        self.regex_fields.extend(sub.regex_fields);
        r
    }

    fn limits(&mut self, q: &Query, out: &mut String) {
        if let Some(l) = q.limit {
            let s = self.push_param(Arc::new(l));
            let _ = write!(out, " LIMIT {s}");
        }
        if let Some(o) = q.offset {
            let s = self.push_param(Arc::new(o));
            let _ = write!(out, " OFFSET {s}");
        }
    }

    fn finish(self, sql: String, model: &'static str) -> Compiled {
        Compiled {
            sql: sql.into(),
            params: self.params,
            regex_fields: self.regex_fields,
            model,
        }
    }
}

fn clone_error(e: &Error) -> Error {
    match e {
        Error::Field {
            model,
            field,
            message,
        } => Error::Field {
            model,
            field: field.clone(),
            message: message.clone(),
        },
        e => Error::Usage(e.to_string()),
    }
}

/// The text of a string parameter.
fn param_text(p: &Param) -> Option<String> {
    let ty = p.sql_type();
    if ty != Type::TEXT && ty != Type::VARCHAR {
        return None;
    }
    let mut buf = hyperdjango_pgwire::__private::BytesMut::new();
    p.to_sql(&Type::TEXT, &mut buf).ok()?;
    String::from_utf8(buf.to_vec()).ok()
}

/// The model's full column list, qualified by the table (compiled once).
/// The `select_related` tree of a model query, with each target's first column.
pub(crate) fn related_nodes(q: &Query) -> Result<Vec<crate::relations::RelatedNode>> {
    let own = match &q.select {
        Select::Model(Some(idx)) => idx.len(),
        _ => q.model.fields.len(),
    };
    crate::relations::related_tree(q.model, &q.related, own + q.annotations.len())
}

/// The columns of a related target and of its own related targets, in tree order.
fn related_columns(node: &crate::relations::RelatedNode, alias: &mut usize, out: &mut String) {
    *alias += 1;
    let a = quote(&format!("sr{alias}"));
    for f in &node.target.fields {
        let _ = write!(out, ", {a}.{}", quote(f.column));
    }
    for child in &node.children {
        related_columns(child, alias, out);
    }
}

/// The JOINs of a related target (INNER while every key on the way is NOT NULL), then of
/// its own related targets, in the same order as [`related_columns`].
fn related_joins(
    node: &crate::relations::RelatedNode,
    parent: &'static ModelMeta,
    parent_alias: &str,
    alias: &mut usize,
    out: &mut String,
) {
    *alias += 1;
    let a = quote(&format!("sr{alias}"));
    let _ = write!(
        out,
        " {} JOIN {} AS {a} ON {a}.{} = {parent_alias}.{}",
        if node.inner { "INNER" } else { "LEFT" },
        node.target.qtable(),
        quote(node.target.pk().column),
        quote(parent.fields[node.field].column)
    );
    for child in &node.children {
        related_joins(child, node.target, &a, alias, out);
    }
}

pub(crate) fn select_list(m: &'static ModelMeta) -> &'static str {
    m.sql.select_list.get_or_init(|| {
        let t = m.qtable();
        m.fields
            .iter()
            .map(|f| format!("{t}.{}", quote(f.column)))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Shapes kept per model at most (an `in` list of each length is its own shape).
const MAX_SHAPES_PER_MODEL: usize = 1024;

/// Compiles a SELECT; the common shapes come from the model's shape cache (see the module
/// documentation).
pub(crate) fn compile_select(q: &Query) -> Result<Compiled> {
    let Some((key, params)) = shape(q) else {
        return compile_select_uncached(q);
    };
    let cache = &q.model.sql.shapes;
    let hit = cache
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    if let Some(sql) = hit {
        return Ok(Compiled {
            sql,
            params,
            regex_fields: Vec::new(),
            model: q.model.name,
        });
    }
    let c = compile_select_uncached(q)?;
    debug_assert_eq!(c.params.len(), params.len(), "shape parameters: {}", c.sql);
    let mut w = cache.write().unwrap_or_else(|e| e.into_inner());
    if w.len() < MAX_SHAPES_PER_MODEL {
        w.entry(key).or_insert_with(|| c.sql.clone());
    }
    Ok(c)
}

/// Compiles a SELECT, always building the SQL text.
fn compile_select_uncached(q: &Query) -> Result<Compiled> {
    let mut ctx = Ctx::new();
    let mut sql = String::with_capacity(128);
    ctx.select(q, &mut sql)?;
    Ok(ctx.finish(sql, q.model.name))
}

/// The shape key of a query (its structure: model, select list, conditions with their
/// fields and operators, order, whether it has a limit and offset) and its parameters in
/// the order the compiler numbers them; `None` for shapes that are not cached (annotations,
/// expressions, subqueries, LIKE and regex lookups, raw SQL, locking, set operations...).
fn shape(q: &Query) -> Option<(Vec<u64>, Vec<Param>)> {
    if !q.errors.is_empty()
        || !q.related.is_empty()
        || q.combinator.is_some()
        || !q.annotations.is_empty()
        || q.distinct
        || !q.distinct_on.is_empty()
        || q.lock.is_some()
    {
        return None;
    }
    let m = q.model;
    let mut key = Vec::with_capacity(16);
    let mut params = Vec::new();
    match &q.select {
        Select::Model(None) => key.push(1),
        Select::Model(Some(idx)) => {
            key.extend([2, idx.len() as u64]);
            key.extend(idx.iter().map(|&i| i as u64));
        }
        _ => return None,
    }
    key.extend([10, q.filters.len() as u64]);
    for w in &q.filters {
        shape_where(m, w, &mut key, &mut params)?;
    }
    match &q.order {
        None => key.push(40),
        Some(terms) => {
            key.extend([41, terms.len() as u64]);
            for t in terms {
                let node = match &t.node {
                    Node::Random => u64::MAX,
                    n => shape_field(m, n)?,
                };
                let nulls = match t.nulls {
                    None => 0,
                    Some(false) => 1,
                    Some(true) => 2,
                };
                key.extend([node, u64::from(t.desc), nulls]);
            }
        }
    }
    key.extend([
        50,
        u64::from(q.limit.is_some()),
        u64::from(q.offset.is_some()),
    ]);
    if let Some(l) = q.limit {
        params.push(Arc::new(l) as Param);
    }
    if let Some(o) = q.offset {
        params.push(Arc::new(o) as Param);
    }
    Some((key, params))
}

/// A field of the model (by index or by name) as a shape token.
fn shape_field(m: &ModelMeta, n: &Node) -> Option<u64> {
    match n {
        Node::Field(i) if *i < m.fields.len() => Some(*i as u64),
        Node::Name(name) => m.field(name).map(|f| f.index as u64),
        _ => None,
    }
}

fn shape_where(
    m: &ModelMeta,
    w: &Where,
    key: &mut Vec<u64>,
    params: &mut Vec<Param>,
) -> Option<()> {
    match w {
        Where::And(v) | Where::Or(v) => {
            key.extend([
                if matches!(w, Where::And(_)) { 20 } else { 21 },
                v.len() as u64,
            ]);
            for c in v {
                shape_where(m, c, key, params)?;
            }
        }
        Where::Not(inner) => {
            key.push(22);
            shape_where(m, inner, key, params)?;
        }
        Where::Const(b) => key.extend([23, u64::from(*b)]),
        Where::Lookup { lhs, op, rhs } => {
            let field = shape_field(m, lhs)?;
            let op_code = match op {
                Lookup::Exact => 0,
                Lookup::Gt => 1,
                Lookup::Gte => 2,
                Lookup::Lt => 3,
                Lookup::Lte => 4,
                Lookup::In => 5,
                Lookup::IsNull => 6,
                _ => return None,
            };
            key.extend([24, field, op_code]);
            match (op, rhs) {
                (Lookup::Exact, Rhs::Node(Node::Null)) => key.push(31),
                (Lookup::IsNull, Rhs::Bool(b)) => key.extend([32, u64::from(*b)]),
                (Lookup::In, Rhs::List(list)) => {
                    key.extend([33, list.len() as u64]);
                    for n in list {
                        match n {
                            Node::Param(p) => params.push(p.clone()),
                            _ => return None,
                        }
                    }
                }
                (
                    Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte,
                    Rhs::Node(Node::Param(p)),
                ) => {
                    key.push(30);
                    params.push(p.clone());
                }
                _ => return None,
            }
        }
        _ => return None,
    }
    Some(())
}

/// Compiles a SELECT with another select list (count, exists, aggregate...).
pub(crate) fn compile_custom(q: &Query, select: Vec<(String, Node)>) -> Result<Compiled> {
    let mut q = q.clone();
    q.select = Select::Custom(select);
    compile_select(&q)
}

/// Whether a filter-only WHERE suffices (no limit, offset, order or distinct to honour).
fn plain(q: &Query) -> bool {
    q.limit.is_none() && q.offset.is_none() && !q.distinct && q.combinator.is_none() && !q.grouped()
}

/// `WHERE ...` for UPDATE and DELETE: the filters, or `pk IN (SELECT pk ...)` when the
/// query is sliced or distinct.
fn write_where(ctx: &mut Ctx, q: &Query, out: &mut String) -> Result<()> {
    let m = q.model;
    if plain(q) {
        if !q.filters.is_empty() {
            out.push_str(" WHERE ");
            let ws: Vec<&Where> = q.filters.iter().collect();
            ctx.conj(&ws, out)?;
        }
    } else {
        let mut sub = q.clone();
        sub.select = Select::Values(vec![("pk".into(), Node::Field(m.pk_index))]);
        sub.lock = None;
        let _ = write!(out, " WHERE {}.{} IN (", m.qtable(), quote(m.pk().column));
        let mut s = String::new();
        ctx.select_owned(&sub, &mut s)?;
        out.push_str(&s);
        out.push(')');
    }
    Ok(())
}

/// Compiles `UPDATE ... SET col = expr, ... WHERE ...`.
pub(crate) fn compile_update(q: &Query, sets: &[(usize, Node)]) -> Result<Compiled> {
    let m = q.model;
    m.check()?;
    if let Some(e) = q.errors.first() {
        return Err(clone_error(e));
    }
    let mut ctx = Ctx::new();
    ctx.enter(q);
    let mut out = format!("UPDATE {} SET ", m.qtable());
    for (k, (i, n)) in sets.iter().enumerate() {
        let f = &m.fields[*i];
        if matches!(n, Node::Null) && !f.nullable {
            return Err(Error::field(
                m.name,
                f.name,
                "cannot be set to NULL: the field is not nullable (declare it Option<T>)",
            ));
        }
        if k > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} = ", quote(f.column));
        ctx.node(n, &mut out)?;
    }
    write_where(&mut ctx, q, &mut out)?;
    Ok(ctx.finish(out, m.name))
}

/// Compiles `DELETE FROM ... WHERE ...`.
pub(crate) fn compile_delete(q: &Query) -> Result<Compiled> {
    let m = q.model;
    m.check()?;
    if let Some(e) = q.errors.first() {
        return Err(clone_error(e));
    }
    let mut ctx = Ctx::new();
    ctx.enter(q);
    let mut out = format!("DELETE FROM {}", m.qtable());
    write_where(&mut ctx, q, &mut out)?;
    Ok(ctx.finish(out, m.name))
}

/// Compiles an EXPLAIN of the SELECT.
pub(crate) fn compile_explain(q: &Query, options: &str) -> Result<Compiled> {
    let mut c = compile_select(q)?;
    c.sql = if options.is_empty() {
        format!("EXPLAIN {}", c.sql)
    } else {
        format!("EXPLAIN ({options}) {}", c.sql)
    }
    .into();
    Ok(c)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::prelude::*;

    crate::model! {
        #[table = "shape_items"]
        struct ShapeItem {
            id: Auto<i32> = Field::new().primary_key(),
            name: String,
            rank: i64,
        }
    }

    fn compiled(qs: &QuerySet<ShapeItem>) -> super::Compiled {
        super::compile_select(&qs.query).expect("compiles")
    }

    #[test]
    fn a_repeated_shape_reuses_its_sql() {
        let shape = |name: &str, rank: i64, limit: i64| {
            ShapeItem::objects()
                .filter(ShapeItem::name.eq(name.to_string()) & ShapeItem::rank.gt(rank))
                .order_by(ShapeItem::rank.desc())
                .limit(limit)
        };
        let a = compiled(&shape("a", 1, 10));
        let b = compiled(&shape("b", 2, 20));
        // Same shape, other values: the very same SQL string, fresh parameters.
        assert!(Arc::ptr_eq(&a.sql, &b.sql), "{} vs {}", a.sql, b.sql);
        assert_eq!(b.params.len(), 3);
        assert_eq!(super::param_text(&b.params[0]).as_deref(), Some("b"));
        assert_eq!(
            &*a.sql,
            r#"SELECT "shape_items"."id", "shape_items"."name", "shape_items"."rank" FROM "shape_items" WHERE ("shape_items"."name" = $1 AND "shape_items"."rank" > $2) ORDER BY "shape_items"."rank" DESC LIMIT $3"#
        );
        // The string form of the same shape reaches the same entry.
        let c = compiled(
            &ShapeItem::objects()
                .filter(q("name", "c").unwrap() & q("rank__gt", 3i64).unwrap())
                .order_by(ShapeItem::rank.desc())
                .limit(5),
        );
        assert!(Arc::ptr_eq(&a.sql, &c.sql));

        // Another shape (a different operator, no limit, an `in` of another length) is
        // compiled on its own, and is itself reused.
        let d = compiled(&ShapeItem::objects().filter(ShapeItem::rank.lt(1)));
        assert!(!Arc::ptr_eq(&a.sql, &d.sql));
        assert!(d.sql.contains(r#""shape_items"."rank" < $1"#), "{}", d.sql);
        let e = compiled(&ShapeItem::objects().filter(ShapeItem::rank.lt(9)));
        assert!(Arc::ptr_eq(&d.sql, &e.sql));
        let in2 = compiled(&ShapeItem::objects().filter(ShapeItem::rank.is_in([1, 2])));
        let in3 = compiled(&ShapeItem::objects().filter(ShapeItem::rank.is_in([1, 2, 3])));
        assert!(!Arc::ptr_eq(&in2.sql, &in3.sql));
        assert_eq!(in3.params.len(), 3);
    }

    #[test]
    fn uncached_shapes_still_compile_each_time() {
        // LIKE lookups are outside the cached shapes: each run builds its SQL.
        let qs = ShapeItem::objects().filter(ShapeItem::name.contains("x"));
        let a = compiled(&qs);
        let b = compiled(&qs);
        assert!(!Arc::ptr_eq(&a.sql, &b.sql));
        assert_eq!(a.sql, b.sql);
    }
}
