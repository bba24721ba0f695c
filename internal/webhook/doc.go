// Package webhook delivers Agora-style cloud recording notifications to a
// configured URL: JSON bodies in Agora's format, signed with HMAC-SHA1
// (Agora-Signature) and HMAC-SHA256 (Agora-Signature-V2) of the raw body.
// Every notification is written to an on-disk queue before it is sent and
// removed only once the receiver answered 200 (or it ran out of retries),
// so a restart loses none; they are sent one at a time, in order.
package webhook
