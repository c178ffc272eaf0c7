//! One module per command group.

pub mod auth;
pub mod cert;
pub mod demo;
pub mod emulator;
pub mod firm;
pub mod invoice;
pub mod limits;
pub mod offline;
pub mod pdf;
pub mod permission;
pub mod progress;
pub mod qr;
pub mod session;
pub mod sync;
pub mod token;
pub mod upo;
pub mod user;

/// `--nip` / `--internal-id`: the context (firm) a command acts on.
#[derive(clap::Args, Default)]
pub struct ContextArgs {
    /// The context NIP (whose data you act on).
    #[arg(long)]
    pub nip: Option<String>,
    /// A subordinate unit's InternalId (NIP-NNNNN) instead of --nip.
    #[arg(long, conflicts_with = "nip")]
    pub internal_id: Option<String>,
}

impl ContextArgs {
    /// The named firm's key (`Nip:5265877635`), if one was named.
    pub fn firm(&self) -> crate::app::CliResult<Option<String>> {
        match (&self.nip, &self.internal_id) {
            (None, None) => Ok(None),
            (nip, id) => Ok(Some(ksef_store::firm_key(&auth::context_from_args(
                nip.as_deref(),
                id.as_deref(),
            )?))),
        }
    }
}
