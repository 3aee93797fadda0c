//! Fixed SQL statements that each connection prepares once and then reuses.
//!
//! diesel refuses to cache the prepared statement of `sql_query`, and of every `UPDATE` and
//! `INSERT` its query builder makes, so each such call costs PostgreSQL a parse and a plan and
//! the connection an extra round trip (measured here: a statement through `sql_query` ran at
//! about half the rate of a cached one). The hot paths (hold, credit, settle, issue, poll,
//! admission tick) are fixed texts, so they are written as [`Prepared`] statements instead:
//! the SQL names its parameters `$1…$n` (each as often as needed) and the values follow in
//! order. diesel-async caches them per connection, keyed by the SQL text and bind types.
//!
//! How the values travel: diesel's only public way to add a bind is `push_bind_param`, which
//! also writes the next placeholder into the SQL text. [`Prepared`] therefore writes its SQL
//! first and the binds last, inside a trailing comment: `… /* $1, $2, $3 */`. PostgreSQL
//! ignores the comment, the values bind to the `$n` the statement itself uses, and the types
//! travel with them.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// A fixed SQL text and the values of its `$1…$n`, in order (a tuple of [`Bind`]s).
#[derive(Debug)]
pub(crate) struct Prepared<B> {
    sql: &'static str,
    binds: B,
}

/// `sql` with `binds` (a [`Bind`] or a tuple of them, one per `$n`, in order).
pub(crate) fn prepared<B>(sql: &'static str, binds: B) -> Prepared<B> {
    Prepared { sql, binds }
}

impl<B: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(self.sql);
        out.push_sql(" /* ");
        self.binds.walk_ast(out.reborrow())?;
        out.push_sql(" */");
        Ok(())
    }
}

/// No static id: the statement cache keys these by their SQL text and bind types.
impl<B> QueryId for Prepared<B> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Rows come back by name (`QueryableByName`), as from `sql_query`.
impl<B> Query for Prepared<B> {
    type SqlType = Untyped;
}

/// One value of SQL type `ST`.
#[derive(Debug)]
pub(crate) struct Bind<ST, T> {
    value: T,
    sql_type: PhantomData<ST>,
}

/// `value` as a parameter of SQL type `ST`.
pub(crate) fn bind<ST, T>(value: T) -> Bind<ST, T> {
    Bind { value, sql_type: PhantomData }
}

impl<ST, T> QueryFragment<Pg> for Bind<ST, T>
where
    Pg: HasSqlType<ST>,
    T: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, T>(&self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{BigInt, Text};

    #[test]
    fn values_follow_the_statement_in_a_comment_so_the_text_keeps_its_own_placeholders() {
        let statement =
            prepared("SELECT $2 WHERE $1 = $1", (bind::<BigInt, _>(7_i64), bind::<Text, _>("seven")));
        let sql = diesel::debug_query::<Pg, _>(&statement).to_string();
        assert!(sql.starts_with("SELECT $2 WHERE $1 = $1 /* $1, $2 */"), "{sql}");
        assert!(sql.contains("[7, \"seven\"]"), "{sql}");
    }
}
