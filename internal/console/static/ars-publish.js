// ars-publish.js: publish a MediaStream (camera, microphone) to an ars
// recording server over WHIP (RFC 9725). No dependencies, no build step.
//
//   const session = await ARS.publish('demo', 1, mediaKey, stream);
//   await session.connected;   // media is flowing
//   await session.stop();      // DELETE the WHIP session, close the connection
//
// options: {server: 'https://ars.example:8001'} to publish to another
// origin (the default is the page's own), iceServers, iceTimeout (ms),
// reconnect (true), reconnectMinDelay, reconnectMaxDelay (ms),
// maxReconnects, disconnectedTimeout (ms), videoCodec ('H264', 'VP8',
// 'VP9' or 'AV1': offer video in that codec only, refused with
// code 'codec_unsupported' when this browser cannot send it; by default
// H.264 is offered when the browser has it). The session reconnects by
// itself after a failure or a server restart:
//
//   session.addEventListener('reconnecting', (e) => console.log(e.detail.attempt));
//   session.addEventListener('reconnected', () => ...);
//   session.addEventListener('failed', (e) => console.log(e.detail.error));
(function (global) {
  'use strict';

  class PublishError extends Error {
    constructor(message, status, code) {
      super(message);
      this.name = 'PublishError';
      this.status = status; // HTTP status of the refusal (401, 403, 400...)
      this.code = code;     // the API's error code (invalid_key, ...)
    }
  }

  function gathered(pc, ms) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      const timer = setTimeout(resolve, ms);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  // The server prefers H.264 (packetization-mode 1, baseline or main
  // profile) and also records VP8, VP9 and AV1: offer just that H.264
  // when the browser lets us, so that nothing else can be chosen, or
  // everything when it has no H.264.
  function preferH264(transceiver) {
    if (!transceiver.setCodecPreferences || !global.RTCRtpSender || !RTCRtpSender.getCapabilities) return;
    const caps = RTCRtpSender.getCapabilities('video');
    if (!caps) return;
    const h264 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/h264' &&
      /packetization-mode=1/.test(c.sdpFmtpLine || '') && /profile-level-id=(42|4d)/i.test(c.sdpFmtpLine || ''));
    if (h264.length > 0) {
      try { transceiver.setCodecPreferences(h264); } catch (e) { /* keep the browser's choice */ }
    }
  }

  // onlyCodec makes transceiver offer video in one codec (options.videoCodec).
  function onlyCodec(transceiver, name) {
    const mime = 'video/' + name.toLowerCase();
    const caps = global.RTCRtpSender && RTCRtpSender.getCapabilities ? RTCRtpSender.getCapabilities('video') : null;
    const codecs = caps ? caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime) : [];
    if (codecs.length === 0 || !transceiver.setCodecPreferences) {
      throw new PublishError('this browser cannot send ' + name + ' video', 0, 'codec_unsupported');
    }
    transceiver.setCodecPreferences(codecs);
  }

  // accepted tells which media sections of an answer were accepted.
  function accepted(sdp) {
    const out = { audio: false, video: false };
    for (const line of sdp.split(/\r?\n/)) {
      const m = /^m=(audio|video) (\d+)/.exec(line);
      if (m && m[2] !== '0') out[m[1]] = true;
    }
    return out;
  }

  async function refusal(resp) {
    let code = 'http_' + resp.status;
    let message = resp.statusText || 'request refused';
    try {
      const body = await resp.json();
      if (body && body.error) {
        code = body.error.code;
        message = body.error.message;
      }
    } catch (e) { /* not JSON */ }
    return new PublishError(message + ' (' + resp.status + ' ' + code + ')', resp.status, code);
  }

  // connectOnce makes one WHIP session: a new peer connection, the offer
  // POSTed with the key, the answer applied.
  async function connectOnce(base, channel, uid, key, stream, options) {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', iceServers: options.iceServers || [] });
    try {
      for (const track of stream.getTracks()) {
        const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
        if (track.kind === 'video' && options.videoCodec) onlyCodec(t, options.videoCodec);
        else if (track.kind === 'video') preferH264(t);
      }
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, options.iceTimeout || 2000);
      const url = base + '/v1/whip?channel=' + encodeURIComponent(channel) + '&uid=' + encodeURIComponent(uid);
      const resp = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + key },
        body: pc.localDescription.sdp,
      });
      if (resp.status !== 201) throw await refusal(resp);
      const resource = new URL(resp.headers.get('Location'), base + '/').href;
      const answer = await resp.text();
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      return { pc: pc, resource: resource, recorded: accepted(answer) };
    } catch (e) {
      pc.close();
      throw e;
    }
  }

  // connectedPromise settles when pc connects, or rejects when it fails.
  function connectedPromise(pc) {
    const p = new Promise((resolve, reject) => {
      const check = () => {
        if (pc.connectionState === 'connected') resolve();
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
          reject(new PublishError('connection ' + pc.connectionState, 0, 'connection_' + pc.connectionState));
        }
      };
      pc.addEventListener('connectionstatechange', check);
      check();
    });
    p.catch(() => {});
    return p;
  }

  // publish returns a session that publishes again by itself, with the
  // same key and tracks, when its connection fails or stays disconnected
  // (a network change, a restart of the server): with back-off from
  // reconnectMinDelay (500 ms) doubling to reconnectMaxDelay (10 s), up to
  // maxReconnects attempts (unlimited), unless reconnect: false. The
  // session is an EventTarget: 'reconnecting' {attempt, delay, reason},
  // 'reconnected' {attempt}, 'failed' {error} (a refused key, or no more
  // attempts). Each reconnection is a new join: the server records it in a
  // new capture of the same uid.
  async function publish(channel, uid, key, stream, options) {
    options = options || {};
    const base = (options.server || global.location.origin).replace(/\/$/, '');
    const minDelay = options.reconnectMinDelay || 500;
    const maxDelay = options.reconnectMaxDelay || 10000;
    const maxAttempts = options.maxReconnects === undefined ? Infinity : options.maxReconnects;
    const graceMs = options.disconnectedTimeout || 3000;
    const first = await connectOnce(base, channel, uid, key, stream, options);
    const session = new EventTarget();
    let stopped = false;
    let reconnecting = false;
    const emit = (type, detail) => session.dispatchEvent(new CustomEvent(type, { detail: detail }));

    function adopt(c) {
      session.pc = c.pc;
      session.resource = c.resource;
      session.recorded = c.recorded;
      session.connected = connectedPromise(c.pc);
      watch(c.pc);
    }

    function watch(pc) {
      let graceTimer = null;
      pc.addEventListener('connectionstatechange', () => {
        if (stopped || session.pc !== pc) return;
        const st = pc.connectionState;
        if (st === 'connected') {
          clearTimeout(graceTimer);
          graceTimer = null;
        } else if (st === 'failed') {
          reconnect('connection failed');
        } else if (st === 'disconnected' && graceTimer === null) {
          graceTimer = setTimeout(() => {
            graceTimer = null;
            if (session.pc === pc && pc.connectionState !== 'connected') reconnect('connection disconnected');
          }, graceMs);
        }
      });
    }

    async function reconnect(reason) {
      if (stopped || reconnecting || options.reconnect === false) return;
      reconnecting = true;
      const old = session.pc;
      old.close();
      let delay = minDelay;
      for (let attempt = 1; !stopped && attempt <= maxAttempts; attempt++) {
        const wait = Math.round(delay * (0.75 + Math.random() * 0.5));
        emit('reconnecting', { attempt: attempt, delay: wait, reason: reason });
        await new Promise((r) => setTimeout(r, wait));
        if (stopped) break;
        try {
          const c = await connectOnce(base, channel, uid, key, stream, options);
          if (stopped) { c.pc.close(); break; }
          adopt(c);
          await session.connected;
          reconnecting = false;
          emit('reconnected', { attempt: attempt });
          return;
        } catch (e) {
          if (e instanceof PublishError && (e.status === 401 || e.status === 403)) {
            reconnecting = false;
            emit('failed', { error: e });
            return;
          }
          if (session.pc && session.pc !== old) session.pc.close();
          reason = e.message;
        }
        delay = Math.min(delay * 2, maxDelay);
      }
      reconnecting = false;
      if (!stopped) emit('failed', { error: new PublishError('gave up reconnecting: ' + reason, 0, 'reconnect_failed') });
    }

    adopt(first);
    session.stop = async function () {
      if (stopped) return;
      stopped = true;
      try {
        await fetch(session.resource, { method: 'DELETE' });
      } catch (e) { /* the server is gone: nothing to end */ }
      finally {
        session.pc.close();
      }
    };
    return session;
  }

  global.ARS = Object.assign(global.ARS || {}, { publish: publish, PublishError: PublishError });
})(window);
