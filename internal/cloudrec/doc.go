// Package cloudrec is ars's Agora Cloud Recording compatible REST API:
// acquire, start, query, update and stop on Agora's v1 paths with Agora's
// JSON bodies, error codes and Basic authentication. A started recorder
// hangs on the channel as a session sink and writes, per uid and per
// track, a live HLS playlist (internal/hls) whose files are uploaded as
// they appear (internal/objstore) while events go to the webhook
// (internal/webhook). Only individual mode exists so far.
package cloudrec
