package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/ars-project/ars/internal/rdk"
)

// Client opens and closes participants and recordings through the
// daemon's HTTP API, with keys made from the app credentials exactly as
// a customer's key server would.
type Client struct {
	Base    string // e.g. http://127.0.0.1:8001
	AppID   string
	AppCert string
	HTTP    *http.Client
	// Parallel is how many requests are in flight at once; default 8.
	Parallel int
}

func (c *Client) key(svc rdk.Service4, channel string, uid uint32) (string, error) {
	return rdk.BuildKey4(svc, rdk.DynamicKeyParams{
		AppID: c.AppID, AppCertificate: c.AppCert, Channel: channel, UID: uid,
		UnixTs: uint32(time.Now().Unix()), Salt: rand.Uint32(),
	})
}

func (c *Client) post(ctx context.Context, path string, body, out any, want int) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrAPI, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%w: %s: status %d: %s", ErrAPI, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%w: %s: answer %q: %w", ErrAPI, path, raw, err)
		}
	}
	return nil
}

// Join joins one participant with an H.264 and an Opus stream and fills
// in its ID and the port to send to.
func (c *Client) Join(ctx context.Context, tg *Target) error {
	key, err := c.key(rdk.Service4Media, tg.Channel, tg.UID)
	if err != nil {
		return err
	}
	var resp struct {
		ID      string `json:"id"`
		RTPPort int    `json:"rtpPort"`
	}
	err = c.post(ctx, "/v1/rtp/join", map[string]any{
		"channel": tg.Channel, "uid": tg.UID, "key": key,
		"streams": []map[string]any{
			{"ssrc": tg.VideoSSRC, "payloadType": VideoPayloadType, "codec": "H264", "clockRate": 90000, "fmtp": H264Fmtp},
			{"ssrc": tg.AudioSSRC, "payloadType": AudioPayloadType, "codec": "opus", "clockRate": 48000, "channels": 2},
		},
	}, &resp, http.StatusCreated)
	if err != nil {
		return err
	}
	tg.ID, tg.Port = resp.ID, resp.RTPPort
	return nil
}

// recording starts or stops a channel's recording on behalf of uid.
func (c *Client) recording(ctx context.Context, action, channel string, uid uint32) error {
	key, err := c.key(rdk.Service4Recording, channel, uid)
	if err != nil {
		return err
	}
	return c.post(ctx, "/v1/recording/"+action, map[string]any{"channel": channel, "uid": uid, "key": key}, nil, http.StatusOK)
}

// Open joins every target and then starts recording each channel.
func (c *Client) Open(ctx context.Context, targets []Target) error {
	if err := c.each(ctx, len(targets), func(i int) error { return c.Join(ctx, &targets[i]) }); err != nil {
		return err
	}
	chans := channelsOf(targets)
	return c.each(ctx, len(chans), func(i int) error { return c.recording(ctx, "start", chans[i].Channel, chans[i].UID) })
}

// Stop stops recording every channel of the targets.
func (c *Client) Stop(ctx context.Context, targets []Target) error {
	chans := channelsOf(targets)
	return c.each(ctx, len(chans), func(i int) error { return c.recording(ctx, "stop", chans[i].Channel, chans[i].UID) })
}

// channelsOf returns the first target of each channel, in order.
func channelsOf(targets []Target) []Target {
	seen := map[string]bool{}
	var out []Target
	for _, t := range targets {
		if !seen[t.Channel] {
			seen[t.Channel] = true
			out = append(out, t)
		}
	}
	return out
}

// each runs f(0..n-1) with c.Parallel calls in flight and returns the
// first error.
func (c *Client) each(ctx context.Context, n int, f func(int) error) error {
	par := c.Parallel
	if par <= 0 {
		par = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// Targets makes channels x users targets named bench-<run>-<n> with
// unique SSRCs; ports are left for Join (or the caller) to fill in.
func Targets(run string, channels, users int) []Target {
	out := make([]Target, 0, channels*users)
	for ch := range channels {
		for u := range users {
			i := uint32(len(out))
			out = append(out, Target{
				Channel:   fmt.Sprintf("bench-%s-%d", run, ch),
				UID:       uint32(1000 + u),
				VideoSSRC: 0x1000_0000 + 2*i,
				AudioSSRC: 0x1000_0000 + 2*i + 1,
			})
		}
	}
	return out
}

// SpreadPorts assigns targets round robin over ports, as the daemon's
// least-loaded choice does; used where no daemon assigns them.
func SpreadPorts(targets []Target, ports []int) {
	for i := range targets {
		targets[i].Port = ports[i%len(ports)]
	}
}
