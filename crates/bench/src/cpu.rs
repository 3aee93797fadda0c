//! CPU time spent by each party during a scenario — the `frontrow` instances, PostgreSQL (the
//! backends of the benchmark's database plus the shared WAL writer, checkpointer and background
//! writer, so other databases' work on a shared server is left out), and the load generator
//! (this process and the `oha` runs it waited for) — read from `/proc` (Linux; elsewhere
//! everything reads 0). CPU per operation hardly
//! depends on how busy the machine is, so it says what bounds a rate on 2 cores even when the
//! run itself was disturbed.

use std::fs;

/// Clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// Cumulative CPU seconds of each party at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// The `frontrow` processes.
    pub server: f64,
    /// All `postgres` processes.
    pub postgres: f64,
    /// This process plus its waited-for children (`oha`).
    pub generator: f64,
}

/// CPU seconds spent between two snapshots.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    /// By the `frontrow` processes.
    pub server: f64,
    /// By PostgreSQL.
    pub postgres: f64,
    /// By the load generator.
    pub generator: f64,
}

/// What to meter: the `frontrow` processes and the benchmark's database.
#[derive(Debug, Clone)]
pub struct Meter {
    /// `frontrow` process ids.
    pub servers: Vec<u32>,
    /// The database whose backends count as PostgreSQL's work.
    pub database: String,
}

/// PostgreSQL processes that serve every database (their work is shared, and counted).
const SHARED: [&str; 3] = ["walwriter", "checkpointer", "background writer"];

impl Meter {
    /// The same database with other `frontrow` processes.
    pub fn with_servers(&self, servers: Vec<u32>) -> Self {
        Self { servers, database: self.database.clone() }
    }

    /// Reads `/proc` now.
    pub fn snapshot(&self) -> Snapshot {
        let server =
            self.servers.iter().filter_map(|pid| ticks(&format!("/proc/{pid}/stat"), false)).sum::<u64>();
        let generator = ticks("/proc/self/stat", true).unwrap_or(0);
        let postgres = postgres_ticks(&self.database);
        let seconds = |t: u64| t as f64 / TICKS_PER_SECOND;
        Snapshot { server: seconds(server), postgres: seconds(postgres), generator: seconds(generator) }
    }
}

impl Snapshot {
    /// What was spent since `earlier`.
    pub fn since(&self, earlier: &Snapshot) -> Spent {
        Spent {
            server: (self.server - earlier.server).max(0.0),
            postgres: (self.postgres - earlier.postgres).max(0.0),
            generator: (self.generator - earlier.generator).max(0.0),
        }
    }
}

impl Spent {
    /// "CPU per operation: frontrow 80 µs, PostgreSQL 120 µs, load generator 40 µs — 2 cores
    /// allow about 8,000 /s" for `operations` operations.
    pub fn per_operation(&self, operations: u64) -> String {
        if operations == 0 {
            return String::new();
        }
        let n = operations as f64;
        let micros = |s: f64| s * 1e6 / n;
        let total = micros(self.server + self.postgres + self.generator);
        let cores = std::thread::available_parallelism().map_or(2, usize::from) as f64;
        let ceiling = if total > 0.0 { cores * 1e6 / total } else { f64::INFINITY };
        format!(
            "CPU per operation: frontrow {:.0} µs, PostgreSQL {:.0} µs, load generator {:.0} µs; at that cost {} cores \
             allow about {}/s",
            micros(self.server),
            micros(self.postgres),
            micros(self.generator),
            cores,
            crate::report::grouped(ceiling.min(1e9) as u64)
        )
    }
}

/// CPU ticks of the backends of `database` and of their cluster's shared writers (the
/// processes with the same parent, the postmaster, whose command line ends with a [`SHARED`]
/// name: another cluster on the machine is left out).
fn postgres_ticks(database: &str) -> u64 {
    let Ok(entries) = fs::read_dir("/proc") else { return 0 };
    // (parent, command line, ticks) of every postgres process.
    let mut processes = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        if !fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres") {
            continue;
        }
        let Some((parent, ticks)) = parent_and_ticks(&format!("/proc/{pid}/stat")) else { continue };
        // A backend's command line reads "postgres: 15/main: user database host(port) state".
        let line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        processes.push((parent, String::from_utf8_lossy(&line).replace('\0', " "), ticks));
    }
    let ours = |line: &str| line.split_whitespace().any(|word| word == database);
    let Some(postmaster) = processes.iter().find(|(_, line, _)| ours(line)).map(|(parent, _, _)| *parent)
    else {
        return 0;
    };
    processes
        .iter()
        .filter(|(parent, line, _)| {
            ours(line)
                || (*parent == postmaster && SHARED.iter().any(|shared| line.trim_end().ends_with(shared)))
        })
        .map(|(_, _, ticks)| ticks)
        .sum()
}

/// The parent pid and utime + stime of a `/proc/PID/stat` file.
fn parent_and_ticks(path: &str) -> Option<(u64, u64)> {
    let number = stat_fields(path)?;
    Some((number(1), number(11) + number(12)))
}

/// utime + stime (and cutime + cstime with `children`) of a `/proc/PID/stat` file.
fn ticks(path: &str, children: bool) -> Option<u64> {
    let number = stat_fields(path)?;
    let mut total = number(11) + number(12);
    if children {
        total += number(13) + number(14);
    }
    Some(total)
}

/// The numeric fields of a `/proc/PID/stat` file, by index after the command name (0 when
/// absent or not a number).
fn stat_fields(path: &str) -> Option<impl Fn(usize) -> u64> {
    let stat = fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    // After ')': state is field 3 of the man page, so ppid (4) is index 1 and utime (14) index 11.
    let fields: Vec<u64> =
        stat.rsplit_once(')')?.1.split_whitespace().map(|field| field.parse().unwrap_or(0)).collect();
    Some(move |i: usize| fields.get(i).copied().unwrap_or(0))
}
