//! The associations workload, diesel_bench's `bench_loading_associations_sequentially`:
//! 100 users, each with 10 posts (`bench_posts.user_id`), each with 10 comments
//! (`bench_comments.post_id`), loaded with three queries (the users, their posts, those
//! posts' comments) and assembled into `Vec<(User, Vec<(Post, Vec<Comment>)>)>`.
//!
//! The raw drivers read rows into the plain [`User`], [`Post`] and [`Comment`] and group them
//! with [`assemble`]; hyperdjango's ORM reads its own models (`hd::User`, ...). Every
//! implementation ends its iteration with [`check`], which refuses a tree of the wrong shape
//! (a user, post or comment missing, duplicated or under the wrong parent) and returns the
//! [`Outcome`] whose checksum `compare` compares across drivers.

use std::collections::HashMap;

use crate::{Outcome, Result, checksum};

/// Users in `bench_users`.
pub const USERS: usize = 100;
/// Posts per user.
pub const POSTS_PER_USER: usize = 10;
/// Comments per post.
pub const COMMENTS_PER_POST: usize = 10;
/// Rows read per iteration: every user, post and comment (11,100).
pub const ROWS: u64 =
    (USERS + USERS * POSTS_PER_USER + USERS * POSTS_PER_USER * COMMENTS_PER_POST) as u64;

/// The users (all of them, as diesel's benchmark loads them).
pub const USERS_SQL: &str = "SELECT id, name, hair_color FROM bench_users";
/// The posts of the users whose ids are the int4[] parameter.
pub const POSTS_SQL: &str =
    "SELECT id, user_id, title, body FROM bench_posts WHERE user_id = ANY($1)";
/// The comments of the posts whose ids are the int4[] parameter.
pub const COMMENTS_SQL: &str =
    "SELECT id, post_id, text FROM bench_comments WHERE post_id = ANY($1)";

/// The tables and rows (part of the benchmark's setup script): diesel_bench's schema, with an
/// index on each foreign key as Django (and so hyperdjango's ORM) creates one. Ids are
/// serials starting at 1, which [`check`] relies on.
pub const CREATE_SQL: &str = "
CREATE TABLE bench_users (id serial PRIMARY KEY, name text NOT NULL, hair_color text);
INSERT INTO bench_users (name, hair_color)
    SELECT 'User ' || i, CASE WHEN i % 2 = 0 THEN 'black' ELSE 'brown' END
    FROM generate_series(0, 99) AS i;
CREATE TABLE bench_posts (
    id serial PRIMARY KEY, user_id int4 NOT NULL REFERENCES bench_users (id),
    title text NOT NULL, body text);
CREATE INDEX ON bench_posts (user_id);
INSERT INTO bench_posts (user_id, title)
    SELECT n / 10 + 1, 'Post ' || (n % 10) || ' by user ' || (n / 10 + 1)
    FROM generate_series(0, 999) AS n;
CREATE TABLE bench_comments (
    id serial PRIMARY KEY, post_id int4 NOT NULL REFERENCES bench_posts (id),
    text text NOT NULL);
CREATE INDEX ON bench_comments (post_id);
INSERT INTO bench_comments (post_id, text)
    SELECT n / 10 + 1, 'Comment ' || (n % 10) || ' on post ' || (n / 10 + 1)
    FROM generate_series(0, 9999) AS n;
";

/// A row of `bench_users`, as the raw drivers read it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// serial
    pub id: i32,
    /// text
    pub name: String,
    /// text, nullable
    pub hair_color: Option<String>,
}

/// A row of `bench_posts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// serial
    pub id: i32,
    /// The user's id.
    pub user_id: i32,
    /// text
    pub title: String,
    /// text, nullable (always NULL here, as in diesel's benchmark)
    pub body: Option<String>,
}

/// A row of `bench_comments`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// serial
    pub id: i32,
    /// The post's id.
    pub post_id: i32,
    /// text
    pub text: String,
}

/// Reads a driver's rows of [`USERS_SQL`], [`POSTS_SQL`] or [`COMMENTS_SQL`] into a
/// `Result<Vec<User>>` (or `Post`, `Comment`) with that driver's own per-column getter
/// (`try_get` for tokio-postgres and sqlx, `get` for hyperdjango): the drivers' rows share no
/// trait. `read_rows!(rows, try_get, User)`.
macro_rules! read_rows {
    ($rows:expr, $get:ident, User) => {
        $crate::assoc::read_rows!(@ $rows, $get, User { id: 0, name: 1, hair_color: 2 })
    };
    ($rows:expr, $get:ident, Post) => {
        $crate::assoc::read_rows!(@ $rows, $get, Post { id: 0, user_id: 1, title: 2, body: 3 })
    };
    ($rows:expr, $get:ident, Comment) => {
        $crate::assoc::read_rows!(@ $rows, $get, Comment { id: 0, post_id: 1, text: 2 })
    };
    (@ $rows:expr, $get:ident, $ty:ident { $($field:ident: $col:literal),* }) => {
        $rows
            .iter()
            .map(|r| Ok($crate::assoc::$ty { $($field: r.$get($col)?),* }))
            .collect::<$crate::Result<Vec<_>>>()
    };
}
pub(crate) use read_rows;

/// The assembled result: each user with its posts, each post with its comments.
pub type Tree<U, P, C> = Vec<(U, Vec<(P, Vec<C>)>)>;

/// What [`check`] reads of a user, post or comment, whatever type a driver loaded it into.
pub trait Node {
    /// The row's primary key.
    fn key(&self) -> Result<i32>;
    /// The key of the row's parent (users have none).
    fn parent(&self) -> Result<Option<i32>>;
    /// Folds the row's other values into `acc`.
    fn fold(&self, acc: u64) -> u64;
}

/// Folds one text value (length and last byte, as the other workloads do).
fn fold_text(acc: u64, s: &str) -> u64 {
    checksum::add(
        acc,
        s.len() as u64 + u64::from(s.as_bytes().last().copied().unwrap_or(0)),
    )
}

/// Folds a nullable text value.
pub fn fold_opt_text(acc: u64, s: Option<&str>) -> u64 {
    match s {
        Some(s) => fold_text(checksum::add(acc, 1), s),
        None => checksum::add(acc, 0),
    }
}

/// A user's values.
pub fn fold_user(acc: u64, name: &str, hair_color: Option<&str>) -> u64 {
    fold_opt_text(fold_text(acc, name), hair_color)
}

/// A post's values.
pub fn fold_post(acc: u64, title: &str, body: Option<&str>) -> u64 {
    fold_opt_text(fold_text(acc, title), body)
}

/// A comment's values.
pub fn fold_comment(acc: u64, text: &str) -> u64 {
    fold_text(acc, text)
}

impl Node for User {
    fn key(&self) -> Result<i32> {
        Ok(self.id)
    }
    fn parent(&self) -> Result<Option<i32>> {
        Ok(None)
    }
    fn fold(&self, acc: u64) -> u64 {
        fold_user(acc, &self.name, self.hair_color.as_deref())
    }
}

impl Node for Post {
    fn key(&self) -> Result<i32> {
        Ok(self.id)
    }
    fn parent(&self) -> Result<Option<i32>> {
        Ok(Some(self.user_id))
    }
    fn fold(&self, acc: u64) -> u64 {
        fold_post(acc, &self.title, self.body.as_deref())
    }
}

impl Node for Comment {
    fn key(&self) -> Result<i32> {
        Ok(self.id)
    }
    fn parent(&self) -> Result<Option<i32>> {
        Ok(Some(self.post_id))
    }
    fn fold(&self, acc: u64) -> u64 {
        fold_comment(acc, &self.text)
    }
}

/// Groups the three queries' rows into a [`Tree`], users in the order they were read, with
/// two hash maps (user id → position, post id → position); a post or comment whose parent
/// was not read is an error.
pub fn assemble(
    users: Vec<User>,
    posts: Vec<Post>,
    comments: Vec<Comment>,
) -> Result<Tree<User, Post, Comment>> {
    let user_at: HashMap<i32, usize> = users.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
    let mut tree: Tree<User, Post, Comment> = users
        .into_iter()
        .map(|u| (u, Vec::with_capacity(POSTS_PER_USER)))
        .collect();
    let mut post_at: HashMap<i32, (usize, usize)> = HashMap::with_capacity(posts.len());
    for p in posts {
        let &u = user_at
            .get(&p.user_id)
            .ok_or_else(|| format!("post {} points at user {}, not loaded", p.id, p.user_id))?;
        let list = &mut tree[u].1;
        post_at.insert(p.id, (u, list.len()));
        list.push((p, Vec::with_capacity(COMMENTS_PER_POST)));
    }
    for c in comments {
        let &(u, p) = post_at
            .get(&c.post_id)
            .ok_or_else(|| format!("comment {} points at post {}, not loaded", c.id, c.post_id))?;
        tree[u].1[p].1.push(c);
    }
    Ok(tree)
}

/// A bijective mixer (splitmix64's finalizer): makes a group's hash depend non-linearly on
/// its members, so moving a child to another parent changes the sum.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One row and its children's (order-independent) hash.
fn group_hash<N: Node>(node: &N, key: i32, children: u64) -> u64 {
    mix(checksum::add(
        node.fold(checksum::add(0, key as u64)),
        children,
    ))
}

/// Checks that `tree` has the shape of the data set, 100 users, each with its own 10 posts,
/// each with its own 10 comments, every id read exactly once, and returns the outcome: every
/// row read, and a checksum over every value that does not depend on the order the rows came
/// in (the queries have no ORDER BY) but does on which parent each row is under.
pub fn check<U: Node, P: Node, C: Node>(tree: &Tree<U, P, C>) -> Result<Outcome> {
    /// 1 + 2 + ... + n, the sum of the serial ids of a table of n rows.
    fn id_sum(n: usize) -> i64 {
        (n * (n + 1) / 2) as i64
    }
    if tree.len() != USERS {
        return Err(format!("{} users loaded, expected {USERS}", tree.len()).into());
    }
    let (mut user_ids, mut post_ids, mut comment_ids) = (0i64, 0i64, 0i64);
    let mut users_hash = 0u64;
    for (user, posts) in tree {
        let uid = user.key()?;
        user_ids += i64::from(uid);
        if posts.len() != POSTS_PER_USER {
            return Err(format!(
                "user {uid} has {} posts, expected {POSTS_PER_USER}",
                posts.len()
            )
            .into());
        }
        let mut posts_hash = 0u64;
        for (post, comments) in posts {
            let pid = post.key()?;
            post_ids += i64::from(pid);
            if post.parent()? != Some(uid) {
                return Err(format!("post {pid} is under user {uid}, not its own").into());
            }
            if comments.len() != COMMENTS_PER_POST {
                return Err(format!(
                    "post {pid} has {} comments, expected {COMMENTS_PER_POST}",
                    comments.len()
                )
                .into());
            }
            let mut comments_hash = 0u64;
            for comment in comments {
                let cid = comment.key()?;
                comment_ids += i64::from(cid);
                if comment.parent()? != Some(pid) {
                    return Err(format!("comment {cid} is under post {pid}, not its own").into());
                }
                comments_hash = comments_hash.wrapping_add(group_hash(comment, cid, 0));
            }
            posts_hash = posts_hash.wrapping_add(group_hash(post, pid, comments_hash));
        }
        users_hash = users_hash.wrapping_add(group_hash(user, uid, posts_hash));
    }
    // With the counts right, the sums of the ids catch a row read twice instead of another.
    let posts = USERS * POSTS_PER_USER;
    for (what, got, want) in [
        ("user", user_ids, id_sum(USERS)),
        ("post", post_ids, id_sum(posts)),
        ("comment", comment_ids, id_sum(posts * COMMENTS_PER_POST)),
    ] {
        if got != want {
            return Err(format!(
                "the {what} ids sum to {got}, expected {want}: a {what} read twice or missing"
            )
            .into());
        }
    }
    Ok(Outcome {
        units: ROWS,
        checksum: users_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data set as [`CREATE_SQL`] makes it, in the order the rows are inserted.
    fn data() -> (Vec<User>, Vec<Post>, Vec<Comment>) {
        let users = (1..=USERS as i32)
            .map(|id| User {
                id,
                name: format!("User {}", id - 1),
                hair_color: Some(if id % 2 == 1 { "black" } else { "brown" }.into()),
            })
            .collect();
        let posts = (0..(USERS * POSTS_PER_USER) as i32)
            .map(|n| Post {
                id: n + 1,
                user_id: n / 10 + 1,
                title: format!("Post {} by user {}", n % 10, n / 10 + 1),
                body: None,
            })
            .collect();
        let comments = (0..(USERS * POSTS_PER_USER * COMMENTS_PER_POST) as i32)
            .map(|n| Comment {
                id: n + 1,
                post_id: n / 10 + 1,
                text: format!("Comment {} on post {}", n % 10, n / 10 + 1),
            })
            .collect();
        (users, posts, comments)
    }

    #[test]
    fn the_right_tree_passes_in_any_order() {
        let (users, posts, comments) = data();
        let a = check(&assemble(users.clone(), posts.clone(), comments.clone()).unwrap()).unwrap();
        assert_eq!(a.units, ROWS);
        let (mut users, mut posts, mut comments) = (users, posts, comments);
        users.reverse();
        posts.reverse();
        comments.rotate_left(3_333);
        let b = check(&assemble(users, posts, comments).unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_missing_row_fails() {
        let (users, posts, mut comments) = data();
        comments.pop();
        let e = check(&assemble(users, posts, comments).unwrap()).unwrap_err();
        assert_eq!(e.to_string(), "post 1000 has 9 comments, expected 10");
    }

    #[test]
    fn a_row_under_the_wrong_parent_fails() {
        let (users, posts, comments) = data();
        let mut tree = assemble(users, posts, comments).unwrap();
        let c = tree[0].1[0].1.pop().unwrap();
        tree[0].1[1].1.push(c);
        let e = check(&tree).unwrap_err();
        assert_eq!(e.to_string(), "post 1 has 9 comments, expected 10");
        // Swapped: comment 11 (of post 2) under post 1 and comment 10 under post 2.
        let c = tree[0].1[1].1.remove(0);
        tree[0].1[0].1.push(c);
        let e = check(&tree).unwrap_err();
        assert_eq!(e.to_string(), "comment 11 is under post 1, not its own");
    }

    #[test]
    fn a_row_read_twice_instead_of_another_fails() {
        let (users, posts, mut comments) = data();
        comments[1] = comments[0].clone();
        let e = check(&assemble(users, posts, comments).unwrap()).unwrap_err();
        assert!(e.to_string().starts_with("the comment ids sum to"), "{e}");
    }

    #[test]
    fn an_orphan_is_an_error() {
        let (users, mut posts, comments) = data();
        posts[0].user_id = 1_000;
        let e = assemble(users, posts, comments).unwrap_err();
        assert_eq!(e.to_string(), "post 1 points at user 1000, not loaded");
    }
}
