//! Where a request came from: what the audit log records and what a key's
//! allowed CIDRs are checked against.

use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}
