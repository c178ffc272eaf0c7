//! `ksef permission …`: grant permissions in the current context to a person (e.g. a
//! bookkeeper who may then list tokens or send invoices with their own login), list them,
//! revoke them.

use clap::Subcommand;
use ksef_program::permissions::{self, GrantRequest, OperationOutcome};
use ksef_program::show_time;
use ksef_wire::PersonPermission;

use crate::app::{App, CliResult, print_json};

#[derive(Subcommand)]
pub enum PermissionCommand {
    /// Grant permissions in the current context to a person (needs CredentialsManage).
    Grant {
        /// The person: PESEL (11 digits) or NIP (10 digits).
        person: String,
        /// Permission to grant (repeatable or comma-separated): CredentialsRead,
        /// CredentialsManage, InvoiceRead, InvoiceWrite, Introspection, SubunitManage,
        /// EnforcementOperations.
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
        /// The person's first name.
        #[arg(long)]
        first_name: String,
        /// The person's last name.
        #[arg(long)]
        last_name: String,
        /// What the grant is for (5–256 characters).
        #[arg(long)]
        description: String,
    },
    /// Person permissions in force in the current context (needs CredentialsRead or
    /// CredentialsManage).
    List {
        /// Only the permissions granted in this context (not those from elsewhere).
        #[arg(long)]
        granted: bool,
    },
    /// Revoke a permission by its id (from `ksef permission list`).
    Revoke {
        /// The permission id.
        id: String,
    },
}

pub async fn run(app: &mut App, cmd: PermissionCommand) -> CliResult<()> {
    match cmd {
        PermissionCommand::Grant {
            person,
            permissions: names,
            first_name,
            last_name,
            description,
        } => {
            let req = GrantRequest {
                person: permissions::parse_person(&person)?,
                first_name,
                last_name,
                permissions: permissions::parse_permissions(&names)?,
                description,
            };
            let shown = format!(
                "{} to {}",
                req.permissions
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                req.person.value()
            );
            let done = permissions::grant(app, req).await?;
            report(app, &done, &format!("granted {shown}"))
        }
        PermissionCommand::Revoke { id } => {
            let done = permissions::revoke(app, &id).await?;
            report(app, &done, &format!("permission {} revoked", id.trim()))
        }
        PermissionCommand::List { granted } => {
            let list = permissions::list(app, granted).await?;
            if app.json() {
                return print_json(&list);
            }
            print_list(&list);
            Ok(())
        }
    }
}

fn report(app: &App, done: &OperationOutcome, what: &str) -> CliResult<()> {
    if app.json() {
        return print_json(done);
    }
    println!("{what} (operation {})", done.reference_number);
    Ok(())
}

fn print_list(list: &[PersonPermission]) {
    if list.is_empty() {
        println!("no person permissions in this context");
        return;
    }
    println!(
        "{:<36}  {:<24}  {:<22}  {:<8}  {:<19}  DESCRIPTION",
        "ID", "PERSON", "PERMISSION", "STATE", "SINCE"
    );
    for p in list {
        let person = p
            .subject_person_details
            .as_ref()
            .map(|d| format!("{} {}", d.first_name, d.last_name))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| p.authorized_identifier.value.clone());
        println!(
            "{:<36}  {:<24}  {:<22}  {:<8}  {:<19}  {}",
            p.id,
            format!("{person} ({})", p.authorized_identifier.value),
            p.permission_scope.to_string(),
            p.permission_state.to_string(),
            show_time(p.start_date),
            p.description
        );
    }
}
