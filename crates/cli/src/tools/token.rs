//! `sluice token`: mint a signed URL query (`expires=…&token=…`) for publish or play, the same
//! one a web back end computes with the format documented in `sluice_server::app::token`.

use clap::{Args, ValueEnum};

/// What the token allows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TokenAction {
    /// Publishing the stream.
    Publish,
    /// Playing the stream (RTMP and HTTP outputs).
    Play,
}

/// Arguments of `sluice token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The server's `access.secret`.
    #[arg(long, env = "SLUICE_ACCESS_SECRET", hide_env_values = true)]
    secret: String,
    /// What the token allows.
    #[arg(long, value_enum)]
    action: TokenAction,
    /// Application, e.g. `live`.
    #[arg(long)]
    app: String,
    /// Stream name, e.g. `cam`.
    #[arg(long)]
    stream: String,
    /// Seconds from now until the URL stops working.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// Print a whole URL with this base instead of the query alone, e.g.
    /// `rtmp://example.com` (the app and stream are appended).
    #[arg(long, value_name = "BASE")]
    url: Option<String>,
}

/// Help text after the options.
pub const AFTER_HELP: &str = "\
The query is expires=<unix seconds>&token=<hex HMAC-SHA256 of \"{action}\\n{app}\\n{stream}\\n{expires}\" keyed with the secret>.

Examples:
  sluice token --secret S --action publish --app live --stream cam --ttl 600
  ffmpeg -re -i in.flv -c copy -f flv \"rtmp://host/live/cam?$(sluice token --secret S --action publish --app live --stream cam)\"
  sluice token --secret S --action play --app live --stream cam --url rtmp://host";

/// Print the signed query (or URL).
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.secret.is_empty(), "--secret must not be empty");
    let action = match args.action {
        TokenAction::Publish => "publish",
        TokenAction::Play => "play",
    };
    let app = args.app.trim_matches('/');
    let expires = sluice_server::app::unix_now().saturating_add(args.ttl);
    let query = sluice_server::app::token::signed_query(
        args.secret.as_bytes(),
        action,
        app,
        &args.stream,
        expires,
    );
    match args.url {
        Some(base) => println!(
            "{}/{app}/{}?{query}",
            base.trim_end_matches('/'),
            args.stream
        ),
        None => println!("{query}"),
    }
    Ok(())
}
