// Package rdk owns Agora-compatible access keys: generation, parsing and
// verification of the three formats existing Agora business servers hand to
// clients, so that ars accepts keys made by Agora's own generators
// (AgoraIO/Tools, DynamicKey/AgoraDynamicKey) unchanged:
//
//   - DynamicKey4 ("004"): hex HMAC-SHA1; recording ("ARS") and media
//     channel ("ACS") keys. Channel and uid exist only inside the signature.
//   - DynamicKey5 ("005"): base64 packed fields, HMAC-SHA1 keyed with the
//     hex-decoded certificate; service 2 = recording, 1 = media channel.
//   - AccessToken2 ("007"): zlib-compressed packed fields with an
//     HMAC-SHA256 chain; the RTC service (type 1) carries the channel, the
//     uid and per-privilege expiries.
//
// Verification never compares key strings: it parses the key, recomputes the
// signature over the signed bytes and compares MACs in constant time. This
// matters for 007, whose bytes depend on the zlib implementation of the
// generator.
//
// A [Verifier] answers "may this key record / join this channel as this
// uid?". Its errors wrap the sentinels in errors.go so the HTTP layer can map
// them to statuses; see [ErrMalformed] and friends. Because 004/005 keys do
// not carry the channel or uid in clear, a key for another channel or uid is
// indistinguishable from a forged one and surfaces as [ErrBadSignature];
// only 007 tokens can report [ErrWrongChannelOrUID].
//
// No error message ever contains the app certificate or a full key.
//
// User documentation: docs/keys.md.
package rdk
