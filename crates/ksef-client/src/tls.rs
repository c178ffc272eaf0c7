//! The process-wide TLS provider of reqwest's rustls (see the crate docs, "TLS").

/// A `reqwest::ClientBuilder` whose clients can speak HTTPS: installs rustls's ring provider as
/// the process default first, unless a provider is already installed (then that one is used).
/// Every `reqwest::Client` of a program that links this crate must start here (or after
/// another explicit `rustls::crypto::CryptoProvider::install_default`).
#[allow(clippy::disallowed_methods)] // the one sanctioned constructor
pub fn http_client_builder() -> reqwest::ClientBuilder {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing a provider is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
}
