//! Where a connection hands plays to [`crate::vod`]: an allowed play in a VOD app that asks for
//! a recording, `getStreamLength`, and what the VOD readers hand back.

use super::Connection;
use crate::app::Action;
use crate::vod::{Ended, StartMode};
use sluice_rtmp::session::RequestId;
use std::path::PathBuf;
use tracing::info;

impl Connection {
    /// The directory this connection's app serves files from, if it is a VOD app.
    pub(super) fn vod_dir(&self) -> Option<PathBuf> {
        let live = self.ctx.live.load();
        let s = &live.settings;
        s.vod.dir_for(&self.app, &s.record.dir).map(PathBuf::from)
    }

    /// Serve the allowed play `request` from a file when the app is a VOD app and the play
    /// asks for a recording (`start >= 0`, or `-2` while `stream` is not live). True when
    /// taken over.
    pub(super) fn start_vod(&mut self, request: RequestId, stream_id: u32, stream: &str) -> bool {
        let Some(dir) = self.vod_dir() else {
            return false;
        };
        match self.vod.start_mode(stream_id) {
            StartMode::LiveOnly => return false,
            StartMode::LiveOrRecorded if self.ctx.hub.is_live(&self.app, stream) => return false,
            _ => {}
        }
        info!(conn = self.id, peer = %self.peer, app = %self.app, stream, "play from a file");
        self.players.retain(|p| p.stream_id != stream_id);
        let live = self.ctx.live.load();
        self.vod
            .start(&live.settings.vod, dir, request, stream_id, stream);
        self.update_role();
        true
    }

    /// Send what the VOD readers handed over; log the plays that ended.
    pub(super) fn pump_vod(&mut self) {
        for ended in self.vod.pump(&mut self.session, self.id) {
            self.end_vod_play(ended);
        }
    }

    pub(super) fn end_vod_play(&mut self, ended: Ended) {
        self.update_role();
        if ended.started {
            info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %ended.name, "VOD play ended");
            self.notify_end(Action::Play, &ended.name);
        }
    }
}
