//! A full disk under PostgreSQL, for one test database only: a tmpfs of a few megabytes mounted
//! for the test, a tablespace on it owned by the server's user, and the database's
//! `default_tablespace` set to it before the aggregator migrates, so every table, index and
//! partition of that database lands there (the WAL and the catalog stay on the server's own
//! disk, as they would on a box whose data volume fills). A filler file takes the room left;
//! removing it is the operator freeing space.
//!
//! It needs root (`mount`) and PostgreSQL on this machine (the tablespace is a local
//! directory), so the suite runs it in the long profile only. Dropping a [`SmallDisk`] (also
//! when the scenario panics) removes the filler, drops the database and the tablespace, and
//! unmounts. A run killed outright (SIGKILL, Ctrl-C) drops nothing; a later mount sweeps what
//! such a run left over half an hour before, where nobody is connected to it any more.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use crate::{TestEnv, admin_database_url, connect};

const PREFIX: &str = "exporter-small-disk-";

/// See the module documentation.
#[derive(Debug)]
pub struct SmallDisk {
    mount_point: PathBuf,
    tablespace: String,
    database: String,
    filler: PathBuf,
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|err| format!("{program}: {err}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl SmallDisk {
    /// Mounts a tmpfs of `size_bytes` and makes it `env`'s database's default tablespace.
    pub async fn mount(env: &TestEnv, size_bytes: u64) -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        sweep_aborted_runs().await;
        let mount_point = std::env::temp_dir().join(format!("{PREFIX}{id}"));
        std::fs::create_dir_all(&mount_point).unwrap();
        let disk = Self {
            filler: mount_point.join("filler"),
            mount_point,
            tablespace: format!("exporter_small_{id}"),
            database: env.database.clone(),
        };
        let point = disk.mount_point.to_str().unwrap().to_owned();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_bytes}"),
                "tmpfs",
                &point,
            ],
        )
        .unwrap_or_else(|err| {
            panic!("the disk-full scenario mounts a small tmpfs and needs root: {err}")
        });
        let admin = connect(&admin_database_url()).await.unwrap();
        let data_directory: String = sqlx::query_scalar("SHOW data_directory")
            .fetch_one(&admin)
            .await
            .unwrap();
        let owner = std::fs::metadata(&data_directory).unwrap_or_else(|err| {
            panic!(
                "the disk-full scenario needs PostgreSQL on this machine ({data_directory}: {err})"
            )
        });
        let location = disk.mount_point.join("pg");
        std::fs::create_dir(&location).unwrap();
        let (uid, gid) = (
            Some(nix::unistd::Uid::from_raw(owner.uid())),
            Some(nix::unistd::Gid::from_raw(owner.gid())),
        );
        nix::unistd::chown(&disk.mount_point, uid, gid).unwrap();
        nix::unistd::chown(&location, uid, gid).unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLESPACE {} LOCATION '{}'",
            disk.tablespace,
            location.display()
        )))
        .execute(&admin)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} SET default_tablespace = {}",
            disk.database, disk.tablespace
        )))
        .execute(&admin)
        .await
        .unwrap();
        admin.close().await;
        disk
    }

    /// Bytes free on the small file system.
    pub fn free_bytes(&self) -> u64 {
        let stat = nix::sys::statvfs::statvfs(&self.mount_point).unwrap();
        stat.blocks_available() as u64 * stat.fragment_size() as u64
    }

    /// Fills what is left with a file (as a runaway log would); returns its size.
    pub fn fill(&self) -> u64 {
        let mut file = std::fs::File::create(&self.filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0;
        while file.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        // Then 4 KiB at a time, until nothing fits.
        while file.write_all(&chunk[..4096]).is_ok() {
            written += 4096;
        }
        let _ = file.flush();
        written
    }

    /// Frees the room again (removes the filler).
    pub fn free(&self) {
        let _ = std::fs::remove_file(&self.filler);
    }
}

/// The databases, tablespaces and mounts of runs killed before their [`SmallDisk`] was dropped:
/// a database on such a tablespace that nobody is connected to is dropped (one in use makes
/// `DROP DATABASE` fail, and so does its tablespace, so a run still going keeps everything).
async fn sweep_aborted_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let Ok(admin) = connect(&admin_database_url()).await else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix(PREFIX) else {
            continue;
        };
        // A run of a few minutes ago may still be going (and not have made its tablespace yet).
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age.as_secs() > 1800));
        if !old {
            continue;
        }
        let tablespace = format!("exporter_small_{id}");
        let databases: Vec<String> = sqlx::query_scalar(
            "SELECT d.datname FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase \
             WHERE $1 = ANY(s.setconfig)",
        )
        .bind(format!("default_tablespace={tablespace}"))
        .fetch_all(&admin)
        .await
        .unwrap_or_default();
        for database in databases {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {database}"
            )))
            .execute(&admin)
            .await;
        }
        let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLESPACE IF EXISTS {tablespace}"
        )))
        .execute(&admin)
        .await;
        if dropped.is_ok() {
            let point = entry.path().to_string_lossy().into_owned();
            let _ = run("umount", &[&point]);
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    admin.close().await;
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        self.free();
        // psql, not sqlx: Drop cannot await, and this must run while a panic unwinds.
        let drop_all = run(
            "psql",
            &[
                &admin_database_url(),
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
                "-c",
                &format!("DROP TABLESPACE IF EXISTS {}", self.tablespace),
            ],
        );
        if let Err(err) = drop_all {
            eprintln!("small disk: {err}");
        }
        let point = self.mount_point.to_str().unwrap_or_default().to_owned();
        if run("umount", &[&point]).is_err()
            && let Err(err) = run("umount", &["-l", &point])
        {
            eprintln!("small disk: {err}");
        }
        let _ = std::fs::remove_dir(&self.mount_point);
    }
}
