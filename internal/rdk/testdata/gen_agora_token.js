// Generates internal/rdk/testdata/agora_token_vectors.json with Agora's
// official Node builder (npm agora-token), so ars is tested against keys it
// did not make itself. Run through:
//   go test ./internal/rdk -run TestAgoraTokenVectors -update
// which installs the pinned agora-token into a temp dir and sets NODE_PATH.
'use strict'

const { RtcTokenBuilder, RtcRole } = require('agora-token')
const { AccessToken2 } = require('agora-token/src/AccessToken2')
const DynamicKey5 = require('agora-token/src/DynamicKey5')
const crypto = require('crypto')
const version = require('agora-token/package.json').version

const appId = '970CA35de60c44645bbae8a215061b33'
const appCertificate = '5CFd2fd1755d40ecb72977518be15d3b'
const otherAppId = '0123456789abcdef0123456789abcdef'
const now = Math.floor(Date.now() / 1000)
const vectors = []

// issueTs as the builder itself recorded it, read back with its own parser.
function issueTs(token) {
    const t = new AccessToken2()
    if (!t.from_string(token)) throw new Error('agora-token cannot parse its own token')
    return t.issueTs
}

function add007(name, token, check) {
    vectors.push(Object.assign({ name, key: token, clock_unix: issueTs(token) + 1 }, check))
}

add007('rtc uid publisher',
    RtcTokenBuilder.buildTokenWithUid(appId, appCertificate, 'room-1', 2882341273, RtcRole.PUBLISHER, 3600, 3600),
    { verify: 'media', channel: 'room-1', uid: 2882341273, expect: 'ok' })
add007('rtc uid publisher, other uid',
    RtcTokenBuilder.buildTokenWithUid(appId, appCertificate, 'room-1', 2882341273, RtcRole.PUBLISHER, 3600, 3600),
    { verify: 'media', channel: 'room-1', uid: 7, expect: 'wrong_channel_or_uid' })
add007('rtc uid publisher, other channel',
    RtcTokenBuilder.buildTokenWithUid(appId, appCertificate, 'room-1', 42, RtcRole.PUBLISHER, 3600, 3600),
    { verify: 'media', channel: 'room-2', uid: 42, expect: 'wrong_channel_or_uid' })
add007('rtc uid 0 subscriber, privilege expire 0',
    RtcTokenBuilder.buildTokenWithUid(appId, appCertificate, 'Any Room_#1', 0, RtcRole.SUBSCRIBER, 600),
    { verify: 'media', channel: 'Any Room_#1', uid: 123456, expect: 'ok' })
add007('rtc user account',
    RtcTokenBuilder.buildTokenWithUserAccount(appId, appCertificate, 'room-1', 'alice', RtcRole.PUBLISHER, 3600, 3600),
    { verify: 'media', channel: 'room-1', uid: 1, expect: 'wrong_channel_or_uid' })
add007('rtc with per-privilege expiry',
    RtcTokenBuilder.buildTokenWithUidAndPrivilege(appId, appCertificate, 'room-1', 99, 3600, 1800, 900, 900, 60),
    { verify: 'media', channel: 'room-1', uid: 99, expect: 'ok' })
add007('rtc and rtm services',
    RtcTokenBuilder.buildTokenWithRtm(appId, appCertificate, 'room-1', '1234', RtcRole.PUBLISHER, 3600, 3600),
    { verify: 'media', channel: 'room-1', uid: 1234, expect: 'ok' })
add007('rtc token offered for recording',
    RtcTokenBuilder.buildTokenWithUid(appId, appCertificate, 'room-1', 5, RtcRole.PUBLISHER, 3600, 3600),
    { verify: 'recording', channel: 'room-1', uid: 5, expect: 'wrong_service' })
add007('rtc token of another app',
    RtcTokenBuilder.buildTokenWithUid(otherAppId, appCertificate, 'room-1', 5, RtcRole.PUBLISHER, 3600, 3600),
    { verify: 'media', channel: 'room-1', uid: 5, expect: 'wrong_app' })
{
    const token = RtcTokenBuilder.buildTokenWithUid(appId, appCertificate, 'room-1', 5, RtcRole.PUBLISHER, 600, 600)
    vectors.push({ name: 'rtc token past its lifetime', key: token, clock_unix: issueTs(token) + 601,
        verify: 'media', channel: 'room-1', uid: 5, expect: 'key_expired' })
}

function add005(name, gen, verify, channel, uid, expect) {
    const salt = crypto.randomInt(0, 0xffffffff)
    const key = gen(appId, appCertificate, channel, now, salt, uid, 0)
    vectors.push({ name, key, clock_unix: now + 1, verify, channel, uid, expect })
}

add005('005 recording key', DynamicKey5.generateRecordingKey, 'recording', 'room-1', 2882341273, 'ok')
add005('005 media channel key', DynamicKey5.generateMediaChannelKey, 'media', 'room-1', 77, 'ok')
add005('005 media key offered for recording', DynamicKey5.generateMediaChannelKey, 'recording', 'room-1', 77,
    'wrong_service')

process.stdout.write(JSON.stringify({
    generator: `agora-token@${version}`,
    app_id: appId,
    app_certificate: appCertificate,
    vectors,
}, null, 2) + '\n')
