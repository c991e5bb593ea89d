//! The command line: `serve` (default), `migrate`, `admin create`, `api-key create`.

use crate::config::Settings;
use crate::startup::{shutdown_signal, Application};
use anyhow::{bail, Context};
use app::model::{NewApiKey, NewUser};
use app::services;
use app::storage::{redact_url, Db};
use clap::{Parser, Subcommand};
use std::io::BufRead;

#[derive(Parser, Debug)]
#[command(name = "intentlab", version, about = "Experimentation platform for e-commerce micro-conversions")]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate the database, then serve the web UI and the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage administrator accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage API keys for backend services.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Fill the database with a simulated shop and experiments with known effects (no server needed).
    Demo(DemoArgs),
    /// Print the API's OpenAPI document (what `GET /api/v1/openapi.json` serves; docs/openapi.json holds it).
    Openapi,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Simulated people.
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Their visits spread over this many days, up to now.
    #[arg(long, default_value_t = 60)]
    days: u32,
    /// The same seed makes the same shop.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Do nothing (successfully) when the demo data is loaded already.
    #[arg(long)]
    skip_if_loaded: bool,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a user with the admin role.
    Create {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Set a new password for an existing user (for an admin who is locked out).
    ResetPassword {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        password: PasswordInput,
    },
}

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct PasswordInput {
    /// Read the password from the first line of standard input (keeps it out of shell history).
    #[arg(long)]
    password_stdin: bool,
    /// The password on the command line.
    #[arg(long)]
    password: Option<String>,
}

impl PasswordInput {
    fn read(self) -> anyhow::Result<String> {
        if let Some(password) = self.password {
            return Ok(password);
        }
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        Ok(password)
    }
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key and print it once on standard output.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: assign, ingest, read, admin.
        #[arg(long)]
        scopes: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(crate::api::openapi::document())?);
            Ok(())
        }
        Command::Migrate => {
            let db = open(&settings).await?;
            db.close().await;
            eprintln!("migrations applied to {}", redact_url(&settings.database_url));
            Ok(())
        }
        Command::Admin(AdminCommand::Create { email, password }) => {
            let db = open(&settings).await?;
            let input = NewUser { email, password: password.read()?, role: "admin".into() };
            let result = services::users::create_unchecked(&db, input).await;
            db.close().await;
            let user = result.map_err(|e| anyhow::anyhow!(e.public_message()))?;
            eprintln!("created admin {} (id {})", user.email, user.id);
            Ok(())
        }
        Command::Admin(AdminCommand::ResetPassword { email, password }) => {
            let db = open(&settings).await?;
            let result = services::users::reset_password_unchecked(&db, &email, &password.read()?).await;
            db.close().await;
            result.map_err(|e| anyhow::anyhow!(e.public_message()))?;
            eprintln!("password updated for {email}");
            Ok(())
        }
        Command::Demo(args) => demo(&settings, args).await,
        Command::ApiKey(ApiKeyCommand::Create { name, scopes }) => {
            let db = open(&settings).await?;
            let input = NewApiKey { name, scopes: scopes.split(',').map(str::to_string).collect() };
            let result = services::api_keys::create_unchecked(&db, input, None).await;
            db.close().await;
            let created = result.map_err(|e| anyhow::anyhow!(e.public_message()))?;
            eprintln!(
                "created API key '{}' with scopes {}; it is shown only this once:",
                created.key.name,
                app::domain::access::format_scopes(&created.key.scopes)
            );
            println!("{}", created.secret);
            Ok(())
        }
    }
}

/// Loads the demo with the ingest and exposure writers running, as in the server, and a progress bar.
async fn demo(settings: &Settings, args: DemoArgs) -> anyhow::Result<()> {
    let state = crate::startup::build_state(settings).await?;
    if args.skip_if_loaded && crate::demo::loaded(&state).await? {
        eprintln!("the demo data is loaded already");
        state.db.close().await;
        return Ok(());
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let jobs = crate::jobs::start(&state, stop.clone());
    let bar = indicatif::ProgressBar::new(args.users as u64).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} people ({eta} left)")
            .map_err(|e| anyhow::anyhow!(e))?
            .progress_chars("=> "),
    );
    bar.set_message("simulating the demo shop");
    let options = crate::demo::DemoOptions { users: args.users, days: args.days, seed: args.seed };
    let loaded = crate::demo::load(&state, options, |done| bar.set_position(done as u64)).await;
    bar.finish_and_clear();
    stop.cancel();
    jobs.join().await;
    state.db.close().await;
    println!("{}", loaded?);
    Ok(())
}

/// Connects and migrates: every command works on an up-to-date schema.
pub async fn open(settings: &Settings) -> anyhow::Result<Db> {
    let url = redact_url(&settings.database_url);
    let db = Db::connect(&settings.database_url, settings.db_max_connections, settings.sqlite_checkpoint_pages)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    db.migrate().await.with_context(|| format!("migrating {url}"))?;
    Ok(db)
}
