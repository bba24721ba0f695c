package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// runClient implements `ars start|stop|status` against a running daemon.
func runClient(cmd string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	defServer := getenv("ARS_SERVER")
	if defServer == "" {
		port := getenv("PORT")
		if port == "" {
			port = "8001"
		}
		defServer = "http://127.0.0.1:" + port
	}
	server := fs.String("server", defServer, "daemon base URL (env ARS_SERVER)")
	channel := fs.String("channel", "", "channel name")
	uid := fs.Uint64("uid", 0, "your uid (start, stop)")
	key := fs.String("key", "", "recording dynamic key (start, stop); env ARS_KEY keeps it out of the process list")
	tag := fs.String("tag", "", "text stored in Metadata.txt (start)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *channel == "" {
		return fmt.Errorf("%w: --channel is required", errUsage)
	}
	if *key == "" {
		*key = getenv("ARS_KEY")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var resp *http.Response
	var err error
	switch cmd {
	case "status":
		resp, err = client.Get(*server + "/v1/recording/status?channel=" + url.QueryEscape(*channel))
	default:
		if *uid == 0 || *key == "" {
			return fmt.Errorf("%w: %s needs --uid and --key (or ARS_KEY)", errUsage, cmd)
		}
		body := map[string]any{"channel": *channel, "uid": strconv.FormatUint(*uid, 10), "key": *key}
		if cmd == "start" && *tag != "" {
			body["tag"] = *tag
		}
		b, _ := json.Marshal(body)
		resp, err = client.Post(*server+"/v1/recording/"+cmd, "application/json", bytes.NewReader(b))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "", "  ") == nil {
		raw = append(pretty.Bytes(), '\n')
	}
	if resp.StatusCode/100 != 2 {
		fmt.Fprint(stderr, string(raw))
		return fmt.Errorf("%s: server answered %s", cmd, resp.Status)
	}
	_, err = stdout.Write(raw)
	return err
}
