// The console page: `/` lists the live streams (from /console/streams.json) and plays one
// with a click; `/play/{app}/{stream}` plays that stream alone. The page's query string (a
// signed ?expires=…&token=…) is passed on to the WebSocket URL, which cannot carry an
// Authorization header.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  let player = null;
  let playing = null; // "app/name"

  function mediaUrl(app, name) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const path = '/' + encodeURIComponent(app) + '/' + encodeURIComponent(name) + '.mp4';
    return scheme + '//' + location.host + path + location.search;
  }

  // The same stream as LL-HLS (`.m3u8`: native in Safari) or HTTP-FLV, for other players.
  function otherUrl(app, name, ext) {
    return '/' + encodeURIComponent(app) + '/' + encodeURIComponent(name) + ext + location.search;
  }

  function bitrate(bps) {
    if (bps == null) return '–';
    return bps >= 1e6 ? (bps / 1e6).toFixed(2) + ' Mbit/s' : Math.round(bps / 1e3) + ' kbit/s';
  }

  function videoText(v) {
    if (!v) return '–';
    const size = v.width && v.height ? ' ' + v.width + '×' + v.height : '';
    return v.codec + size + (v.fps ? ' ' + Math.round(v.fps * 100) / 100 + ' fps' : '');
  }

  function audioText(a) {
    if (!a) return '–';
    const rate = a.sample_rate ? ' ' + a.sample_rate / 1000 + ' kHz' : '';
    return a.codec + rate + (a.channels ? ' ' + a.channels + ' ch' : '');
  }

  function play(app, name) {
    if (player) player.stop();
    playing = app + '/' + name;
    $('player-view').hidden = false;
    $('s-stream').textContent = playing;
    document.title = playing + ' – Sluice';
    const hls = otherUrl(app, name, '.m3u8');
    $('s-hls').href = hls;
    $('s-flv').href = otherUrl(app, name, '.flv');
    const nativeHls = $('video').canPlayType('application/vnd.apple.mpegurl') !== '';
    $('s-hls-note').textContent = nativeHls
      ? '(this browser plays HLS natively)'
      : '(no native HLS in this browser: open the link in Safari or an HLS player)';
    if (!window.MediaSource && nativeHls) {
      // iPhone Safari: no MSE, but native HLS.
      player = null;
      $('video').src = hls;
      $('video').play().catch(() => {});
      $('status').textContent = 'playing HLS natively';
      return;
    }
    player = new window.SluicePlayer($('video'), mediaUrl(app, name), show);
    window.sluice.player = player;
    for (const tr of document.querySelectorAll('#streams tbody tr')) {
      tr.classList.toggle('selected', tr.dataset.key === playing);
    }
  }

  // The player's stats in the panel beside the video.
  function show(s) {
    $('status').textContent = s.state === 'playing' && s.frames > 0 ? '' : s.message;
    const tracks = (s.info && s.info.tracks) || [];
    const v = tracks.find((t) => t.kind === 'video');
    const a = tracks.find((t) => t.kind === 'audio');
    const w = s.width || (v && v.width);
    const h = s.height || (v && v.height);
    $('s-video').textContent = v ? v.codec + (w ? ' ' + w + '×' + h : '') : s.info ? 'none' : '–';
    $('s-audio').textContent = a ? audioText({ codec: a.codec, sample_rate: a.sample_rate, channels: a.channels }) : s.info ? 'none' : '–';
    $('s-bitrate').textContent = bitrate(s.bitrate);
    $('s-latency').textContent = s.latency == null ? '–' : s.latency.toFixed(2) + ' s';
    $('s-buffer').textContent = s.buffer == null ? '–'
      : s.buffer.toFixed(2) + ' s' + (s.playbackRate !== 1 ? ' (×' + s.playbackRate + ')' : '');
    $('s-frames').textContent = s.frames + (s.dropped ? ' (' + s.dropped + ' dropped)' : '');
  }

  function cell(tr, text) {
    const td = document.createElement('td');
    if (text instanceof Node) td.appendChild(text);
    else td.textContent = text;
    tr.appendChild(td);
  }

  async function refresh() {
    let items = [];
    try {
      const r = await fetch('/console/streams.json', { cache: 'no-store' });
      if (r.ok) items = (await r.json()).items;
    } catch (e) {
      // The server is restarting: keep the last list and try again.
      return;
    }
    const body = document.createElement('tbody');
    for (const s of items) {
      const tr = document.createElement('tr');
      tr.dataset.key = s.app + '/' + s.name;
      tr.classList.toggle('selected', tr.dataset.key === playing);
      const a = document.createElement('a');
      a.href = '/play/' + encodeURIComponent(s.app) + '/' + encodeURIComponent(s.name) + location.search;
      a.textContent = tr.dataset.key;
      cell(tr, a);
      cell(tr, videoText(s.video));
      cell(tr, audioText(s.audio));
      cell(tr, bitrate(s.bitrate_in));
      cell(tr, String(s.players));
      tr.addEventListener('click', (e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey) return; // open the link in a new tab
        e.preventDefault();
        play(s.app, s.name);
      });
      body.appendChild(tr);
    }
    $('streams').replaceChild(body, $('streams').tBodies[0]);
    $('empty').hidden = items.length > 0;
  }

  window.sluice = { player: null, stats: () => (player ? player.stats() : null) };
  for (const e of document.querySelectorAll('.host')) e.textContent = location.hostname;
  const m = location.pathname.match(/^\/play\/([^/]+)\/([^/]+)$/);
  if (m) {
    $('title').textContent = 'player';
    play(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
  } else {
    $('list-view').hidden = false;
    refresh();
    setInterval(refresh, 2000);
  }
})();
