// Command ars is the recording daemon (`ars serve`) and its command-line
// tools: `ars key` mints Agora-compatible keys, `ars start|stop|status` are
// thin clients of the HTTP API, and `ars dump` summarises a capture file.
package main
