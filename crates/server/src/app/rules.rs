//! Static rules from `[access]`: per app and stream-name pattern, who may publish and who may
//! play (anyone, nobody, a fixed key, an address list, a signed URL). First matching rule wins;
//! with none, `access.publish` / `access.play` apply.

use super::config::{AccessSection, Who};
use super::token::{self, TokenError};
use super::{Action, Deny, DenyKind, Request};
use crate::control::Transport;
use crate::proxy::TrustedProxies;
use std::net::SocketAddr;

/// One compiled "who" entry.
#[derive(Debug, Clone)]
enum Entry {
    Anyone,
    Nobody,
    Token,
    Key(String),
    Ip(TrustedProxies),
}

/// A rule or config entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// An entry is none of the known forms.
    #[error("access: {0:?} is not one of anyone, nobody, token, key:SECRET, ip:CIDR[,CIDR...]")]
    Unknown(String),
    /// `key:` with nothing after it.
    #[error("access: key: needs a secret (key:SECRET)")]
    EmptyKey,
    /// An address entry does not parse.
    #[error("access: {entry:?}: {why}")]
    BadAddress {
        /// The entry.
        entry: String,
        /// Why.
        why: String,
    },
    /// `token` is used but `access.secret` is empty.
    #[error("access: a rule says \"token\" but access.secret is empty")]
    NoSecret,
    /// An empty list admits nobody; say `nobody` instead.
    #[error("access: an empty list admits nobody; write \"nobody\" if that is meant")]
    EmptyList,
}

fn compile(who: &Who, has_secret: bool) -> Result<Vec<Entry>, RuleError> {
    let entries = who.entries();
    if entries.is_empty() {
        return Err(RuleError::EmptyList);
    }
    entries
        .iter()
        .map(|e| {
            let e = e.trim();
            Ok(match e {
                "anyone" => Entry::Anyone,
                "nobody" => Entry::Nobody,
                "token" if has_secret => Entry::Token,
                "token" => return Err(RuleError::NoSecret),
                _ => {
                    if let Some(k) = e.strip_prefix("key:") {
                        if k.is_empty() {
                            return Err(RuleError::EmptyKey);
                        }
                        Entry::Key(k.to_owned())
                    } else if let Some(list) = e.strip_prefix("ip:") {
                        let nets = TrustedProxies::parse(list.split(',').map(str::trim)).map_err(
                            |err| RuleError::BadAddress {
                                entry: e.to_owned(),
                                why: err.to_string(),
                            },
                        )?;
                        Entry::Ip(nets)
                    } else {
                        return Err(RuleError::Unknown(e.to_owned()));
                    }
                }
            })
        })
        .collect()
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[derive(Debug, Clone)]
struct Rule {
    app: String,
    stream: String,
    publish: Option<Vec<Entry>>,
    play: Option<Vec<Entry>>,
}

/// The compiled `[access]` section.
#[derive(Debug, Clone)]
pub struct Rules {
    publish: Vec<Entry>,
    play: Vec<Entry>,
    rules: Vec<Rule>,
    secret: Vec<u8>,
}

impl Rules {
    /// Compile and check `[access]`.
    pub fn new(cfg: &AccessSection) -> Result<Rules, RuleError> {
        let has_secret = !cfg.secret.is_empty();
        let opt = |w: &Option<Who>| w.as_ref().map(|w| compile(w, has_secret)).transpose();
        Ok(Rules {
            publish: compile(&cfg.publish, has_secret)?,
            play: compile(&cfg.play, has_secret)?,
            rules: cfg
                .rule
                .iter()
                .map(|r| {
                    Ok(Rule {
                        app: r.app.clone(),
                        stream: r.stream.clone(),
                        publish: opt(&r.publish)?,
                        play: opt(&r.play)?,
                    })
                })
                .collect::<Result<_, RuleError>>()?,
            secret: cfg.secret.as_bytes().to_vec(),
        })
    }

    /// Whether every request is allowed by the rules (the zero-configuration default).
    pub fn is_open(&self) -> bool {
        let open = |v: &[Entry]| v.iter().any(|e| matches!(e, Entry::Anyone));
        open(&self.publish) && open(&self.play) && self.rules.is_empty()
    }

    /// The secret for signed URLs (empty when none is set).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Decide a publish or play by the rules; `now` is Unix seconds (for tokens).
    pub fn check(&self, req: &Request, now: u64) -> Result<(), Deny> {
        let entries = match req.action {
            Action::Publish => self.entries_for(req, |r| r.publish.as_ref(), &self.publish),
            Action::Play => self.entries_for(req, |r| r.play.as_ref(), &self.play),
            _ => return Ok(()),
        };
        let mut first_refusal: Option<Deny> = None;
        for e in entries {
            let refused = match e {
                Entry::Anyone => return Ok(()),
                Entry::Nobody => Deny::new(
                    DenyKind::Rule,
                    format!(
                        "{}ing {}/{} is not allowed",
                        req.action.verb(),
                        req.app,
                        req.stream
                    ),
                ),
                Entry::Key(k) => {
                    let given = token::query_value(&req.param, "key").unwrap_or("");
                    if constant_time_eq(given.as_bytes(), k.as_bytes()) {
                        return Ok(());
                    }
                    Deny::new(DenyKind::Key, "missing or wrong key".into())
                }
                Entry::Ip(nets) => {
                    if nets.contains(req.peer.ip()) {
                        return Ok(());
                    }
                    Deny::new(
                        DenyKind::Address,
                        format!("address {} is not allowed", req.peer.ip()),
                    )
                }
                Entry::Token => {
                    match token::verify(
                        &self.secret,
                        req.action.as_str(),
                        &req.app,
                        &req.stream,
                        &req.param,
                        now,
                    ) {
                        Ok(()) => return Ok(()),
                        Err(e @ TokenError::Expired { .. }) => {
                            Deny::new(DenyKind::TokenExpired, e.to_string())
                        }
                        Err(e) => Deny::new(DenyKind::Token, e.to_string()),
                    }
                }
            };
            first_refusal.get_or_insert(refused);
        }
        Err(first_refusal
            .unwrap_or_else(|| Deny::new(DenyKind::Rule, "no access entry admits it".into())))
    }

    /// Whether a client at `peer` that shows no key and no token may play `app`/`stream`:
    /// the play entries evaluated with an empty query (hooks are not rules; they are not
    /// asked). The console page lists only such streams.
    pub fn allows_anonymous_play(&self, app: &str, stream: &str, peer: SocketAddr) -> bool {
        let req = Request {
            action: Action::Play,
            client_id: 0,
            peer,
            app: app.to_owned(),
            stream: stream.to_owned(),
            param: String::new(),
            tc_url: String::new(),
            transport: Transport::HttpFlv,
        };
        // No query, so no token can verify whatever the time.
        self.check(&req, 0).is_ok()
    }

    fn entries_for<'a>(
        &'a self,
        req: &Request,
        pick: impl Fn(&'a Rule) -> Option<&'a Vec<Entry>>,
        default: &'a [Entry],
    ) -> &'a [Entry] {
        self.rules
            .iter()
            .find(|r| glob_match(&r.app, &req.app) && glob_match(&r.stream, &req.stream))
            .and_then(pick)
            .map_or(default, Vec::as_slice)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::super::config::RuleSection;
    use super::*;

    fn req(action: Action, app: &str, stream: &str, param: &str, ip: &str) -> Request {
        Request {
            action,
            client_id: 1,
            peer: format!("{ip}:1000").parse().unwrap(),
            app: app.into(),
            stream: stream.into(),
            param: param.into(),
            tc_url: String::new(),
            transport: Transport::Rtmp,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("cam*", "cam1"));
        assert!(glob_match("*-hd", "a-b-hd"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("cam", "cam1"));
        assert!(!glob_match("a*c", "abd"));
    }

    #[test]
    fn defaults_are_open() {
        let r = Rules::new(&AccessSection::default()).unwrap();
        assert!(r.is_open());
        assert!(r
            .check(&req(Action::Publish, "live", "x", "", "192.0.2.1"), 0)
            .is_ok());
    }

    #[test]
    fn first_matching_rule_wins_and_lists_are_any_of() {
        let cfg = AccessSection {
            publish: Who::One("nobody".into()),
            secret: "s".into(),
            rule: vec![
                RuleSection {
                    app: "live".into(),
                    stream: "studio-*".into(),
                    publish: Some(Who::Any(vec!["ip:10.0.0.0/8".into(), "key:abc".into()])),
                    play: Some(Who::One("token".into())),
                },
                RuleSection {
                    app: "live".into(),
                    stream: "*".into(),
                    publish: Some(Who::One("token".into())),
                    play: None,
                },
            ],
            ..AccessSection::default()
        };
        let r = Rules::new(&cfg).unwrap();
        let ok = |q: Request| r.check(&q, 100);
        assert!(ok(req(Action::Publish, "live", "studio-1", "", "10.1.2.3")).is_ok());
        assert!(ok(req(
            Action::Publish,
            "live",
            "studio-1",
            "key=abc",
            "192.0.2.1"
        ))
        .is_ok());
        let d = ok(req(
            Action::Publish,
            "live",
            "studio-1",
            "key=abd",
            "192.0.2.1",
        ))
        .unwrap_err();
        assert_eq!(d.kind, DenyKind::Address);
        // The second rule: a signed URL is needed to publish; play falls back to the default.
        let q = token::signed_query(b"s", "publish", "live", "cam", 200);
        assert!(ok(req(Action::Publish, "live", "cam", &q, "192.0.2.1")).is_ok());
        assert!(ok(req(Action::Play, "live", "cam", "", "192.0.2.1")).is_ok());
        let d = ok(req(Action::Play, "live", "studio-2", &q, "192.0.2.1")).unwrap_err();
        assert_eq!(d.kind, DenyKind::Token);
        // No rule for another app: the default (nobody publishes).
        let d = ok(req(Action::Publish, "other", "cam", "", "10.1.2.3")).unwrap_err();
        assert_eq!(d.kind, DenyKind::Rule);
    }

    #[test]
    fn anonymous_play_needs_an_entry_that_asks_for_nothing() {
        let cfg = AccessSection {
            play: Who::One("token".into()),
            secret: "s".into(),
            rule: vec![
                RuleSection {
                    app: "live".into(),
                    stream: "open-*".into(),
                    publish: None,
                    play: Some(Who::Any(vec!["key:k".into(), "anyone".into()])),
                },
                RuleSection {
                    app: "live".into(),
                    stream: "lan-*".into(),
                    publish: None,
                    play: Some(Who::Any(vec!["key:k".into(), "ip:10.0.0.0/8".into()])),
                },
                RuleSection {
                    app: "live".into(),
                    stream: "keyed".into(),
                    publish: None,
                    play: Some(Who::One("key:k".into())),
                },
                RuleSection {
                    app: "live".into(),
                    stream: "off".into(),
                    publish: None,
                    play: Some(Who::One("nobody".into())),
                },
            ],
            ..AccessSection::default()
        };
        let r = Rules::new(&cfg).unwrap();
        let lan: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let wan: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        assert!(r.allows_anonymous_play("live", "open-1", wan));
        assert!(r.allows_anonymous_play("live", "lan-1", lan));
        assert!(!r.allows_anonymous_play("live", "lan-1", wan));
        assert!(!r.allows_anonymous_play("live", "keyed", lan));
        assert!(!r.allows_anonymous_play("live", "off", lan));
        // The default needs a signed URL.
        assert!(!r.allows_anonymous_play("other", "x", lan));
        let open = Rules::new(&AccessSection::default()).unwrap();
        assert!(open.allows_anonymous_play("any", "thing", wan));
    }

    #[test]
    fn bad_entries_are_refused() {
        let mut cfg = AccessSection {
            publish: Who::One("token".into()),
            ..AccessSection::default()
        };
        assert_eq!(Rules::new(&cfg).unwrap_err(), RuleError::NoSecret);
        cfg.publish = Who::One("everyone".into());
        assert!(matches!(Rules::new(&cfg), Err(RuleError::Unknown(_))));
        cfg.publish = Who::One("ip:10.0.0.0/99".into());
        assert!(matches!(
            Rules::new(&cfg),
            Err(RuleError::BadAddress { .. })
        ));
        cfg.publish = Who::Any(vec![]);
        assert_eq!(Rules::new(&cfg).unwrap_err(), RuleError::EmptyList);
        cfg.publish = Who::One("key:".into());
        assert_eq!(Rules::new(&cfg).unwrap_err(), RuleError::EmptyKey);
    }
}
