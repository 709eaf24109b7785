//! Error-tracking projects created through the admin API.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::project::validate_public_key;
use crate::{NewProject, ProjectRecord, StateError};

const COLUMNS: &str = "id, slug, name, public_key, created_at, updated_at, disabled_at";

fn row(r: &Row<'_>) -> rusqlite::Result<ProjectRecord> {
    let id: i64 = r.get(0)?;
    Ok(ProjectRecord {
        id: u64::try_from(id).map_err(|e| super::conv_err(0, e))?,
        slug: r.get(1)?,
        name: r.get(2)?,
        public_key: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        disabled_at: r.get(6)?,
    })
}

fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

pub(super) fn list(
    conn: &Connection,
    include_disabled: bool,
) -> Result<Vec<ProjectRecord>, StateError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM projects WHERE ?1 OR disabled_at IS NULL ORDER BY id"
    ))?;
    let rows = stmt
        .query_map([include_disabled], row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn get(conn: &Connection, id: u64) -> Result<Option<ProjectRecord>, StateError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM projects WHERE id = ?1"),
            [sql_id(id)],
            row,
        )
        .optional()?)
}

pub(super) fn create(
    conn: &Connection,
    p: &NewProject,
    at: i64,
) -> Result<ProjectRecord, StateError> {
    p.validate()?;
    // Name the clash rather than surfacing a bare constraint error.
    let clash: Option<(i64, String, Option<i64>)> = conn
        .query_row(
            "SELECT id, slug, disabled_at FROM projects
             WHERE id = ?1 OR slug = ?2 OR public_key = ?3 LIMIT 1",
            params![sql_id(p.id), p.slug, p.public_key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((id, slug, disabled)) = clash {
        let deleted = if disabled.is_some() { " (deleted)" } else { "" };
        let what = if id == sql_id(p.id) {
            format!("id: project id {id} is taken by project {slug:?}{deleted}")
        } else if slug == p.slug {
            format!("slug: {slug:?} is taken by project {id}{deleted}")
        } else {
            format!("public_key: the key is already used by project {id}{deleted}")
        };
        return Err(StateError::Conflict(what));
    }
    conn.execute(
        "INSERT INTO projects (id, slug, name, public_key, created_at, updated_at, disabled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, NULL)",
        params![sql_id(p.id), p.slug, p.name, p.public_key, at],
    )?;
    Ok(ProjectRecord {
        id: p.id,
        slug: p.slug.clone(),
        name: p.name.clone(),
        public_key: p.public_key.clone(),
        created_at: at,
        updated_at: at,
        disabled_at: None,
    })
}

/// The enabled project `id`, or `NotFound` (a disabled project is gone for callers).
fn enabled(conn: &Connection, id: u64) -> Result<ProjectRecord, StateError> {
    match get(conn, id)? {
        Some(p) if p.disabled_at.is_none() => Ok(p),
        _ => Err(StateError::not_found("project", id.to_string())),
    }
}

pub(super) fn rotate_key(
    conn: &Connection,
    id: u64,
    public_key: &str,
    at: i64,
) -> Result<ProjectRecord, StateError> {
    validate_public_key(public_key)?;
    let mut p = enabled(conn, id)?;
    let used: Option<i64> = conn
        .query_row(
            "SELECT id FROM projects WHERE public_key = ?1",
            [public_key],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(other) = used {
        return Err(StateError::Conflict(format!(
            "public_key: the key is already used by project {other}"
        )));
    }
    conn.execute(
        "UPDATE projects SET public_key = ?2, updated_at = ?3 WHERE id = ?1",
        params![sql_id(id), public_key, at],
    )?;
    p.public_key = public_key.to_string();
    p.updated_at = at;
    Ok(p)
}

pub(super) fn disable(conn: &Connection, id: u64, at: i64) -> Result<ProjectRecord, StateError> {
    let mut p = enabled(conn, id)?;
    conn.execute(
        "UPDATE projects SET disabled_at = ?2, updated_at = ?2 WHERE id = ?1",
        params![sql_id(id), at],
    )?;
    p.disabled_at = Some(at);
    p.updated_at = at;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use crate::{NewProject, SqliteStore, StateError, StateStore};

    const K1: &str = "0123456789abcdef0123456789abcdef";
    const K2: &str = "fedcba9876543210fedcba9876543210";
    const K3: &str = "00000000000000000000000000000003";

    fn new(id: u64, slug: &str, key: &str) -> NewProject {
        NewProject {
            id,
            slug: slug.into(),
            name: format!("The {slug} app"),
            public_key: key.into(),
        }
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("state.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn create_list_rotate_disable() {
        let (_d, s) = store();
        let p = s.create_project(&new(2, "web", K1), 1_000).unwrap();
        assert_eq!((p.id, p.created_at, p.disabled_at), (2, 1_000, None));
        s.create_project(&new(3, "api", K2), 2_000).unwrap();
        let all = s.list_projects(false).unwrap();
        assert_eq!(
            all.iter().map(|p| p.slug.as_str()).collect::<Vec<_>>(),
            ["web", "api"]
        );
        assert_eq!(all[0].name, "The web app");

        let r = s.rotate_project_key(2, K3, 3_000).unwrap();
        assert_eq!((r.public_key.as_str(), r.updated_at), (K3, 3_000));
        assert_eq!(s.get_project(2).unwrap().unwrap().public_key, K3);

        let d = s.disable_project(3, 4_000).unwrap();
        assert_eq!(d.disabled_at, Some(4_000));
        assert_eq!(s.list_projects(false).unwrap().len(), 1);
        assert_eq!(s.list_projects(true).unwrap().len(), 2);
        // Gone for changes: rotating or deleting again is not found.
        for e in [
            s.rotate_project_key(3, K2, 5_000).unwrap_err(),
            s.disable_project(3, 5_000).unwrap_err(),
            s.disable_project(99, 5_000).unwrap_err(),
        ] {
            assert!(matches!(e, StateError::NotFound { .. }), "{e}");
        }
    }

    #[test]
    fn clashes_are_conflicts_naming_the_field() {
        let (_d, s) = store();
        s.create_project(&new(2, "web", K1), 1_000).unwrap();
        s.disable_project(2, 1_500).unwrap();
        let e = s.create_project(&new(2, "other", K2), 2_000).unwrap_err();
        assert!(e.to_string().contains("id: project id 2"), "{e}");
        let e = s.create_project(&new(5, "web", K2), 2_000).unwrap_err();
        assert!(
            e.to_string()
                .contains("slug: \"web\" is taken by project 2 (deleted)"),
            "{e}"
        );
        let e = s.create_project(&new(5, "api", K1), 2_000).unwrap_err();
        assert!(e.to_string().contains("public_key"), "{e}");
        assert!(matches!(e, StateError::Conflict(_)));
        s.create_project(&new(5, "api", K2), 2_000).unwrap();
        let e = s.rotate_project_key(5, K1, 3_000).unwrap_err();
        assert!(matches!(e, StateError::Conflict(_)), "{e}");
        // Nothing half-written.
        assert_eq!(s.list_projects(true).unwrap().len(), 2);
        assert_eq!(s.get_project(5).unwrap().unwrap().public_key, K2);
    }

    #[test]
    fn bad_input_names_the_field() {
        let (_d, s) = store();
        let long = "a".repeat(65);
        for (p, field) in [
            (new(1, "", K1), "slug"),
            (new(1, &long, K1), "slug"),
            (new(1, "Web App", K1), "slug"),
            (new(1, "web", "XYZ"), "public_key"),
            (new(1, "web", &K1.to_uppercase()), "public_key"),
            (new(0, "web", K1), "id"),
        ] {
            let e = s.create_project(&p, 1).unwrap_err();
            assert!(matches!(e, StateError::BadInput(_)), "{e}");
            assert!(e.to_string().contains(&format!("{field}:")), "{field}: {e}");
        }
        let mut p = new(1, "web", K1);
        p.name = "x\ny".into();
        assert!(s
            .create_project(&p, 1)
            .unwrap_err()
            .to_string()
            .contains("name:"));
        assert!(s.list_projects(true).unwrap().is_empty());
    }

    #[test]
    fn survive_reopen_and_read_only_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let s = SqliteStore::open(&path).unwrap();
            s.create_project(&new(7, "mobile", K1), 1_000).unwrap();
        }
        let ro = SqliteStore::open_read_only(&path).unwrap();
        let all = ro.list_projects(false).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].id, all[0].slug.as_str()), (7, "mobile"));
        assert!(ro.create_project(&new(8, "x", K2), 2_000).is_err());
        drop(ro);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.get_project(7).unwrap().unwrap().public_key, K1);
        // A missing database is not created by a read-only open.
        let e = SqliteStore::open_read_only(dir.path().join("none.db")).unwrap_err();
        assert!(matches!(e, StateError::Unavailable { .. }), "{e}");
        assert!(std::fs::metadata(dir.path().join("none.db")).is_err());
    }
}
