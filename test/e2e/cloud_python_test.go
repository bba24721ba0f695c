package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCloudPythonSample runs the Python sample of Agora's RESTful guide,
// with only its base URL and credentials changed, against ars. The sample
// starts in mix mode, which ars refuses with a clear error, so it stops
// after acquire and start.
func TestCloudPythonSample(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import requests").Run(); err != nil {
		t.Skip("python3-requests not installed (apt-get install -y python3-requests)")
	}
	d := cloudDaemon(t, nil)
	cmd := exec.Command("/usr/bin/python3", filepath.Join(repoRoot(), "test", "cloud", "python_sample.py"))
	cmd.Env = append(os.Environ(), "ARS_BASE_URL="+d.base, "ARS_APP_ID="+appID, "ARS_CNAME=pyroom",
		"ARS_BASIC_AUTH=Basic "+base64.StdEncoding.EncodeToString([]byte(customerID+":"+customerSecret)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sample: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"/acquire", "'resourceId': '", "Start error! Code:400", "'code': 2", "mode mix is not supported by ars yet"} {
		if !strings.Contains(s, want) {
			t.Errorf("sample output lacks %q:\n%s", want, s)
		}
	}
}
