// sdsend joins uids to channels of a local ars, starts recording, and
// sends numbered RTP (2 SSRCs per uid, 50 packets/s each) for a time; it
// prints how many packets it sent in all.
//
// With -media FILE each uid sends instead the H.264 and Opus packets of
// FILE once, at their own pace and renumbered from 0, so that the
// captures convert to a real MP4; FILE is written beforehand, on a host
// with ffmpeg, by `sdsend -make-media FILE`. -stop stops each channel's
// recording at the end, which finishes its captures.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
)

func key(kind, ch string, uid int) string {
	// ars is /usr/local/bin/ars after deploy.sh, /usr/bin/ars from the .deb.
	out, err := exec.Command("ars", "key", kind, "--channel", ch, "--uid", fmt.Sprint(uid)).Output()
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

// packet is one packet of a -media file: stream 0 is video, 1 audio.
type packet struct {
	stream int
	at     time.Duration
	data   []byte
}

// A -media file is a sequence of: stream (1 byte), arrival time in
// microseconds (4 bytes), length (2 bytes), the RTP packet.
func makeMedia(path string) error {
	streams, err := testmedia.Encode(testmedia.Options{Duration: 6 * time.Second})
	if err != nil {
		return err
	}
	var pkts []packet
	for i, s := range streams {
		for _, p := range s.Packets {
			pkts = append(pkts, packet{i, p.At, p.Data})
		}
	}
	var b bytes.Buffer
	for _, p := range pkts {
		var h [7]byte
		h[0] = byte(p.stream)
		binary.BigEndian.PutUint32(h[1:], uint32(p.at/time.Microsecond))
		binary.BigEndian.PutUint16(h[5:], uint16(len(p.data)))
		b.Write(h[:])
		b.Write(p.data)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func readMedia(path string) ([][]packet, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make([][]packet, 2)
	r := bytes.NewReader(raw)
	for {
		var h [7]byte
		if _, err := io.ReadFull(r, h[:]); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		data := make([]byte, binary.BigEndian.Uint16(h[5:]))
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, err
		}
		s := int(h[0]) & 1
		out[s] = append(out[s], packet{s, time.Duration(binary.BigEndian.Uint32(h[1:])) * time.Microsecond, data})
	}
	return out, nil
}

func main() {
	channels := flag.Int("channels", 20, "")
	dur := flag.Duration("for", 20*time.Second, "")
	prefix := flag.String("prefix", "sd", "channel names are PREFIX-000, PREFIX-001, ...")
	mediaFile := flag.String("media", "", "send this file's packets (see -make-media) instead of numbered filler")
	makeFile := flag.String("make-media", "", "encode test media with ffmpeg into this file and exit")
	stop := flag.Bool("stop", false, "stop the recordings at the end")
	flag.Parse()
	if *makeFile != "" {
		if err := makeMedia(*makeFile); err != nil {
			fmt.Fprintln(os.Stderr, "sdsend:", err)
			os.Exit(1)
		}
		return
	}
	var media [][]packet
	if *mediaFile != "" {
		var err error
		if media, err = readMedia(*mediaFile); err != nil {
			fmt.Fprintln(os.Stderr, "sdsend:", err)
			os.Exit(1)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for c := 0; c < *channels; c++ {
		ch := fmt.Sprintf("%s-%03d", *prefix, c)
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
				n := 0
				if media != nil {
					n = sendMedia(conn, media, ssrcs)
				} else {
					end := time.Now().Add(*dur)
					tick := time.NewTicker(20 * time.Millisecond)
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
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}(j.RTPPort, []uint32{v, a})
		}
	}
	wg.Wait()
	if *stop {
		for c := 0; c < *channels; c++ {
			ch := fmt.Sprintf("%s-%03d", *prefix, c)
			post("/v1/recording/stop", map[string]any{"channel": ch, "uid": 1, "key": key("recording", ch, 1)}, nil)
		}
	}
	fmt.Fprintln(os.Stdout, "sent", total)
}

// sendMedia sends both streams of media interleaved by arrival time, with
// the uid's SSRCs and sequence numbers from 0; it returns the packets sent.
func sendMedia(conn *net.UDPConn, media [][]packet, ssrcs []uint32) int {
	var all []packet
	seqs := []uint16{0, 0}
	for s := range media {
		for _, p := range media[s] {
			d := bytes.Clone(p.data)
			binary.BigEndian.PutUint16(d[2:], seqs[s])
			binary.BigEndian.PutUint32(d[8:], ssrcs[s])
			seqs[s]++
			all = append(all, packet{s, p.at, d})
		}
	}
	sort.SliceStable(all, func(i, k int) bool { return all[i].at < all[k].at })
	start := time.Now()
	n := 0
	for _, p := range all {
		if d := time.Until(start.Add(p.at)); d > 0 {
			time.Sleep(d)
		}
		if _, err := conn.Write(p.data); err == nil {
			n++
		}
	}
	return n
}
