//! `sluice`: the RTMP server, client and toolkit in one binary.
//!
//! `sluice` alone is `sluice serve` with the embedded defaults (RTMP on 0.0.0.0:1935).
#![forbid(unsafe_code)]

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use sluice_server::{Server, Settings};
use std::path::PathBuf;

mod tools;

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: RTMP media server, client and toolkit",
    long_about = "Sluice: RTMP media server, client and toolkit.\n\nWith no subcommand, `sluice` runs `sluice serve` with the built-in defaults: RTMP on 0.0.0.0:1935."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the RTMP server (the default when no subcommand is given).
    ///
    /// Settings come from the built-in defaults, then --config FILE, then SLUICE_<TABLE>_<KEY>
    /// environment variables, then these flags.
    ///
    /// Example: sluice serve --listen 0.0.0.0:1935 --config sluice.toml
    Serve(ServeArgs),
    /// Publish an FLV file to an RTMP server in real time.
    ///
    /// Reads INPUT.flv (legacy and Enhanced RTMP tags) and publishes it, paced by its
    /// timestamps; onMetaData goes out as @setDataFrame. A missing or non-FLV file, a bad URL, a
    /// refused connection or a rejected publish is one line on stderr and exit code 1.
    #[command(after_help = tools::publish::AFTER_HELP)]
    Publish(tools::publish::PublishArgs),
    /// Play an RTMP stream into an FLV file, to stdout, or just count it.
    ///
    /// A bad URL, a refused connection, a rejected play or a stream that never starts (see
    /// --timeout) is one line on stderr and exit code 1.
    #[command(after_help = tools::play::AFTER_HELP)]
    Play(tools::play::PlayArgs),
    /// Report what a server and a stream are: connect reply, metadata, codecs, timings.
    ///
    /// Prints the server's connect answer (fmsVer, capabilities), the stream's onMetaData, the
    /// codecs from its sequence headers (codec, profile, level, resolution, frame rate, sample
    /// rate, channels) and the time to connect, to the first frame and to the first keyframe.
    #[command(after_help = tools::probe::AFTER_HELP)]
    Probe(tools::probe::ProbeArgs),
    /// Load-test an RTMP server with many players (and optionally its own publishers).
    ///
    /// Runs N players from this one process and reports connected/failed players, per-player
    /// bitrate, time to first frame, delivery latency (when it publishes), errors by kind and
    /// its own CPU use.
    #[command(after_help = tools::bench::AFTER_HELP)]
    Bench(tools::bench::BenchArgs),
    /// Mint a signed URL query (`expires=…&token=…`) for publishing or playing one stream.
    ///
    /// The server accepts it where `[access]` says "token", with the same `access.secret`.
    #[command(after_help = tools::token::AFTER_HELP)]
    Token(tools::token::TokenArgs),
}

#[derive(Debug, Args, Default, Clone)]
struct ServeArgs {
    /// RTMP listen address, repeatable (default 0.0.0.0:1935). Example: --listen [::]:1935
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// TOML settings file (every key and default is in the repository's sluice.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log filter (tracing syntax), e.g. `info` or `sluice_server=debug`. RUST_LOG wins.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// RTMPS (TLS) listen address, repeatable; needs --tls-cert and --tls-key. Example: --rtmps 0.0.0.0:443
    #[arg(long, value_name = "ADDR")]
    rtmps: Vec<String>,
    /// PEM certificate chain for RTMPS / HTTPS.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<String>,
    /// PEM private key for RTMPS / HTTPS.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<String>,
    /// HTTP listen address for RTMPT (and later HTTP-FLV/WebSocket), repeatable (default 0.0.0.0:8080).
    /// `--http none` disables HTTP.
    #[arg(long, value_name = "ADDR")]
    http: Vec<String>,
    /// Address or CIDR allowed to send the RTMP proxy (0xF3) or PROXY v1/v2 header, repeatable.
    /// Example: --trusted-proxy 10.0.0.0/8
    #[arg(long, value_name = "ADDR_OR_CIDR")]
    trusted_proxy: Vec<String>,
}

fn load_settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    let mut settings = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    settings = settings.apply_env(std::env::vars())?;
    if !args.listen.is_empty() {
        settings.server.listen = args.listen.clone();
    }
    if let Some(l) = &args.log {
        settings.log.level = l.clone();
    }
    if !args.rtmps.is_empty() {
        settings.tls.rtmps_listen = args.rtmps.clone();
    }
    if let Some(c) = &args.tls_cert {
        settings.tls.cert = c.clone();
    }
    if let Some(k) = &args.tls_key {
        settings.tls.key = k.clone();
    }
    if !args.http.is_empty() {
        settings.http.listen = if args.http.iter().any(|h| h == "none") {
            Vec::new()
        } else {
            args.http.clone()
        };
    }
    if !args.trusted_proxy.is_empty() {
        settings.proxy.trusted = args.trusted_proxy.clone();
    }
    settings.validate()?;
    Ok(settings)
}

/// Logs go to stderr: colours only when it is a terminal (a log file gets plain text), JSON lines
/// with `log.format = "json"`.
fn init_logging(log: &sluice_server::config::LogSection) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        sluice_server::config::LogFormat::Json => builder.json().try_init(),
        sluice_server::config::LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `kill -HUP`: reload the settings (what can change live; see `sluice_server::reload`).
fn reload_on_sighup(ctx: std::sync::Weak<sluice_server::Context>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: reload only through the API");
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(ctx) = ctx.upgrade() else { return };
                tracing::info!("SIGHUP: reloading the settings");
                // The outcome is logged by reload itself.
                let _ = ctx.reload();
            }
        });
    }
    #[cfg(not(unix))]
    let _ = ctx;
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = load_settings(&args)?;
    init_logging(&settings.log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice")
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let server = Server::bind(settings).await?;
        let ctx = server.context();
        // Reload reads the same sources again: the file, SLUICE_* variables, these flags.
        ctx.set_loader(Box::new(move || {
            load_settings(&args)
                .map_err(|e| sluice_server::config::ConfigError::Parse(format!("{e:#}")))
        }));
        reload_on_sighup(std::sync::Arc::downgrade(&ctx));
        drop(ctx);
        server.run(shutdown_signal()).await;
        anyhow::Ok(())
    })
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(ServeArgs::default()),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Publish(args)) => tools::publish::run(args),
        Some(Command::Play(args)) => tools::play::run(args),
        Some(Command::Probe(args)) => tools::probe::run(args),
        Some(Command::Bench(args)) => tools::bench::run(args),
        Some(Command::Token(args)) => tools::token::run(args),
    };
    if let Err(e) = result {
        eprintln!("sluice: {e:#}");
        std::process::exit(1);
    }
}
