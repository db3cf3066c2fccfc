//! The `users` table: accounts, their public cards, profiles and search.

use chrono::NaiveDate;
use sqlx::PgPool;
use totilove_common::{Code, Error};

use crate::domain::{Email, LoginName, Profile, ProfileUpdate, UserId, Username};

/// The public card of a person.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct UserCard {
    pub id: i64,
    pub username: String,
    pub display_name: Option<String>,
}

/// What a login needs to know of an account.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Credentials {
    pub id: i64,
    pub username: String,
    pub display_name: Option<String>,
    pub password_hash: String,
}

impl Credentials {
    pub(crate) fn card(&self) -> UserCard {
        UserCard {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

/// A whole account as its owner sees it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRecord {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub birthdate: Option<NaiveDate>,
    pub gender: Option<String>,
    pub location: Option<String>,
    pub avatar_url: Option<String>,
}

impl UserRecord {
    pub(crate) fn card(&self) -> UserCard {
        UserCard {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
        }
    }

    pub(crate) fn profile(&self) -> Profile {
        Profile {
            display_name: self.display_name.clone(),
            bio: self.bio.clone(),
            birthdate: self.birthdate,
            gender: self.gender.clone(),
            location: self.location.clone(),
            avatar_url: self.avatar_url.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Users {
    db: PgPool,
}

/// The unique indexes of the migration, by name.
const USERNAME_INDEX: &str = "users_username_lower_key";
const EMAIL_INDEX: &str = "users_email_lower_key";

fn username_taken() -> Error {
    Error::new(Code::Conflict, "username is taken")
}

fn email_taken() -> Error {
    Error::new(Code::Conflict, "email is taken")
}

impl Users {
    pub(crate) fn new(db: PgPool) -> Self {
        Self { db }
    }

    /// The conflict a registration would meet, checked before spending a
    /// password hash on it (the insert still decides under a race).
    #[tracing::instrument(name = "Check a username and email are free", skip_all)]
    pub(crate) async fn check_free(&self, username: &Username, email: &Email) -> Result<(), Error> {
        let taken = sqlx::query!(
            r#"SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) COLLATE "C" = lower($1)) AS "name!",
                    EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($2)) AS "email!""#,
            username.as_str(),
            email.as_str(),
        )
        .fetch_one(&self.db)
        .await?;
        if taken.name {
            return Err(username_taken());
        }
        if taken.email {
            return Err(email_taken());
        }
        Ok(())
    }

    #[tracing::instrument(name = "Create an account", skip_all)]
    pub(crate) async fn insert(
        &self,
        username: &Username,
        email: &Email,
        password_hash: &str,
    ) -> Result<UserCard, Error> {
        sqlx::query_as!(
            UserCard,
            "INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3)
             RETURNING id, username, display_name",
            username.as_str(),
            email.as_str(),
            password_hash,
        )
        .fetch_one(&self.db)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => match db.constraint() {
                Some(EMAIL_INDEX) => email_taken(),
                Some(USERNAME_INDEX) => username_taken(),
                _ => Error::internal(e),
            },
            _ => e.into(),
        })
    }

    #[tracing::instrument(name = "Find an account by login", skip_all)]
    pub(crate) async fn find_for_login(
        &self,
        login: &LoginName,
    ) -> Result<Option<Credentials>, Error> {
        let found = match login {
            LoginName::Username(name) => {
                sqlx::query_as!(
                    Credentials,
                    r#"SELECT id, username, display_name, password_hash FROM users
                 WHERE lower(username) COLLATE "C" = lower($1)"#,
                    name,
                )
                .fetch_optional(&self.db)
                .await?
            }
            LoginName::Email(email) => {
                sqlx::query_as!(
                    Credentials,
                    "SELECT id, username, display_name, password_hash FROM users
                 WHERE lower(email) = lower($1)",
                    email,
                )
                .fetch_optional(&self.db)
                .await?
            }
        };
        Ok(found)
    }

    #[tracing::instrument(name = "Read an account", skip_all, fields(user_id = id.get()))]
    pub(crate) async fn get(&self, id: UserId) -> Result<Option<UserRecord>, Error> {
        Ok(sqlx::query_as!(
            UserRecord,
            "SELECT id, username, email, display_name, bio, birthdate, gender, location, avatar_url
             FROM users WHERE id = $1",
            id.get(),
        )
        .fetch_optional(&self.db)
        .await?)
    }

    #[tracing::instrument(name = "Read public cards", skip_all, fields(count = ids.len()))]
    pub(crate) async fn cards(&self, ids: &[i64]) -> Result<Vec<UserCard>, Error> {
        Ok(sqlx::query_as!(
            UserCard,
            "SELECT id, username, display_name FROM users WHERE id = ANY($1) ORDER BY id",
            ids,
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// People whose username or display name starts with `query`
    /// (case-insensitively), by lowercase username, after `after`; never the
    /// viewer, nor anyone blocking or blocked by them.
    #[tracing::instrument(name = "Search people", skip_all)]
    pub(crate) async fn search(
        &self,
        viewer: Option<UserId>,
        query: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<UserCard>, Error> {
        // Usernames are ASCII, so the byte order ("C") is the username order,
        // and it lets the prefix match use the index.
        Ok(sqlx::query_as!(
            UserCard,
            r#"SELECT u.id, u.username, u.display_name FROM users u
               WHERE (lower(u.username) COLLATE "C" LIKE lower($1) OR lower(u.display_name) LIKE lower($1))
                 AND ($2::text IS NULL OR lower(u.username) COLLATE "C" > $2)
                 AND ($3::bigint IS NULL OR (
                      u.id <> $3
                      AND NOT EXISTS (SELECT 1 FROM blocks b
                                      WHERE (b.blocker_id = $3 AND b.blocked_id = u.id)
                                         OR (b.blocker_id = u.id AND b.blocked_id = $3))))
               ORDER BY lower(u.username) COLLATE "C"
               LIMIT $4"#,
            like_prefix(query),
            after,
            viewer.map(|v| v.get()),
            limit,
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// Writes the listed fields; the whole profile afterwards. `None` for an
    /// unknown user.
    #[tracing::instrument(name = "Update a profile", skip_all, fields(user_id = id.get()))]
    pub(crate) async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
    ) -> Result<Option<Profile>, Error> {
        let row = sqlx::query_as!(
            UserRecord,
            "UPDATE users SET
                display_name = CASE WHEN $2 THEN $3 ELSE display_name END,
                bio          = CASE WHEN $4 THEN $5 ELSE bio END,
                birthdate    = CASE WHEN $6 THEN $7 ELSE birthdate END,
                gender       = CASE WHEN $8 THEN $9 ELSE gender END,
                location     = CASE WHEN $10 THEN $11 ELSE location END,
                avatar_url   = CASE WHEN $12 THEN $13 ELSE avatar_url END,
                updated_at   = now()
             WHERE id = $1
             RETURNING id, username, email, display_name, bio, birthdate, gender, location, avatar_url",
            id.get(),
            update.display_name.is_some(),
            update.display_name.clone().flatten(),
            update.bio.is_some(),
            update.bio.clone().flatten(),
            update.birthdate.is_some(),
            update.birthdate.flatten(),
            update.gender.is_some(),
            update.gender.clone().flatten(),
            update.location.is_some(),
            update.location.clone().flatten(),
            update.avatar_url.is_some(),
            update.avatar_url.clone().flatten(),
        )
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|r| r.profile()))
    }
}

/// `query` as a LIKE pattern matching what starts with it, its own wildcards
/// escaped (`_` is common in usernames). PostgreSQL lowercases it, as it does
/// the names, so both sides agree on what lowercase means.
fn like_prefix(query: &str) -> String {
    let mut pattern = String::with_capacity(query.len() + 1);
    for c in query.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_prefix_escapes_like_wildcards() {
        assert_eq!(like_prefix("Al_i%"), "Al\\_i\\%%");
        assert_eq!(like_prefix(""), "%");
    }
}
