package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// browser is a headless Chromium driven over the DevTools protocol on
// --remote-debugging-pipe: NUL-terminated JSON on fds 3 (to Chromium) and
// 4 (from Chromium). No port, no websocket, nothing to race for.
type browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   *os.File // our end of fd 3
	out  *os.File // our end of fd 4
	logs *lockedBuffer

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpReply
	done    chan struct{}
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	cdpReply
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func requireChromium(t *testing.T) {
	t.Helper()
	if chromiumPath() == "" {
		t.Skip("chromium not installed (scripts/install-test-deps.sh installs it)")
	}
}

// startBrowser launches Chromium with a fake camera and microphone.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	toChrome, ourIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ourOut, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, in: ourIn, out: ourOut, logs: &lockedBuffer{}, pending: map[int]chan cdpReply{}, done: make(chan struct{})}
	b.cmd = exec.Command(chromiumPath(),
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
		"--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
		"--disable-dev-shm-usage", "--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{toChrome, fromChrome}
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChrome.Close()
	fromChrome.Close()
	go b.read()
	t.Cleanup(b.close)
	return b
}

func (b *browser) read() {
	defer close(b.done)
	r := bufio.NewReaderSize(b.out, 1<<20)
	for {
		msg, err := r.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil {
			continue
		}
		if m.ID == 0 {
			if m.Method == "Runtime.consoleAPICalled" || m.Method == "Runtime.exceptionThrown" {
				fmt.Fprintf(b.logs, "page %s: %s\n", m.Method, clipLog(string(m.Params), 400))
			}
			continue
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

func clipLog(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (b *browser) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.call(ctx, "", "Browser.close", nil, nil)
	b.in.Close()
	exited := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-exited
	}
	b.out.Close()
	<-b.done
	if b.t.Failed() {
		b.t.Logf("chromium output:\n%s", clipLog(b.logs.String(), 20000))
	}
}

// call sends one DevTools command (to a page when session is set).
func (b *browser) call(ctx context.Context, session, method string, params, result any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.in.Write(append(raw, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case rep := <-ch:
		if rep.Error != nil {
			return fmt.Errorf("%s: %s", method, rep.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(rep.Result, result)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("%s: chromium exited", method)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// tab is one page of the browser.
type tab struct {
	b       *browser
	session string
}

// newPage opens a tab at url with a fixed viewport.
func (b *browser) newPage(url string) *tab {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		b.t.Fatal(err)
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		b.t.Fatal(err)
	}
	p := &tab{b: b, session: att.SessionID}
	for _, c := range []struct {
		method string
		params any
	}{
		{"Page.enable", nil},
		{"Runtime.enable", nil},
		{"Emulation.setDeviceMetricsOverride", map[string]any{"width": 1200, "height": 860, "deviceScaleFactor": 1, "mobile": false}},
		{"Page.navigate", map[string]any{"url": url}},
	} {
		if err := b.call(ctx, p.session, c.method, c.params, nil); err != nil {
			b.t.Fatal(err)
		}
	}
	return p
}

// eval runs JavaScript in the page (awaiting a promise) and decodes its
// value into out.
func (p *tab) eval(js string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.b.call(ctx, p.session, "Runtime.evaluate", map[string]any{
		"expression": js, "awaitPromise": true, "returnByValue": true, "userGesture": true,
	}, &res)
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("javascript: %s %s", res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		return json.Unmarshal(res.Result.Value, out)
	}
	return nil
}

// must runs js and fails the test on error.
func (p *tab) must(js string) {
	p.b.t.Helper()
	if err := p.eval(js, nil); err != nil {
		p.b.t.Fatal(err)
	}
}

// str evaluates js to a string.
func (p *tab) str(js string) string {
	p.b.t.Helper()
	var s string
	if err := p.eval(js, &s); err != nil {
		p.b.t.Fatal(err)
	}
	return s
}

// waitJS waits until js evaluates to true.
func (p *tab) waitJS(what, js string, timeout time.Duration) {
	p.b.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		var ok bool
		if lastErr = p.eval(js, &ok); lastErr == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.b.t.Fatalf("timed out waiting for %s (%s): last error %v", what, js, lastErr)
}

// setValue types into an input of the console.
func (p *tab) setValue(id, value string) {
	p.b.t.Helper()
	v, _ := json.Marshal(value)
	p.must(fmt.Sprintf("document.getElementById(%q).value = %s", id, v))
}

func (p *tab) click(id string) {
	p.b.t.Helper()
	p.must(fmt.Sprintf("document.getElementById(%q).click()", id))
}

// screenshot returns a PNG of the page.
func (p *tab) screenshot() []byte {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res struct {
		Data string `json:"data"`
	}
	if err := p.b.call(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		p.b.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		p.b.t.Fatal(err)
	}
	return png
}

// publish opens the daemon's console in a new tab and publishes uid's
// fake camera and microphone into channel over WHIP, until live.
func (b *browser) publish(d *daemon, channel string, uid uint32) *tab {
	return b.publishPage(d, "/", channel, uid)
}

// publishPage is publish from the console at page, a path with a query
// ("/?video-codec=VP8").
func (b *browser) publishPage(d *daemon, page, channel string, uid uint32) *tab {
	pg := b.newPage(d.base + page)
	pg.waitJS("console ready", `document.body.dataset.ready === 'true'`, 20*time.Second)
	pg.setValue("channel", channel)
	pg.setValue("uid", strconv.Itoa(int(uid)))
	pg.setValue("media-key", d.key("media", channel, uid))
	pg.click("publish")
	pg.waitJS("publishing live", `document.getElementById('publish-status').dataset.state === 'live'`, 30*time.Second)
	return pg
}
