//! A throwaway PostgreSQL cluster of a test's own, on a private port, that the test may stop
//! (cleanly or like a crash) and start again. Built with the server's `initdb` and `pg_ctl`
//! (found under `/usr/lib/postgresql/*/bin` or on `PATH`); as root they run as the `postgres`
//! OS user, because PostgreSQL refuses to run as root. Trust authentication, user `postgres`.
//! Dropping the cluster stops the server and deletes its directory.
//!
//! Every method blocks (it waits for `pg_ctl`); call it from async code through
//! `tokio::task::block_in_place` so the runtime's other tasks keep running meanwhile.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::free_port;

/// Clusters made by this process, to name their directories.
static MADE: AtomicU32 = AtomicU32::new(0);

/// How a stop behaves (`pg_ctl stop -m …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Disconnects the clients, rolls their transactions back, shuts down cleanly.
    Fast,
    /// Kills the server at once, like a crash; the next start runs crash recovery.
    Immediate,
}

/// One private PostgreSQL cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Holds the data directory, the socket and the server log; owned by the server's user.
    base: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
}

impl Cluster {
    /// Creates a cluster in a fresh directory under the temp dir and starts it. Panics, saying
    /// what is missing, when the PostgreSQL server binaries are not installed.
    pub fn start() -> Cluster {
        let bin = server_binaries().unwrap_or_else(|| {
            panic!(
                "this test needs the PostgreSQL server programs `initdb` and `pg_ctl`, which are neither \
                 under /usr/lib/postgresql/*/bin nor on PATH; install the PostgreSQL server (e.g. `apt-get \
                 install postgresql`)"
            )
        });
        let as_postgres = is_root();
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("frontrow-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("create the cluster directory");
        let mut cluster = Cluster { base, bin, port: 0, as_postgres, running: false };
        if as_postgres {
            let chown = Command::new("chown").arg("postgres:postgres").arg(&cluster.base).output();
            match chown {
                Ok(out) if out.status.success() => {}
                other => panic!(
                    "running as root, the cluster directory must belong to the `postgres` OS user, but \
                     `chown postgres:postgres` failed (is there a `postgres` user?): {other:?}"
                ),
            }
        }
        let data = cluster.data();
        let init = cluster.run(
            "initdb",
            &["-D", path(&data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
        );
        assert!(init.status.success(), "initdb failed:\n{}", describe(&init));
        // Another process may take the port between the probe and the bind: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            match cluster.try_start() {
                Ok(()) => return cluster,
                Err(why) => last = why,
            }
        }
        panic!("the throwaway PostgreSQL cluster did not start:\n{last}");
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (`pg_ctl stop -m fast|immediate`), waiting until it is gone.
    pub fn stop(&mut self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let out = self.run("pg_ctl", &["-D", path(&self.data()), "-m", mode, "-w", "-t", "30", "stop"]);
        assert!(out.status.success(), "pg_ctl stop -m {mode} failed:\n{}", describe(&out));
        self.running = false;
    }

    /// Starts the stopped server again on the same port, waiting until it accepts connections.
    pub fn restart(&mut self) {
        if let Err(why) = self.try_start() {
            panic!("the throwaway PostgreSQL cluster did not start again:\n{why}");
        }
    }

    /// Freezes every process of the server (`SIGSTOP`): connections stay open but nothing
    /// answers, like a stalled disk or a network black hole. [`Cluster::thaw`] resumes it.
    pub fn freeze(&self) {
        self.signal("-STOP").unwrap_or_else(|why| panic!("cannot freeze the cluster: {why}"));
    }

    /// Resumes a frozen server (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("-CONT").unwrap_or_else(|why| panic!("cannot thaw the cluster: {why}"));
    }

    /// Sends `signal` to the postmaster and its children, by process id: a stopped postmaster
    /// forks no one, so it is stopped first and continued last. A child may exit meanwhile
    /// (its client went away); only the postmaster must be signalled.
    fn signal(&self, signal: &str) -> Result<(), String> {
        let kill = |pids: &[&str]| Command::new("kill").arg(signal).args(pids).stderr(Stdio::null()).status();
        let pid_file =
            std::fs::read_to_string(self.data().join("postmaster.pid")).map_err(|e| e.to_string())?;
        let postmaster = pid_file.lines().next().unwrap_or_default().trim();
        let stopping = signal == "-STOP";
        if stopping {
            match kill(&[postmaster]) {
                Ok(status) if status.success() => {}
                other => return Err(format!("kill {signal} {postmaster}: {other:?}")),
            }
        }
        let children = Command::new("ps").args(["-o", "pid=", "--ppid", postmaster]).output();
        let children = children.map_err(|e| format!("ps: {e}"))?.stdout;
        let children = String::from_utf8_lossy(&children);
        let children: Vec<&str> = children.split_whitespace().collect();
        if !children.is_empty() {
            let _ = kill(&children);
        }
        if !stopping {
            match kill(&[postmaster]) {
                Ok(status) if status.success() => {}
                other => return Err(format!("kill {signal} {postmaster}: {other:?}")),
            }
        }
        Ok(())
    }

    fn try_start(&mut self) -> Result<(), String> {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, path(&self.base));
        let log = self.base.join("server.log");
        let out = self.run(
            "pg_ctl",
            &["-D", path(&self.data()), "-o", &options, "-l", path(&log), "-w", "-t", "30", "start"],
        );
        if out.status.success() {
            self.running = true;
            return Ok(());
        }
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        Err(format!("pg_ctl start failed:\n{}\nserver log:\n{server_log}", describe(&out)))
    }

    fn data(&self) -> PathBuf {
        self.base.join("data")
    }

    /// Runs one of the server's programs, as `postgres` when this process is root.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(&program);
            cmd
        } else {
            Command::new(&program)
        };
        // The server's own output goes to its log file, so these pipes close when pg_ctl ends.
        cmd.args(args).current_dir(&self.base).stdin(Stdio::null());
        for key in ["PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE", "PGOPTIONS"] {
            cmd.env_remove(key);
        }
        let what = format!("{:?} {:?}", cmd.get_program(), cmd.get_args().collect::<Vec<_>>());
        cmd.output().unwrap_or_else(|error| panic!("cannot run {what}: {error}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.signal("-CONT");
            let _ = self.run("pg_ctl", &["-D", path(&self.data()), "-m", "immediate", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// The directory holding `initdb` and `pg_ctl`: the newest `/usr/lib/postgresql/N/bin`, or
/// the `PATH` entry that has both.
fn server_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.split('.').next()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| has_both(dir))
}

/// Whether this process runs as root (`id -u` is 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn path(path: &Path) -> &str {
    path.to_str().expect("the temp dir path is UTF-8")
}

fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
