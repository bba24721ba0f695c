package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
)

// TestCloudPythonSample runs the Python sample of Agora's RESTful guide,
// with only its base URL, credentials and storage filled in, against ars,
// while an ffmpeg participant (red, 440 Hz) sends: the sample's mix-mode
// recording (acquire, start, query after 10 s, stop after 30 s more)
// completes, and the playlist its stop prints is a composite holding the
// participant's picture and tone.
func TestCloudPythonSample(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import requests").Run(); err != nil {
		t.Skip("python3-requests not installed (apt-get install -y python3-requests)")
	}
	requireFFmpeg(t)
	localDir := t.TempDir()
	d := cloudDaemon(t, nil, "ARS_CLOUD_LOCAL_DIR="+localDir)
	const cname = "pyroom"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.Command("/usr/bin/python3", filepath.Join(repoRoot(), "test", "cloud", "python_sample.py"))
	cmd.Env = append(os.Environ(), "ARS_BASE_URL="+d.base, "ARS_APP_ID="+appID, "ARS_CNAME="+cname,
		"ARS_BASIC_AUTH=Basic "+base64.StdEncoding.EncodeToString([]byte(customerID+":"+customerSecret)),
		"ARS_TOKEN="+d.key("media", cname, 957947), "ARS_VENDOR=100", "ARS_BUCKET=pysample")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	p := d.joinRTP(cname, 31, 0x3101, 0x3102)
	sender := sendColour(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 20, "red", 440)
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sample: %v\n%s", err, out.String())
	}
	_ = sender.Wait()
	s := out.String()
	t.Logf("sample output:\n%s", s)
	m := regexp.MustCompile(`Stop cloud recording success\. FileList : (\S+_` + cname + `\.m3u8), uploading status: uploaded`).FindStringSubmatch(s)
	if m == nil || !strings.Contains(s, "'fileListMode': 'string'") {
		t.Fatalf("the sample did not record: %s", s)
	}
	pl := filepath.Join(localDir, "pysample", m[1])
	decodeSilently(t, pl)
	// The canvas is the sample's 640x360; the participant fills it.
	px := testmedia.RGBFrameAt(t, pl, 8*time.Second, 640, 360)
	if c := px[(180*640+320)*3 : (180*640+320)*3+3]; !nearColour(c, [3]int{255, 0, 0}) {
		t.Errorf("the composite's centre at 8 s is %v, want red", c)
	}
	pcm := testmedia.DecodeMono(t, "-i", pl)
	if tone, empty := testmedia.ToneEnergy(pcm, 440, 3*time.Second, 15*time.Second), testmedia.ToneEnergy(pcm, 2500, 3*time.Second, 15*time.Second); tone < 1e-4 || tone < 100*empty {
		t.Errorf("440 Hz %.3g, empty band %.3g: the tone is missing", tone, empty)
	}
}
