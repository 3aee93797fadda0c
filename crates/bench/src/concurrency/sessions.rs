//! The clients' PostgreSQL sessions: opened once, each with its timeouts and its prepared
//! statements, handed to one attempt at a time.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Mutex, Semaphore};
use tokio_postgres::{Client, NoTls, Statement};

use super::StudyResult;

/// Session settings: a lock queue or a runaway statement fails the attempt instead of hanging
/// the study (an error is counted and reported, never waited out).
const SESSION_SETTINGS: &str = "SET lock_timeout = '5s'; SET statement_timeout = '15s'";

/// One PostgreSQL session and the statements prepared on it.
pub struct Session {
    /// The connection.
    pub client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Session {
    /// The statement `sql`, prepared by [`Sessions::prepare`].
    pub fn statement(&self, sql: &'static str) -> StudyResult<Statement> {
        // A statement nobody prepared is a bug of the study: an error, never a panic.
        self.prepared.get(sql).cloned().ok_or_else(|| format!("statement not prepared: {sql}").into())
    }
}

/// Opens a plain connection (loopback, no TLS) with the study's timeouts.
pub async fn connect(url: &str) -> StudyResult<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("[concurrency] a PostgreSQL session ended: {error}");
        }
    });
    client.batch_execute(SESSION_SETTINGS).await?;
    Ok(client)
}

/// The pool of sessions the clients share: a client checks one out per attempt.
#[derive(Clone)]
pub struct Sessions {
    idle: Arc<Mutex<Vec<Session>>>,
    free: Arc<Semaphore>,
    count: usize,
}

impl Sessions {
    /// Opens `count` sessions to `url`.
    pub async fn open(url: &str, count: usize) -> StudyResult<Self> {
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            idle.push(Session { client: connect(url).await?, prepared: HashMap::new() });
        }
        Ok(Self { idle: Arc::new(Mutex::new(idle)), free: Arc::new(Semaphore::new(count)), count })
    }

    /// How many sessions there are.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Prepares `statements` on every session (once each), outside any timed run.
    pub async fn prepare(&self, statements: &[&'static str]) -> StudyResult<()> {
        let mut idle = self.idle.lock().await;
        if idle.len() != self.count {
            return Err("a session is still checked out while preparing statements".into());
        }
        for session in idle.iter_mut() {
            for sql in statements {
                if !session.prepared.contains_key(sql) {
                    let statement = session.client.prepare(sql).await?;
                    session.prepared.insert(sql, statement);
                }
            }
        }
        Ok(())
    }

    /// Waits for an idle session and takes it.
    pub async fn checkout(&self) -> StudyResult<Session> {
        let permit = self.free.acquire().await?;
        permit.forget();
        self.idle.lock().await.pop().ok_or_else(|| "no idle session behind a free permit".into())
    }

    /// Gives `session` back.
    pub async fn give_back(&self, session: Session) {
        self.idle.lock().await.push(session);
        self.free.add_permits(1);
    }
}
