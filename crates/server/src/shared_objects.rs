//! Remote shared objects served by the server (RTMP 1.0 §7.1.3, shared object message events):
//! named property sets that every client of an application using the same name shares. A client
//! `Use`s an object and gets `UseSuccess` plus the current properties; a `RequestChange` updates
//! a property, is confirmed to the requester with `Success` and announced to every other user
//! with `Change`; `RequestRemove` deletes one and announces `Remove`; `SendMessage` is delivered
//! to every user; `Release` (or closing the connection) stops using it.
//!
//! Objects live in memory while at least one client uses them (the persistent flag is reported
//! back but nothing is written to disk). Every count a peer controls is bounded (see the
//! `MAX_*` constants); a request beyond a bound is answered with a `Status` event of level
//! `error` and changes nothing.

use sluice_amf::Amf0Value;
use sluice_rtmp::message::{SharedObjectEvent, SharedObjectMessage};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Most shared objects the server holds at once (all applications). Default 4096.
pub const MAX_OBJECTS: usize = 4096;
/// Most properties one shared object holds. Default 1024.
pub const MAX_PROPERTIES: usize = 1024;
/// Most clients using one shared object. Default 1000.
pub const MAX_USERS: usize = 1000;
/// Most shared objects one connection uses. Default 64.
pub const MAX_PER_CONNECTION: usize = 64;
/// Messages queued for one connection before further broadcasts to it are dropped (and
/// logged). Default 1024.
pub const QUEUE_PER_CONNECTION: usize = 1024;

/// Where broadcasts for one connection go.
pub type SoSender = mpsc::Sender<SharedObjectMessage>;

#[derive(Debug)]
struct Object {
    version: u32,
    persistent: bool,
    properties: Vec<(String, Amf0Value)>,
    users: Vec<(u64, SoSender)>,
}

/// All shared objects of a server.
#[derive(Debug, Default)]
pub struct SharedObjects {
    objects: Mutex<HashMap<(String, String), Object>>,
}

fn reply(
    name: &str,
    version: u32,
    persistent: bool,
    events: Vec<SharedObjectEvent>,
) -> SharedObjectMessage {
    SharedObjectMessage {
        name: name.to_owned(),
        version,
        persistent,
        flags: if persistent {
            sluice_rtmp::message::shared_object::PERSISTENT_FLAG
        } else {
            0
        },
        events,
    }
}

fn error(name: &str, code: &str) -> SharedObjectMessage {
    reply(
        name,
        0,
        false,
        vec![SharedObjectEvent::Status {
            code: code.to_owned(),
            level: "error".to_owned(),
        }],
    )
}

impl SharedObjects {
    /// Handle one message from connection `conn` of application `app`. Returns what goes back
    /// to that connection; messages for other users are sent on their channels.
    pub fn handle(
        &self,
        app: &str,
        conn: u64,
        tx: &SoSender,
        msg: SharedObjectMessage,
    ) -> Vec<SharedObjectMessage> {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        let key = (app.to_owned(), msg.name.clone());
        let name = msg.name.as_str();
        let mut out = Vec::new();
        for event in msg.events {
            match event {
                SharedObjectEvent::Use => {
                    let in_use = objects
                        .values()
                        .filter(|o| o.users.iter().any(|(c, _)| *c == conn))
                        .count();
                    if !objects.contains_key(&key) && objects.len() >= MAX_OBJECTS {
                        out.push(error(name, "SharedObject.ObjectLimit"));
                        continue;
                    }
                    let o = objects.entry(key.clone()).or_insert_with(|| Object {
                        version: 1,
                        persistent: msg.persistent,
                        properties: Vec::new(),
                        users: Vec::new(),
                    });
                    if o.users.iter().any(|(c, _)| *c == conn) {
                        continue;
                    }
                    if o.users.len() >= MAX_USERS || in_use >= MAX_PER_CONNECTION {
                        out.push(error(name, "SharedObject.UserLimit"));
                        continue;
                    }
                    o.users.push((conn, tx.clone()));
                    let mut events = vec![SharedObjectEvent::UseSuccess, SharedObjectEvent::Clear];
                    if !o.properties.is_empty() {
                        events.push(SharedObjectEvent::Change {
                            properties: o.properties.clone(),
                        });
                    }
                    out.push(reply(name, o.version, o.persistent, events));
                }
                SharedObjectEvent::Release => {
                    Self::release_locked(&mut objects, &key, conn);
                }
                SharedObjectEvent::RequestChange { properties } => {
                    let Some(o) = objects.get_mut(&key).filter(|o| o.is_user(conn)) else {
                        out.push(error(name, "SharedObject.NotInUse"));
                        continue;
                    };
                    let mut changed = Vec::new();
                    for (k, v) in properties {
                        let count = o.properties.len();
                        match o.properties.iter_mut().find(|(pk, _)| *pk == k) {
                            Some(slot) => slot.1 = v.clone(),
                            None if count < MAX_PROPERTIES => {
                                o.properties.push((k.clone(), v.clone()))
                            }
                            None => {
                                out.push(error(name, "SharedObject.PropertyLimit"));
                                continue;
                            }
                        }
                        changed.push((k, v));
                    }
                    if changed.is_empty() {
                        continue;
                    }
                    o.version = o.version.wrapping_add(1);
                    let success = changed
                        .iter()
                        .map(|(k, _)| SharedObjectEvent::Success { name: k.clone() })
                        .collect();
                    out.push(reply(name, o.version, o.persistent, success));
                    let change = reply(
                        name,
                        o.version,
                        o.persistent,
                        vec![SharedObjectEvent::Change {
                            properties: changed,
                        }],
                    );
                    o.broadcast(&change, Some(conn));
                }
                SharedObjectEvent::RequestRemove { name: prop } => {
                    let Some(o) = objects.get_mut(&key).filter(|o| o.is_user(conn)) else {
                        out.push(error(name, "SharedObject.NotInUse"));
                        continue;
                    };
                    let before = o.properties.len();
                    o.properties.retain(|(k, _)| *k != prop);
                    if o.properties.len() == before {
                        continue;
                    }
                    o.version = o.version.wrapping_add(1);
                    let remove = reply(
                        name,
                        o.version,
                        o.persistent,
                        vec![SharedObjectEvent::Remove { name: prop }],
                    );
                    o.broadcast(&remove, None);
                }
                SharedObjectEvent::SendMessage { values } => {
                    let Some(o) = objects.get(&key).filter(|o| o.is_user(conn)) else {
                        out.push(error(name, "SharedObject.NotInUse"));
                        continue;
                    };
                    let m = reply(
                        name,
                        o.version,
                        o.persistent,
                        vec![SharedObjectEvent::SendMessage { values }],
                    );
                    o.broadcast(&m, None);
                }
                // Server-to-client events sent by a client, and unknown ones: nothing to do.
                _ => {}
            }
        }
        out
    }

    /// Connection `conn` closed: stop every use it had.
    pub fn release_connection(&self, conn: u64) {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<_> = objects
            .iter()
            .filter(|(_, o)| o.is_user(conn))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            Self::release_locked(&mut objects, &key, conn);
        }
    }

    fn release_locked(
        objects: &mut HashMap<(String, String), Object>,
        key: &(String, String),
        conn: u64,
    ) {
        if let Some(o) = objects.get_mut(key) {
            o.users.retain(|(c, _)| *c != conn);
            if o.users.is_empty() {
                objects.remove(key);
            }
        }
    }

    /// How many objects exist (for tests and stats).
    pub fn len(&self) -> usize {
        self.objects.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Object {
    fn is_user(&self, conn: u64) -> bool {
        self.users.iter().any(|(c, _)| *c == conn)
    }

    /// Send `msg` to every user but `except`. A user whose queue is full misses it (logged).
    fn broadcast(&self, msg: &SharedObjectMessage, except: Option<u64>) {
        for (c, tx) in &self.users {
            if Some(*c) == except {
                continue;
            }
            if tx.try_send(msg.clone()).is_err() {
                tracing::warn!(conn = c, object = %msg.name, "shared object update dropped: the client's queue is full or closed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(name: &str, events: Vec<SharedObjectEvent>) -> SharedObjectMessage {
        reply(name, 0, false, events)
    }

    #[test]
    fn use_change_message_remove_release() {
        let so = SharedObjects::default();
        let (ta, mut ra) = mpsc::channel(16);
        let (tb, mut rb) = mpsc::channel(16);
        let out = so.handle("live", 1, &ta, msg("chat", vec![SharedObjectEvent::Use]));
        assert!(matches!(out[0].events[0], SharedObjectEvent::UseSuccess));
        let out = so.handle(
            "live",
            1,
            &ta,
            msg(
                "chat",
                vec![SharedObjectEvent::RequestChange {
                    properties: vec![("x".into(), Amf0Value::Number(1.0))],
                }],
            ),
        );
        assert!(matches!(&out[0].events[0], SharedObjectEvent::Success { name } if name == "x"));
        // B joins and sees x.
        let out = so.handle("live", 2, &tb, msg("chat", vec![SharedObjectEvent::Use]));
        assert!(out[0].events.iter().any(
            |e| matches!(e, SharedObjectEvent::Change { properties } if properties[0].0 == "x")
        ));
        // B changes y: A is told, B gets Success.
        so.handle(
            "live",
            2,
            &tb,
            msg(
                "chat",
                vec![SharedObjectEvent::RequestChange {
                    properties: vec![("y".into(), Amf0Value::String("v".into()))],
                }],
            ),
        );
        let a = ra.try_recv().unwrap();
        assert!(
            matches!(&a.events[0], SharedObjectEvent::Change { properties } if properties[0].0 == "y")
        );
        // SendMessage reaches both.
        so.handle(
            "live",
            1,
            &ta,
            msg(
                "chat",
                vec![SharedObjectEvent::SendMessage {
                    values: vec![Amf0Value::String("hi".into())],
                }],
            ),
        );
        assert!(matches!(
            ra.try_recv().unwrap().events[0],
            SharedObjectEvent::SendMessage { .. }
        ));
        assert!(matches!(
            rb.try_recv().unwrap().events[0],
            SharedObjectEvent::SendMessage { .. }
        ));
        // Remove is announced to all.
        so.handle(
            "live",
            1,
            &ta,
            msg(
                "chat",
                vec![SharedObjectEvent::RequestRemove { name: "x".into() }],
            ),
        );
        assert!(
            matches!(&rb.try_recv().unwrap().events[0], SharedObjectEvent::Remove { name } if name == "x")
        );
        // Other apps are separate.
        let out = so.handle("other", 3, &ta, msg("chat", vec![SharedObjectEvent::Use]));
        assert_eq!(
            out[0].events.len(),
            2,
            "fresh object: UseSuccess + Clear only"
        );
        so.release_connection(1);
        so.release_connection(3);
        so.handle(
            "live",
            2,
            &tb,
            msg("chat", vec![SharedObjectEvent::Release]),
        );
        assert!(so.is_empty());
    }

    #[test]
    fn requests_without_use_are_refused() {
        let so = SharedObjects::default();
        let (t, _r) = mpsc::channel(4);
        let out = so.handle(
            "live",
            1,
            &t,
            msg("x", vec![SharedObjectEvent::SendMessage { values: vec![] }]),
        );
        assert!(
            matches!(&out[0].events[0], SharedObjectEvent::Status { level, .. } if level == "error")
        );
    }
}
