//! Every connection (RTMP of any transport, HTTP-FLV and WebSocket players) and every live
//! stream, for the API, the metrics and kicks.
//!
//! Drivers register a client when it connects ([`Registry::add_client`], removed when the
//! [`ClientGuard`] drops) and a stream when a publisher is accepted ([`Registry::add_stream`]).
//! Counters are plain atomics the owning connection stores into about once a second (its tick),
//! so the media path pays nothing. [`Registry::sample`], run once a second by the server, keeps
//! ten seconds of byte counts per stream for the bitrates the API reports.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// How a client reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Transport {
    /// RTMP over TCP.
    Rtmp = 0,
    /// RTMP over TLS.
    Rtmps = 1,
    /// RTMPE (encrypted handshake) over TCP.
    Rtmpe = 2,
    /// RTMPT (HTTP tunnel).
    Rtmpt = 3,
    /// RTMPT over TLS.
    Rtmpts = 4,
    /// HTTP-FLV player.
    HttpFlv = 5,
    /// WebSocket-FLV player.
    WsFlv = 6,
    /// RTMFP.
    Rtmfp = 7,
    /// Live fragmented MP4 over HTTP.
    HttpMp4 = 8,
    /// Live fragmented MP4 over WebSocket.
    WsMp4 = 9,
    /// HLS / LL-HLS (playlist and segment requests).
    Hls = 10,
}

impl Transport {
    /// Every transport, for metrics that list them all.
    pub const ALL: [Transport; 11] = [
        Transport::Rtmp,
        Transport::Rtmps,
        Transport::Rtmpe,
        Transport::Rtmpt,
        Transport::Rtmpts,
        Transport::HttpFlv,
        Transport::WsFlv,
        Transport::Rtmfp,
        Transport::HttpMp4,
        Transport::WsMp4,
        Transport::Hls,
    ];

    /// The name used in the API, hooks, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Rtmp => "rtmp",
            Transport::Rtmps => "rtmps",
            Transport::Rtmpe => "rtmpe",
            Transport::Rtmpt => "rtmpt",
            Transport::Rtmpts => "rtmpts",
            Transport::HttpFlv => "http-flv",
            Transport::WsFlv => "ws-flv",
            Transport::Rtmfp => "rtmfp",
            Transport::HttpMp4 => "http-mp4",
            Transport::WsMp4 => "ws-mp4",
            Transport::Hls => "hls",
        }
    }

    fn from_u8(v: u8) -> Transport {
        Transport::ALL
            .get(usize::from(v))
            .copied()
            .unwrap_or(Transport::Rtmp)
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a client is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connected, neither publishing nor playing.
    Idle,
    /// Publishing a stream.
    Publisher,
    /// Playing a stream.
    Player,
}

impl Role {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Idle => "idle",
            Role::Publisher => "publisher",
            Role::Player => "player",
        }
    }
}

/// The parts of a client that change under a lock (rarely: on connect, publish, play).
#[derive(Debug, Clone)]
pub struct ClientState {
    /// Application (empty before connect).
    pub app: String,
    /// Stream published or played (empty when idle).
    pub stream: String,
    /// What it does.
    pub role: Role,
}

/// One connection, as the API shows it.
#[derive(Debug)]
pub struct ClientEntry {
    /// The connection id (the same as in the log).
    pub id: u64,
    /// The client's address (the real one when a trusted proxy header gave it).
    pub peer: SocketAddr,
    /// When it connected (wall clock).
    pub since: SystemTime,
    transport: AtomicU8,
    state: Mutex<ClientState>,
    /// Bytes received from the client (stored by its connection about once a second).
    pub bytes_in: AtomicU64,
    /// Bytes sent to the client (stored by its connection about once a second).
    pub bytes_out: AtomicU64,
    kicked: AtomicBool,
    /// Woken on a kick; the connection's loop waits on it.
    pub notify: Notify,
}

impl ClientEntry {
    /// The transport (RTMP connections turn into `rtmpe` once the handshake shows encryption).
    pub fn transport(&self) -> Transport {
        Transport::from_u8(self.transport.load(Ordering::Relaxed))
    }

    /// Change the transport (RTMPE is only known after the handshake).
    pub fn set_transport(&self, t: Transport) {
        self.transport.store(t as u8, Ordering::Relaxed);
    }

    /// A copy of the app, stream and role.
    pub fn state(&self) -> ClientState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Record what the client does now.
    pub fn set_state(&self, app: &str, stream: &str, role: Role) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.app.clear();
        s.app.push_str(app);
        s.stream.clear();
        s.stream.push_str(stream);
        s.role = role;
    }

    /// Store the byte counters (called from the connection's tick and at close).
    pub fn store_bytes(&self, bytes_in: u64, bytes_out: u64) {
        self.bytes_in.store(bytes_in, Ordering::Relaxed);
        self.bytes_out.store(bytes_out, Ordering::Relaxed);
    }

    /// Ask the connection to close (`DELETE /api/v1/clients/{id}`).
    pub fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Whether the client was kicked.
    pub fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }
}

/// Keeps a client registered; removes it when dropped.
#[derive(Debug)]
pub struct ClientGuard {
    entry: Arc<ClientEntry>,
    registry: Weak<RegistryInner>,
}

impl ClientGuard {
    /// The registered entry.
    pub fn entry(&self) -> &Arc<ClientEntry> {
        &self.entry
    }
}

impl std::ops::Deref for ClientGuard {
    type Target = ClientEntry;
    fn deref(&self) -> &ClientEntry {
        &self.entry
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        if let Some(r) = self.registry.upgrade() {
            let mut clients = r.clients.lock().unwrap_or_else(|e| e.into_inner());
            clients.remove(&self.entry.id);
            drop(clients);
            r.closed_in.fetch_add(
                self.entry.bytes_in.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            r.closed_out.fetch_add(
                self.entry.bytes_out.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            // A stream's bytes to players that left still count toward its total.
            let s = self.entry.state();
            if s.role == Role::Player {
                let mut gone = r.gone_out.lock().unwrap_or_else(|e| e.into_inner());
                *gone.entry((s.app, s.stream)).or_insert(0) +=
                    self.entry.bytes_out.load(Ordering::Relaxed);
            }
        }
    }
}

/// Video of a stream, from its sequence header and metadata (serialised as the API shows it).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VideoInfo {
    /// Codec name as ffmpeg calls it (`h264`, `hevc`, `av1`, `vp9`, ...).
    pub codec: String,
    /// Profile, when the sequence header says.
    pub profile: Option<String>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// Frames per second, from onMetaData.
    pub fps: Option<f64>,
}

/// Audio of a stream, from its sequence header (serialised as the API shows it).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AudioInfo {
    /// Codec name as ffmpeg calls it (`aac`, `opus`, `mp3`, ...).
    pub codec: String,
    /// Sample rate in Hz.
    pub sample_rate: Option<u32>,
    /// Channel count.
    pub channels: Option<u32>,
}

/// What a stream carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaInfo {
    /// Video, once a sequence header came.
    pub video: Option<VideoInfo>,
    /// Audio, once a sequence header came.
    pub audio: Option<AudioInfo>,
}

/// One byte count sample of a stream.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    bytes_in: u64,
    bytes_out: u64,
}

/// How much history [`Registry::sample`] keeps (the API's bitrates are over this window).
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// One live stream.
#[derive(Debug)]
pub struct StreamEntry {
    /// Application.
    pub app: String,
    /// Stream name (after any rename).
    pub name: String,
    /// The publisher's connection id.
    pub publisher_id: u64,
    /// The publisher's address.
    pub publisher_peer: SocketAddr,
    /// The publisher's transport.
    pub publisher_transport: Transport,
    /// When publishing started (wall clock).
    pub since: SystemTime,
    media: Mutex<MediaInfo>,
    /// Media bytes received from the publisher (stored about once a second).
    pub bytes_in: AtomicU64,
    /// Players (RTMP and HTTP) right now (stored about once a second).
    pub players: AtomicU64,
    history: Mutex<VecDeque<Sample>>,
}

impl StreamEntry {
    /// Codecs and sizes known so far.
    pub fn media(&self) -> MediaInfo {
        self.media.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Update the codec information.
    pub fn update_media(&self, f: impl FnOnce(&mut MediaInfo)) {
        f(&mut self.media.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Bits per second in and out over the last [`RATE_WINDOW`] (0 until two samples exist).
    pub fn bitrates(&self) -> (u64, u64) {
        let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        match (h.front(), h.back()) {
            (Some(a), Some(b)) if b.at > a.at => {
                let secs = (b.at - a.at).as_secs_f64();
                let rate = |x: u64, y: u64| ((y.saturating_sub(x)) as f64 * 8.0 / secs) as u64;
                (rate(a.bytes_in, b.bytes_in), rate(a.bytes_out, b.bytes_out))
            }
            _ => (0, 0),
        }
    }

    /// The latest bytes-out total (players still here and those gone), as of the last sample.
    pub fn bytes_out(&self) -> u64 {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .back()
            .map_or(0, |s| s.bytes_out)
    }
}

/// Keeps a stream registered; removes it when dropped.
#[derive(Debug)]
pub struct StreamGuard {
    entry: Arc<StreamEntry>,
    registry: Weak<RegistryInner>,
}

impl std::ops::Deref for StreamGuard {
    type Target = StreamEntry;
    fn deref(&self) -> &StreamEntry {
        &self.entry
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(r) = self.registry.upgrade() {
            let key = (self.entry.app.clone(), self.entry.name.clone());
            let mut streams = r.streams.lock().unwrap_or_else(|e| e.into_inner());
            if streams
                .get(&key)
                .is_some_and(|e| Arc::ptr_eq(e, &self.entry))
            {
                streams.remove(&key);
                r.gone_out
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
            }
        }
    }
}

#[derive(Debug, Default)]
struct RegistryInner {
    clients: Mutex<HashMap<u64, Arc<ClientEntry>>>,
    streams: Mutex<HashMap<(String, String), Arc<StreamEntry>>>,
    /// Bytes sent to players of a stream who have left, per live stream.
    gone_out: Mutex<HashMap<(String, String), u64>>,
    /// Bytes in and out of clients that have left.
    closed_in: AtomicU64,
    closed_out: AtomicU64,
}

/// The registry of clients and streams of one server.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

impl Registry {
    /// Register a connection.
    pub fn add_client(&self, id: u64, peer: SocketAddr, transport: Transport) -> ClientGuard {
        let entry = Arc::new(ClientEntry {
            id,
            peer,
            since: SystemTime::now(),
            transport: AtomicU8::new(transport as u8),
            state: Mutex::new(ClientState {
                app: String::new(),
                stream: String::new(),
                role: Role::Idle,
            }),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            kicked: AtomicBool::new(false),
            notify: Notify::new(),
        });
        self.inner
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, entry.clone());
        ClientGuard {
            entry,
            registry: Arc::downgrade(&self.inner),
        }
    }

    /// Register a live stream (its publisher was accepted).
    pub fn add_stream(&self, app: &str, name: &str, publisher: &ClientEntry) -> StreamGuard {
        let entry = Arc::new(StreamEntry {
            app: app.to_owned(),
            name: name.to_owned(),
            publisher_id: publisher.id,
            publisher_peer: publisher.peer,
            publisher_transport: publisher.transport(),
            since: SystemTime::now(),
            media: Mutex::new(MediaInfo::default()),
            bytes_in: AtomicU64::new(0),
            players: AtomicU64::new(0),
            history: Mutex::new(VecDeque::with_capacity(12)),
        });
        let key = (entry.app.clone(), entry.name.clone());
        self.inner
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, entry.clone());
        StreamGuard {
            entry,
            registry: Arc::downgrade(&self.inner),
        }
    }

    /// Every client, ordered by id.
    pub fn clients(&self) -> Vec<Arc<ClientEntry>> {
        let mut v: Vec<_> = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Wake every connection's task (each notices the shutdown flag when it wakes): what the
    /// direct RTMP loop waits on instead of a shutdown future of its own per connection.
    pub fn wake_all(&self) {
        let clients = self.inner.clients.lock().unwrap_or_else(|e| e.into_inner());
        for c in clients.values() {
            c.notify.notify_one();
        }
    }

    /// One client.
    pub fn client(&self, id: u64) -> Option<Arc<ClientEntry>> {
        self.inner
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Every live stream, ordered by app and name.
    pub fn streams(&self) -> Vec<Arc<StreamEntry>> {
        let mut v: Vec<_> = self
            .inner
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        v
    }

    /// One live stream.
    pub fn stream(&self, app: &str, name: &str) -> Option<Arc<StreamEntry>> {
        self.inner
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(app.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Number of clients.
    pub fn client_count(&self) -> usize {
        self.inner
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Bytes received from and sent to clients that have left (for the totals in `/metrics`).
    pub fn closed_bytes(&self) -> (u64, u64) {
        (
            self.inner.closed_in.load(Ordering::Relaxed),
            self.inner.closed_out.load(Ordering::Relaxed),
        )
    }

    /// Take a byte count sample of every stream (once a second, from the server's sampler):
    /// bytes in from the publisher, bytes out summed over its players (present and gone).
    pub fn sample(&self, now: Instant) {
        let mut out: HashMap<(String, String), u64> = self
            .inner
            .gone_out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for c in self.clients() {
            let s = c.state();
            if s.role == Role::Player {
                *out.entry((s.app, s.stream)).or_insert(0) += c.bytes_out.load(Ordering::Relaxed);
            }
        }
        for s in self.streams() {
            let bytes_out = out
                .get(&(s.app.clone(), s.name.clone()))
                .copied()
                .unwrap_or(0);
            let mut h = s.history.lock().unwrap_or_else(|e| e.into_inner());
            h.push_back(Sample {
                at: now,
                bytes_in: s.bytes_in.load(Ordering::Relaxed),
                bytes_out,
            });
            while h.len() > 2 && h.front().is_some_and(|f| now - f.at > RATE_WINDOW) {
                h.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "192.0.2.1:5000".parse().unwrap()
    }

    #[test]
    fn clients_and_streams_come_and_go() {
        let r = Registry::default();
        let a = r.add_client(1, addr(), Transport::Rtmp);
        let b = r.add_client(2, addr(), Transport::Rtmps);
        assert_eq!(r.client_count(), 2);
        a.set_state("live", "cam", Role::Publisher);
        let s = r.add_stream("live", "cam", &a);
        assert_eq!(r.streams().len(), 1);
        assert_eq!(r.stream("live", "cam").unwrap().publisher_id, 1);
        drop(b);
        assert_eq!(r.clients().iter().map(|c| c.id).collect::<Vec<_>>(), [1]);
        drop(s);
        assert!(r.streams().is_empty());
    }

    #[test]
    fn bitrates_over_the_window() {
        let r = Registry::default();
        let p = r.add_client(1, addr(), Transport::Rtmp);
        let s = r.add_stream("live", "cam", &p);
        let v = r.add_client(2, addr(), Transport::Rtmp);
        v.set_state("live", "cam", Role::Player);
        let t0 = Instant::now();
        r.sample(t0);
        s.bytes_in.store(250_000, Ordering::Relaxed);
        v.bytes_out.store(500_000, Ordering::Relaxed);
        r.sample(t0 + Duration::from_secs(2));
        assert_eq!(s.bitrates(), (1_000_000, 2_000_000));
        // A player that leaves keeps counting toward the stream's bytes out.
        drop(v);
        r.sample(t0 + Duration::from_secs(3));
        assert_eq!(s.bytes_out(), 500_000);
    }

    #[test]
    fn a_republished_stream_is_not_removed_by_the_old_guard() {
        let r = Registry::default();
        let p = r.add_client(1, addr(), Transport::Rtmp);
        let old = r.add_stream("live", "cam", &p);
        let new = r.add_stream("live", "cam", &p);
        drop(old);
        assert_eq!(r.streams().len(), 1);
        drop(new);
        assert!(r.streams().is_empty());
    }

    #[test]
    fn kick_sets_the_flag() {
        let r = Registry::default();
        let c = r.add_client(7, addr(), Transport::HttpFlv);
        assert!(!c.is_kicked());
        r.client(7).unwrap().kick();
        assert!(c.is_kicked());
        assert_eq!(c.transport().as_str(), "http-flv");
    }
}
