//! What every handler can reach.

use application::{Policies, Ports};

use crate::streams::StreamSlots;

/// The ports and settings handed to the HTTP adapter by the binary.
#[derive(Clone)]
pub struct HttpState {
    /// Every port, wired to an adapter.
    pub ports: Ports,
    /// The business settings.
    pub policies: Policies,
    /// The waiting-room streams open on this instance, under their caps.
    pub streams: StreamSlots,
}
