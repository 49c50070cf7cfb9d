//! `keymint serve`: run the service; on a first start, print the bootstrap
//! key and a curl command that exchanges it.

use std::net::SocketAddr;

use crate::bootstrap::Bootstrapped;
use crate::config::Config;
use crate::server::Server;

pub fn run(config: Config) -> Result<(), String> {
    let tls = config.tls_enabled();
    let server = Server::build(config).map_err(|e| e.to_string())?;
    if let Some(done) = &server.bootstrapped {
        print_first_start(done, server.local_addr(), tls);
    }
    actix_web::rt::System::new()
        .block_on(server.run())
        .map_err(|e| format!("server: {e}"))
}

/// Shown once, on the start that created the bootstrap workspace: the secret
/// is not stored anywhere it could be shown again.
fn print_first_start(done: &Bootstrapped, address: SocketAddr, tls: bool) {
    let mut reachable = address;
    if reachable.ip().is_unspecified() {
        reachable.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if tls { "https" } else { "http" };
    println!(
        "\nkeymint bootstrapped workspace {slug:?} (owner {email}).\n\
         Workspace key (shown once; store it now):\n\n    {secret}\n\n\
         Exchange it for a JWT:\n\n    curl -s -X POST {scheme}://{reachable}/auth/token -H 'Authorization: Bearer {secret}'\n",
        slug = done.workspace.slug,
        email = done.user.email,
        secret = done.api_key.secret,
    );
}
