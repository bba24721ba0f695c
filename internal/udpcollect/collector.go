package udpcollect

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ars-project/ars/internal/udpbatch"
)

// quiet is how long the socket must stay silent before Stop returns.
const quiet = 300 * time.Millisecond

// Collector keeps every datagram that reaches its port.
type Collector struct {
	conn *net.UDPConn
	pkts [][]byte
	err  error
	done chan struct{}
}

// Listen opens a loopback port with a receive buffer large enough for an
// encoder that sends faster than real time (forced past rmem_max as root).
func Listen() (*Collector, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	udpbatch.SetReadBuffer(conn, 64<<20)
	c := &Collector{conn: conn, done: make(chan struct{})}
	go c.run()
	return c, nil
}

// Port is the port to send to.
func (c *Collector) Port() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

func (c *Collector) run() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, net.ErrClosed) {
				c.err = err
			}
			return
		}
		c.pkts = append(c.pkts, bytes.Clone(buf[:n]))
	}
}

// Stop waits until the socket has been quiet briefly, closes it and
// returns what arrived.
func (c *Collector) Stop() ([][]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(quiet))
	<-c.done
	_ = c.conn.Close()
	return c.pkts, c.err
}

// Close releases the port without waiting (for error paths).
func (c *Collector) Close() { _ = c.conn.Close() }
