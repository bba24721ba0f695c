// Package console owns the daemon's web console and the read-only JSON it
// needs beyond the recording API: the page, its script and the browser
// publishing client (embedded, plain HTML/CSS/JS, no build step), the
// channel list, the per-channel recordings list and the playback of a
// recording's MP4s through short-lived HMAC-signed URLs, and, in
// development mode only, minting keys so that a newcomer can try
// everything from the browser.
//
// The channel list names every active channel with its uids, tags and
// directories: outside development mode it answers only to the operator
// token (ARS_ADMIN_TOKEN), which the page asks for.
//
// Every recording is reached through a recording key for its channel,
// exactly as the API's start and stop are: the list answers only to a
// valid key, and the URLs it hands out name one file for a limited time,
// so that a <video> element, which cannot send a key, can still play it.
// Files are opened through an os.Root of AGORA_FILE_ROOT: no path, link
// or name leaves it.
package console
