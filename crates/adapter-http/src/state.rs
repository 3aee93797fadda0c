//! What every handler can reach.

use application::{Policies, Ports};

/// The ports and settings handed to the HTTP adapter by the binary.
#[derive(Clone)]
pub struct HttpState {
    /// Every port, wired to an adapter.
    pub ports: Ports,
    /// The business settings.
    pub policies: Policies,
}
