// sdsend joins uids to channels of a local ars, starts recording, and
// sends numbered RTP (2 SSRCs per uid, 50 packets/s each) for a time; it
// prints how many packets it sent per SSRC.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

func key(kind, ch string, uid int) string {
	out, err := exec.Command("/usr/local/bin/ars", "key", kind, "--channel", ch, "--uid", fmt.Sprint(uid)).Output()
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(out))
}

func post(path string, body any, out any) {
	b, _ := json.Marshal(body)
	resp, err := http.Post("http://127.0.0.1:8001"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		panic(fmt.Sprintf("%s: %d", path, resp.StatusCode))
	}
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
}

func main() {
	channels := flag.Int("channels", 20, "")
	dur := flag.Duration("for", 20*time.Second, "")
	flag.Parse()
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for c := 0; c < *channels; c++ {
		ch := fmt.Sprintf("sd-%03d", c)
		for u := 1; u <= 2; u++ {
			var j struct {
				RTPPort int `json:"rtpPort"`
			}
			v, a := uint32(c*10+u*2), uint32(c*10+u*2+1)
			post("/v1/rtp/join", map[string]any{"channel": ch, "uid": u, "key": key("media", ch, u),
				"streams": []map[string]any{{"ssrc": v, "payloadType": 96, "codec": "H264"}, {"ssrc": a, "payloadType": 111, "codec": "opus"}}}, &j)
			if u == 2 {
				post("/v1/recording/start", map[string]any{"channel": ch, "uid": 1, "key": key("recording", ch, 1)}, nil)
			}
			wg.Add(1)
			go func(port int, ssrcs []uint32) {
				defer wg.Done()
				conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
				if err != nil {
					panic(err)
				}
				end := time.Now().Add(*dur)
				tick := time.NewTicker(20 * time.Millisecond)
				n := 0
				pkt := make([]byte, 172)
				for seq := 0; time.Now().Before(end); seq++ {
					<-tick.C
					for i, s := range ssrcs {
						pkt[0], pkt[1] = 0x80, []byte{96, 111}[i]
						binary.BigEndian.PutUint16(pkt[2:], uint16(seq))
						binary.BigEndian.PutUint32(pkt[8:], s)
						if _, err := conn.Write(pkt); err == nil {
							n++
						}
					}
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}(j.RTPPort, []uint32{v, a})
		}
	}
	wg.Wait()
	fmt.Fprintln(os.Stdout, "sent", total)
}
