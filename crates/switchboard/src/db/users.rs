//! Users: global identities (a platform table). What a user may do in a
//! tenant lives in `memberships`.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};
use switchboard_core::{Email, UserId};

use super::{now_ms, parse_col, DbError, DbResult};
use crate::auth::password::PasswordHash;

#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub password_hash: Option<PasswordHash>,
    pub is_platform_admin: bool,
    pub created_at: i64,
}

const COLUMNS: &str = "id, email, password_hash, is_platform_admin, created_at";

fn from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: parse_col(&row.try_get::<String, _>("id")?, "id")?,
        email: parse_col(&row.try_get::<String, _>("email")?, "email")?,
        password_hash: row
            .try_get::<Option<String>, _>("password_hash")?
            .map(PasswordHash::from_stored),
        is_platform_admin: row.try_get::<i64, _>("is_platform_admin")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn create(
    conn: &mut AnyConnection,
    email: &Email,
    password_hash: Option<&PasswordHash>,
    is_platform_admin: bool,
) -> DbResult<User> {
    let row = sqlx::query(&format!(
        "INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(UserId::generate().to_string())
    .bind(email.as_str())
    .bind(password_hash.map(PasswordHash::as_str))
    .bind(i64::from(is_platform_admin))
    .bind(now_ms())
    .fetch_one(conn)
    .await
    .map_err(DbError::conflict_on("email"))?;
    Ok(from_row(&row)?)
}

pub async fn find_by_email(conn: &mut AnyConnection, email: &Email) -> DbResult<Option<User>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE email = $1"))
        .bind(email.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn find(conn: &mut AnyConnection, id: UserId) -> DbResult<Option<User>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn set_platform_admin(conn: &mut AnyConnection, id: UserId, admin: bool) -> DbResult<()> {
    sqlx::query("UPDATE users SET is_platform_admin = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(i64::from(admin))
        .execute(conn)
        .await?;
    Ok(())
}
