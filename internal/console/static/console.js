// The ars console. Plain DOM; every name from the server goes in through
// textContent, never HTML (channel names may hold < and >).
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const state = { dev: false, webrtc: false, session: null, stream: null };

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function say(id, text, isError) {
    const s = $(id);
    s.textContent = text;
    s.classList.toggle('error', !!isError);
  }

  function form() {
    return { channel: $('channel').value.trim(), uid: $('uid').value.trim() };
  }

  async function call(method, url, body, extraHeaders) {
    const headers = Object.assign(body ? { 'Content-Type': 'application/json' } : {}, extraHeaders || {});
    const resp = await fetch(url, {
      method: method,
      headers: headers,
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try { data = await resp.json(); } catch (e) { /* empty */ }
    if (!resp.ok) {
      const err = new Error(data && data.error ? data.error.message + ' (' + resp.status + ' ' + data.error.code + ')' : 'HTTP ' + resp.status);
      err.status = resp.status;
      err.code = data && data.error ? data.error.code : '';
      throw err;
    }
    return data;
  }

  // mint asks a development-mode daemon for fresh keys and shows them.
  async function mint(channel, uid) {
    const keys = await call('POST', '/v1/dev/keys', { channel: channel, uid: uid });
    if (channel === form().channel) {
      $('recording-key').value = keys.recordingKey;
      $('media-key').value = keys.mediaKey;
    }
    return keys;
  }

  // recordingKey finds a recording key for channel: minted in development
  // mode, else the one typed in (valid only for the form's channel).
  async function recordingKey(channel, uid) {
    if (state.dev) return (await mint(channel, uid)).recordingKey;
    if (channel !== form().channel) throw new Error('enter a recording key for channel "' + channel + '" above');
    const key = $('recording-key').value.trim();
    if (!key) throw new Error('enter a recording key');
    return key;
  }

  async function act(action, channel) {
    const f = form();
    channel = channel || f.channel;
    try {
      const key = await recordingKey(channel, f.uid);
      const res = await call('POST', '/v1/recording/' + action, { channel: channel, uid: f.uid, key: key });
      say('action-status', action === 'start'
        ? (res.started ? 'Recording ' + channel + ' into ' + res.directory : channel + ' was already recording')
        : (res.stopped ? 'Stopped recording ' + channel : channel + ' was not recording'));
      refresh();
    } catch (e) {
      say('action-status', e.message, true);
    }
  }

  function since(iso) {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString();
  }

  function renderChannels(channels) {
    const body = $('channels').querySelector('tbody');
    body.replaceChildren();
    $('no-channels').hidden = channels.length > 0;
    for (const ch of channels) {
      const tr = el('tr');
      tr.dataset.channel = ch.channel;
      tr.append(el('td', ch.channel));
      tr.append(ch.recording ? el('td', 'recording since ' + since(ch.startedAt), 'rec') : el('td', 'not recording', 'muted'));
      const users = el('td');
      if (ch.users.length === 0) users.append(el('span', 'nobody', 'muted'));
      for (const u of ch.users) users.append(el('div', 'uid ' + u.uid + ' · ' + u.source + (u.file ? ' · writing' : '')));
      tr.append(users);
      const buttons = el('td');
      const start = el('button', 'Start', 'small');
      start.addEventListener('click', () => act('start', ch.channel));
      const stop = el('button', 'Stop', 'small secondary');
      stop.addEventListener('click', () => act('stop', ch.channel));
      buttons.append(start, ' ', stop);
      tr.append(buttons);
      body.append(tr);
    }
  }

  // refresh lists the channels; outside development mode the list needs
  // the operator token typed above (kept in this page only).
  async function refresh() {
    const token = $('admin-token').value.trim();
    if (state.channelsNeedToken && !token) {
      renderChannels([]);
      $('no-channels').textContent = 'Enter the operator token (ARS_ADMIN_TOKEN) to list the active channels.';
      return;
    }
    try {
      const headers = token ? { 'Authorization': 'Bearer ' + token } : {};
      renderChannels((await call('GET', '/v1/channels', undefined, headers)).channels);
      $('no-channels').textContent = 'No active channels.';
    } catch (e) {
      if (e.status === 401 || e.status === 403 || e.status === 429) {
        renderChannels([]);
        $('no-channels').textContent = e.message;
      } /* else the daemon restarts; try again on the next tick */
    }
  }

  function publishState(s, text, err) {
    const p = $('publish-status');
    p.dataset.state = s;
    p.dataset.status = err && err.status !== undefined ? String(err.status) : '';
    p.dataset.code = err && err.code ? err.code : '';
    p.textContent = text;
  }

  async function startPublishing() {
    const f = form();
    $('publish').disabled = true;
    publishState('connecting', 'Opening the camera…');
    try {
      if (!state.webrtc) throw new Error('WebRTC ingest is disabled on this server');
      let key = $('media-key').value.trim();
      if (state.dev) key = (await mint(f.channel, f.uid)).mediaKey;
      if (!state.stream) {
        state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
        $('preview').srcObject = state.stream;
      }
      publishState('connecting', 'Connecting…');
      // ?video-codec=VP8 (or VP9, AV1, H264) publishes video in that codec
      // only: to try what the server records of each.
      const videoCodec = new URLSearchParams(location.search).get('video-codec') || undefined;
      state.session = await ARS.publish(f.channel, f.uid, key, state.stream, { videoCodec: videoCodec });
      const live = () => 'Live in ' + f.channel + ' as uid ' + f.uid;
      state.session.addEventListener('reconnecting', (e) =>
        publishState('reconnecting', 'Connection lost (' + e.detail.reason + '): reconnecting, attempt ' + e.detail.attempt + '…'));
      state.session.addEventListener('reconnected', () => publishState('live', live() + ' (reconnected)'));
      state.session.addEventListener('failed', (e) => publishState('error', e.detail.error.message, e.detail.error));
      $('unpublish').disabled = false;
      await state.session.connected;
      const r = state.session.recorded;
      publishState('live', 'Live in ' + f.channel + ' as uid ' + f.uid + (r.video ? '' : ' (video refused: no recordable codec)'));
      refresh();
    } catch (e) {
      state.session = null;
      $('publish').disabled = false;
      $('unpublish').disabled = true;
      publishState('error', e.message, e);
    }
  }

  async function stopPublishing() {
    $('unpublish').disabled = true;
    if (state.session) {
      try { await state.session.stop(); } catch (e) { /* gone already */ }
      state.session = null;
    }
    if (state.stream) {
      for (const t of state.stream.getTracks()) t.stop();
      state.stream = null;
      $('preview').srcObject = null;
    }
    $('publish').disabled = false;
    publishState('idle', 'Not publishing.');
    refresh();
  }

  function size(n) {
    return n > 1 << 20 ? (n / (1 << 20)).toFixed(1) + ' MB' : Math.ceil(n / 1024) + ' KB';
  }

  function play(url) {
    const player = $('player');
    player.hidden = false;
    player.src = url;
    player.play().catch(() => {});
  }

  function renderRecordings(list) {
    const box = $('recordings');
    box.replaceChildren();
    if (list.recordings.length === 0) box.append(el('p', 'No recordings of ' + list.channel + ' yet.', 'muted'));
    for (const rec of list.recordings) {
      const div = el('div', undefined, 'recording');
      div.dataset.directory = rec.directory;
      const head = el('div');
      head.append(el('strong', new Date(rec.startedAt).toLocaleString()), ' ', el('span', rec.directory, 'muted'));
      if (rec.active) head.append(' ', el('span', 'recording', 'rec'));
      if (rec.tag) head.append(' ', el('span', 'tag: ' + rec.tag, 'badge'));
      if (rec.errorStatus) head.append(' ', el('span', rec.errorStatus, 'badge'));
      div.append(head);
      const files = el('div', undefined, 'files');
      for (const f of rec.files) {
        const row = el('div', undefined, 'file');
        row.append(el('span', 'uid ' + f.uid), el('span', f.name, 'muted'), el('span', size(f.size), 'muted'));
        if (f.kind === 'mp4' && f.url) {
          const b = el('button', 'Play', 'small');
          b.dataset.url = f.url;
          b.addEventListener('click', () => play(f.url));
          const a = el('a', 'Download');
          a.href = f.url;
          a.download = f.name;
          row.append(b, a);
        } else {
          row.append(el('span', 'raw capture', 'badge'));
        }
        files.append(row);
      }
      div.append(files);
      box.append(div);
    }
  }

  async function listRecordings() {
    const f = form();
    try {
      const key = await recordingKey(f.channel, f.uid);
      const list = await call('POST', '/v1/recordings', { channel: f.channel, uid: f.uid, key: key });
      renderRecordings(list);
      say('list-status', list.recordings.length + ' recording(s); links work until ' + new Date(list.urlsExpire).toLocaleTimeString());
    } catch (e) {
      say('list-status', e.message, true);
    }
  }

  async function init() {
    try {
      const cfg = await call('GET', '/v1/console/config');
      state.dev = cfg.dev;
      state.webrtc = cfg.webrtc;
      state.channelsNeedToken = !!cfg.channelsNeedToken;
    } catch (e) { /* defaults */ }
    $('admin-row').hidden = !state.channelsNeedToken;
    $('admin-token').addEventListener('change', refresh);
    $('mode').textContent = state.dev ? 'development mode: keys are minted here' : 'keys required';
    $('mode').classList.toggle('dev', state.dev);
    $('webrtc-badge').textContent = state.webrtc ? 'WebRTC publishing on' : 'WebRTC publishing off';
    $('webrtc-badge').classList.toggle('on', state.webrtc);
    $('mint').hidden = !state.dev;
    $('publish').disabled = !state.webrtc;
    $('mint').addEventListener('click', async () => {
      try {
        await mint(form().channel, form().uid);
        say('action-status', 'Minted keys for ' + form().channel + ' / uid ' + form().uid);
      } catch (e) { say('action-status', e.message, true); }
    });
    $('start').addEventListener('click', () => act('start'));
    $('stop').addEventListener('click', () => act('stop'));
    $('publish').addEventListener('click', startPublishing);
    $('unpublish').addEventListener('click', stopPublishing);
    $('list').addEventListener('click', listRecordings);
    refresh();
    setInterval(refresh, 1000);
    document.body.dataset.ready = 'true';
  }

  init();
})();
