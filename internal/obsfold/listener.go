package obsfold

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listener wraps every accepted connection in a Conn.
type Listener struct{ net.Listener }

// NewListener wraps ln.
func NewListener(ln net.Listener) *Listener { return &Listener{Listener: ln} }

// Accept returns the next connection, scanned.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c}, nil
}

// Conn scans the bytes read from it.
type Conn struct {
	net.Conn
	mu     sync.Mutex // reads may come from the server's background reader
	scan   Scanner
	folded atomic.Bool
}

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Read reads and scans.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.folded.Load() {
		c.mu.Lock()
		_, _ = c.scan.Write(p[:n])
		if c.scan.Folded() {
			c.folded.Store(true)
		}
		c.mu.Unlock()
	}
	return n, err
}

// Folded reports whether the client sent a folded header line on this
// connection, in the request being served or one read ahead of it.
func (c *Conn) Folded() bool { return c.folded.Load() }

// Find returns the Conn under c's wrappers (those with a NetConn method),
// or nil.
func Find(c net.Conn) *Conn {
	for c != nil {
		if fc, ok := c.(*Conn); ok {
			return fc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}
