package obsfold

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// pipelined is three valid requests in a row whose bodies hold lines that
// begin with a space or a tab, as a fold would.
const pipelined = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{\n \"a\":1,\n\t}\n" +
	"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6;ext=1\r\n\n line\r\n3\r\n\n\t \r\n0\r\nX-Trailer: 1\r\n\r\n" +
	"GET /c HTTP/1.1\r\nHOST: x\r\ncontent-LENGTH: 2\r\n\r\n\n "

func scanAll(s string, piece int) *Scanner {
	var sc Scanner
	b := []byte(s)
	for len(b) > 0 {
		k := min(piece, len(b))
		_, _ = sc.Write(b[:k])
		b = b[k:]
	}
	return &sc
}

func TestValidRequestsAreNotFolded(t *testing.T) {
	// net/http agrees these are three well-formed requests.
	br := bufio.NewReader(strings.NewReader(pipelined))
	for i := 0; i < 3; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, req.Body)
	}
	for _, piece := range []int{1, 2, 3, 7, len(pipelined)} {
		if sc := scanAll(pipelined, piece); sc.Folded() || sc.Lost() {
			t.Errorf("pieces of %d: folded=%v lost=%v", piece, sc.Folded(), sc.Lost())
		}
	}
}

func TestFoldsAreFound(t *testing.T) {
	cases := map[string]string{
		"space":                            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n",
		"tab":                              "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\t2\r\n\r\n",
		"bare LF":                          "GET / HTTP/1.1\nHost: x\nX-A: 1\n 2\n\n",
		"after a body":                     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n\n \nGET / HTTP/1.1\r\nHost: x\r\n\tfold\r\n\r\n",
		"after chunked":                    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\n \r\n0\r\n\r\nGET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
		"after a CRLF that follows a body": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}\r\nGET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
		"in the trailer":                   "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n",
	}
	for name, req := range cases {
		for _, piece := range []int{1, 5, len(req)} {
			if sc := scanAll(req, piece); !sc.Folded() {
				t.Errorf("%s (pieces of %d): fold not found", name, piece)
			}
		}
	}
	// net/http itself takes the first one, joining the lines: this is why
	// the scanner exists.
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(cases["space"])))
	if err != nil {
		t.Fatalf("net/http refuses obs-fold itself now (%v): the scanner may go", err)
	}
	t.Logf("net/http joined the folded header into %q", req.Header.Get("X-A"))
}

func TestMalformedFramingStops(t *testing.T) {
	for _, req := range []string{
		"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET / HTTP/1.1\r\nno colon\r\n",
	} {
		if sc := scanAll(req, 1); !sc.Lost() || sc.Folded() {
			t.Errorf("%q: lost=%v folded=%v", req, sc.Lost(), sc.Folded())
		}
	}
}

func TestScanDoesNotAllocate(t *testing.T) {
	b := []byte(pipelined)
	allocs := testing.AllocsPerRun(100, func() {
		var sc Scanner
		_, _ = sc.Write(b)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per scan", allocs)
	}
}

// FuzzScanner: any input, fed whole or in pieces, gives the same verdict,
// and a verdict of "folded" means a line of the input starts with a space
// or a tab.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(pipelined), uint8(3))
	f.Add([]byte("GET / HTTP/1.1\r\nA: 1\r\n 2\r\n\r\n"), uint8(1))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab\r\n\r\n0\r\nT: 1\r\n\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, piece uint8) {
		whole := scanAll(string(data), len(data)+1)
		split := scanAll(string(data), int(piece)%16+1)
		if whole.Folded() != split.Folded() || whole.Lost() != split.Lost() {
			t.Fatalf("whole %v/%v, in pieces of %d %v/%v", whole.Folded(), whole.Lost(), int(piece)%16+1, split.Folded(), split.Lost())
		}
		if whole.Folded() && !bytes.Contains(data, []byte("\n ")) && !bytes.Contains(data, []byte("\n\t")) {
			t.Fatal("folded without a line starting with white space")
		}
	})
}
