//! What every handler can reach.

use std::sync::Arc;

use application::{Policies, Ports};
use domain::IdentityVerifier;

use crate::admin::AdminToken;
use crate::metrics::Metrics;
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
    /// `AUTH_MODE=jwt`: checks the identity token `POST /api/token` must carry. `None`
    /// (`AUTH_MODE=none`): the request's `userId` is trusted.
    pub identity: Option<Arc<dyn IdentityVerifier>>,
    /// `ADMIN_TOKEN`: the box office's secret; `None` turns the box office off (404).
    pub admin: Option<AdminToken>,
    /// This instance's figures on `/metrics`.
    pub metrics: Metrics,
}
