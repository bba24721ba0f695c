// ars-publish.js: publish a MediaStream (camera, microphone) to an ars
// recording server over WHIP (RFC 9725). No dependencies, no build step.
//
//   const session = await ARS.publish('demo', 1, mediaKey, stream);
//   await session.connected;   // media is flowing
//   await session.stop();      // DELETE the WHIP session, close the connection
//
// options: {server: 'https://ars.example:8001'} to publish to another
// origin (the default is the page's own), iceServers, iceTimeout (ms).
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

  // The server records H.264 (packetization-mode 1, baseline or main
  // profile) and Opus only: offer just those when the browser lets us.
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

  async function publish(channel, uid, key, stream, options) {
    options = options || {};
    const base = (options.server || global.location.origin).replace(/\/$/, '');
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', iceServers: options.iceServers || [] });
    let resource;
    let recorded;
    try {
      for (const track of stream.getTracks()) {
        const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
        if (track.kind === 'video') preferH264(t);
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
      resource = new URL(resp.headers.get('Location'), base + '/').href;
      const answer = await resp.text();
      recorded = accepted(answer);
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (e) {
      pc.close();
      throw e;
    }
    const connected = new Promise((resolve, reject) => {
      const check = () => {
        if (pc.connectionState === 'connected') resolve();
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
          reject(new PublishError('connection ' + pc.connectionState, 0, 'connection_' + pc.connectionState));
        }
      };
      pc.addEventListener('connectionstatechange', check);
      check();
    });
    connected.catch(() => {});
    let stopped = false;
    return {
      pc: pc,
      resource: resource,
      // recorded says which of the stream's media the server accepted.
      recorded: recorded,
      connected: connected,
      stop: async function () {
        if (stopped) return;
        stopped = true;
        try {
          await fetch(resource, { method: 'DELETE' });
        } finally {
          pc.close();
        }
      },
    };
  }

  global.ARS = Object.assign(global.ARS || {}, { publish: publish, PublishError: PublishError });
})(window);
