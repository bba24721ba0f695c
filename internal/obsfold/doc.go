// Package obsfold finds obsolete line folding (obs-fold, RFC 9112 §5.2: a
// header line that begins with a space or a tab and continues the line
// before it) in the HTTP/1.x requests a client sends. Go's net/http still
// joins such lines into one value; a proxy in front may read them
// differently, which is how requests get smuggled, and RFC 9112 lets a
// server refuse them with 400. The daemon does.
//
// A Scanner follows the request framing (request line, header lines,
// Content-Length and chunked bodies with their trailers) over the raw
// bytes, so that a body line that happens to start with a space is not
// taken for a fold. A Listener wraps each accepted connection so that its
// bytes pass through a Scanner on their way to the HTTP server; the
// server's handler asks the connection whether a fold was seen.
package obsfold
