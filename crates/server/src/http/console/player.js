// A small live player for Sluice's WebSocket fMP4 route (/{app}/{stream}.mp4) over Media Source
// Extensions. The protocol (docs/API.md, "WebSocket MP4 protocol"): a text {"type":"init","mime",...}
// message, then the init segment (ftyp+moov) as a binary message, then one binary message per
// fragment (prft, moof, mdat); a new init on a codec change or republish; {"type":"unpublished"}
// when the publisher leaves. The player chases the live edge, shows the latency from the prft
// boxes and reconnects with back-off.
'use strict';

(function () {
  const MediaSourceType = window.ManagedMediaSource || window.MediaSource;
  const NTP_TO_UNIX = 2208988800; // seconds from 1900-01-01 to 1970-01-01
  const MAX_LAG = 1.5; // seconds buffered ahead of the picture before jumping to the edge
  const MAX_QUEUE = 300; // fragments waiting for the SourceBuffer before starting over

  // The boxes (ISO/IEC 14496-12 §4.2) between `start` and `end` of `view`: type, payload range.
  function boxes(view, start, end) {
    const out = [];
    for (let at = start; at + 8 <= end;) {
      let size = view.getUint32(at);
      let header = 8;
      if (size === 1) {
        size = Number(view.getBigUint64(at + 8));
        header = 16;
      } else if (size === 0) {
        size = end - at;
      }
      if (size < header || at + size > end) break;
      const type = String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + at + 4, 4));
      out.push({ type, body: at + header, end: at + size });
      at += size;
    }
    return out;
  }

  function child(view, box, type) {
    return box && boxes(view, box.body, box.end).find((b) => b.type === type);
  }

  // track_ID → timescale, from moov/trak/tkhd and moov/trak/mdia/mdhd of an init segment.
  function timescales(buf) {
    const v = new DataView(buf);
    const map = {};
    const moov = boxes(v, 0, v.byteLength).find((b) => b.type === 'moov');
    for (const trak of moov ? boxes(v, moov.body, moov.end) : []) {
      if (trak.type !== 'trak') continue;
      const tkhd = child(v, trak, 'tkhd');
      const mdhd = child(v, child(v, trak, 'mdia'), 'mdhd');
      if (!tkhd || !mdhd) continue;
      // Full boxes: version 1 has 64-bit creation and modification times before these fields.
      const id = v.getUint32(tkhd.body + (v.getUint8(tkhd.body) === 1 ? 20 : 12));
      map[id] = v.getUint32(mdhd.body + (v.getUint8(mdhd.body) === 1 ? 20 : 12));
    }
    return map;
  }

  // The prft box of a fragment (§8.16.5), if it has one: when the server received the frame
  // at `mediaTime` of track `track`, as Unix seconds (`wall`).
  function prft(buf) {
    const v = new DataView(buf);
    const b = boxes(v, 0, v.byteLength).find((x) => x.type === 'prft');
    if (!b || b.end - b.body < 20) return null;
    const version = v.getUint8(b.body);
    let secs = v.getUint32(b.body + 8);
    if (secs < 0x80000000) secs += 0x100000000; // NTP era 1 starts in 2036 (RFC 5905 §6)
    const frac = v.getUint32(b.body + 12) / 0x100000000;
    const mediaTime = version === 1 ? Number(v.getBigUint64(b.body + 16)) : v.getUint32(b.body + 16);
    return { track: v.getUint32(b.body + 4), wall: secs - NTP_TO_UNIX + frac, mediaTime, wide: version === 1 };
  }

  class SluicePlayer {
    // Plays the WebSocket fMP4 stream at `url` in `video`; `onUpdate(stats)` is called 4 times a second.
    constructor(video, url, onUpdate) {
      this.video = video;
      this.url = url;
      this.onUpdate = onUpdate || (() => {});
      this.state = 'connecting';
      this.message = 'Connecting…';
      this.info = null; // the last init message
      this.sb = null;
      this.queue = [];
      this.backoff = 500;
      this.framesBefore = 0; // frames shown before the last reset (the counters restart then)
      this.target = 0.15; // seconds to keep buffered ahead; grows after underflows
      this.jumps = 0;
      this.connections = 0;
      this.received = []; // [time ms, bytes] of the last seconds, for the bitrate
      this.userPaused = false;
      this.switching = false;
      this.stopped = false;
      video.addEventListener('pause', () => { if (!this.switching) this.userPaused = true; });
      video.addEventListener('play', () => { this.userPaused = false; });
      video.addEventListener('playing', () => { this.switching = false; });
      video.addEventListener('waiting', () => {
        if (!this.switching) this.target = Math.min(this.target + 0.1, 1.0);
      });
      this.timer = setInterval(() => this.tick(), 250);
      this.open();
    }

    stop() {
      this.stopped = true;
      clearInterval(this.timer);
      clearTimeout(this.retry);
      if (this.ws) this.ws.close(1000);
      this.ws = null;
      this.detach();
    }

    open() {
      const ws = new WebSocket(this.url);
      this.connections++;
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onmessage = (e) => {
        if (ws !== this.ws) return;
        if (typeof e.data === 'string') this.onText(JSON.parse(e.data));
        else this.onBinary(e.data);
      };
      ws.onclose = (e) => {
        if (ws !== this.ws || this.stopped) return;
        this.ws = null;
        // 1003: a codec fMP4 cannot carry (a republish may change it: keep trying).
        if (e.code === 1003) this.setState('error', 'The server cannot send this stream as fMP4: ' + e.reason);
        else if (this.state !== 'error') this.setState('waiting', 'Waiting for the stream…');
        this.retry = setTimeout(() => this.open(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, 8000);
      };
    }

    // Start over on a new connection (after a decoding error or a stuck SourceBuffer).
    restart(why) {
      this.setState('waiting', why);
      this.detach();
      if (this.ws) this.ws.close(1000);
    }

    onText(m) {
      if (m.type === 'init') this.pendingInit = m;
      else if (m.type === 'unpublished') this.setState('waiting', 'The publisher left; waiting for it…');
    }

    onBinary(buf) {
      this.received.push([performance.now(), buf.byteLength]);
      if (this.pendingInit) {
        const m = this.pendingInit;
        this.pendingInit = null;
        this.reset(m, buf);
        return;
      }
      if (!this.sb && !this.ms) return; // no usable init yet
      const p = prft(buf);
      if (p) this.prft = p;
      this.queue.push(buf);
      if (this.queue.length > MAX_QUEUE) this.restart('Fell behind; reconnecting…');
      else this.pump();
    }

    // A new init: a fresh MediaSource (a republish may restart the timeline or change codecs).
    reset(info, init) {
      this.info = info;
      this.timescales = timescales(init);
      this.prft = null;
      this.backoff = 500;
      this.detach();
      this.switching = true;
      if (!MediaSourceType || !MediaSourceType.isTypeSupported(info.mime)) {
        this.setState('error', 'This browser cannot play ' + info.mime);
        return;
      }
      const ms = new MediaSourceType();
      this.ms = ms;
      this.queue = [init];
      this.video.disableRemotePlayback = true; // ManagedMediaSource (Safari) asks for it
      this.video.src = URL.createObjectURL(ms);
      ms.addEventListener('sourceopen', () => {
        if (ms !== this.ms) return;
        URL.revokeObjectURL(this.video.src);
        this.sb = ms.addSourceBuffer(info.mime);
        this.sb.addEventListener('updateend', () => this.pump());
        this.sb.addEventListener('error', () => this.restart('Decoding failed; reconnecting…'));
        this.pump();
      }, { once: true });
      this.setState('playing', '');
    }

    detach() {
      if (!this.ms) return;
      this.switching = true; // the pause this causes is not the user's
      this.framesBefore += this.quality().totalVideoFrames;
      this.ms = null;
      this.sb = null;
      this.queue = [];
      this.video.removeAttribute('src');
      this.video.load();
    }

    pump() {
      const sb = this.sb;
      if (!sb || sb.updating || !this.queue.length) return;
      const b = sb.buffered;
      const t = this.video.currentTime;
      if (b.length && t - b.start(0) > 30) {
        sb.remove(b.start(0), t - 10); // keep the SourceBuffer small; pump again on updateend
        return;
      }
      const buf = this.queue.shift();
      try {
        sb.appendBuffer(buf);
      } catch (e) {
        if (e.name === 'QuotaExceededError' && b.length && t - b.start(0) > 1) {
          this.queue.unshift(buf);
          sb.remove(b.start(0), t - 0.5);
        } else {
          this.restart('Cannot append media (' + e.name + '); reconnecting…');
        }
      }
    }

    // Chase the live edge: play a little faster when behind, jump when far behind, stalled,
    // or outside the buffered media (at the start, after a gap).
    tick() {
      const v = this.video;
      const b = this.sb ? v.buffered : null;
      if (b && b.length) {
        const end = b.end(b.length - 1);
        const t = v.currentTime;
        const lag = end - t;
        let inside = false;
        for (let i = 0; i < b.length; i++) inside = inside || (b.start(i) <= t && t <= b.end(i));
        this.stalls = !v.paused && t === this.lastTime && lag > this.target + 0.3 ? (this.stalls || 0) + 1 : 0;
        if (!inside || lag > MAX_LAG || this.stalls >= 4) {
          v.currentTime = Math.max(b.start(b.length - 1), end - this.target);
          this.stalls = 0;
          this.jumps++;
        } else {
          // Up to 15 % faster, in proportion to the excess (0.1 s behind → 1.04).
          const excess = lag - this.target;
          v.playbackRate = excess > 0.05 ? Math.min(1.15, Math.round((1 + excess * 0.4) * 100) / 100) : 1.0;
        }
        if (v.paused && !this.userPaused) v.play().catch(() => {});
        this.lastTime = t;
      }
      this.onUpdate(this.stats());
    }

    // Seconds from the server receiving the frame on screen until now. The prft box says when
    // the server received the frame at `mediaTime`; the picture on screen is `currentTime`
    // later in the media. Assumes the server's clock and this browser's clock agree.
    latency() {
      const p = this.prft;
      if (!p || !this.sb) return null;
      const ts = this.timescales[p.track] || 90000;
      let d = this.video.currentTime * ts - p.mediaTime;
      if (!p.wide) d = ((((d + 0x80000000) % 0x100000000) + 0x100000000) % 0x100000000) - 0x80000000;
      return Date.now() / 1000 - (p.wall + d / ts);
    }

    quality() {
      const v = this.video;
      return v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : { totalVideoFrames: 0, droppedVideoFrames: 0 };
    }

    stats() {
      const v = this.video;
      const now = performance.now();
      while (this.received.length && now - this.received[0][0] > 3000) this.received.shift();
      const bytes = this.received.reduce((n, r) => n + r[1], 0);
      const span = this.received.length > 1 ? Math.max(now - this.received[0][0], 1000) : 0;
      const b = this.sb ? v.buffered : null;
      const q = this.quality();
      return {
        state: this.state,
        message: this.message,
        info: this.info,
        width: v.videoWidth,
        height: v.videoHeight,
        frames: this.framesBefore + (this.ms ? q.totalVideoFrames : 0),
        dropped: q.droppedVideoFrames,
        currentTime: v.currentTime,
        buffer: b && b.length ? b.end(b.length - 1) - v.currentTime : null,
        latency: this.latency(),
        bitrate: span ? (bytes * 8000) / span : null,
        playbackRate: v.playbackRate,
        target: this.target,
        jumps: this.jumps,
        connections: this.connections,
      };
    }

    setState(state, message) {
      this.state = state;
      this.message = message;
    }
  }

  window.SluicePlayer = SluicePlayer;
})();
