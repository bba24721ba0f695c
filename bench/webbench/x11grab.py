#!/usr/bin/env python3
"""The same page recorded by a plain `ffmpeg -f x11grab` + `-f pulse`
pipeline under the same Xvfb, PulseAudio and Chromium flags as
ars-mixer --web-recorder (internal/mixer/webenv.go; no egress proxy here),
to compare with TestWebBench (internal/webrun/bench_test.go).

    python3 bench/webbench/x11grab.py [seconds=20] [width=1280] [height=720]

Prints the tree's CPU (percent of one core, by program) over the window
and its PSS. Run it alone on an idle machine.
"""
import http.server, os, shutil, subprocess, sys, tempfile, threading, time

secs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
w = int(sys.argv[2]) if len(sys.argv) > 2 else 1280
h = int(sys.argv[3]) if len(sys.argv) > 3 else 720
page = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "internal", "webrun", "testdata", "page.html"), "rb").read()

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "text/html"); self.end_headers(); self.wfile.write(page)
    def log_message(self, *a): pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
d = tempfile.mkdtemp(prefix="ars-x11grab-")
for s in ("home", "run", "profile", "out"):
    os.mkdir(os.path.join(d, s), 0o700)
env = {"PATH": "/usr/bin:/bin", "HOME": d + "/home", "XDG_RUNTIME_DIR": d + "/run"}
procs = []
def start(args, extra=None, **kw):
    p = subprocess.Popen(args, env={**env, **(extra or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    procs.append(p); return p
r, wfd = os.pipe()
start(["Xvfb", "-displayfd", str(wfd), "-screen", "0", f"{w}x{h}x24", "-nolisten", "tcp", "-noreset", "-nocursor"], pass_fds=(wfd,))
os.close(wfd)
disp = ":" + os.read(r, 16).decode().strip()
sock = d + "/run/pulse.sock"
start(["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no", "--system=false",
       "--load=module-null-sink sink_name=ars_page rate=48000 channels=2",
       f"--load=module-native-protocol-unix auth-anonymous=1 socket={sock}"])
while not os.path.exists(sock): time.sleep(0.05)
pulse = {"DISPLAY": disp, "PULSE_SERVER": "unix:" + sock, "PULSE_SINK": "ars_page"}
start(["prlimit", "--core=0", "--nofile=4096", "--", "nice", "-n", "10", "chromium", "--no-sandbox", "--disable-gpu",
       "--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
       "--disable-sync", "--disable-breakpad", "--disable-extensions", "--password-store=basic", "--disable-dev-shm-usage",
       "--noerrdialogs", "--disable-infobars", "--hide-scrollbars", "--autoplay-policy=no-user-gesture-required", "--kiosk",
       "--window-position=0,0", f"--window-size={w},{h}", "--user-data-dir=" + d + "/profile", "--renderer-process-limit=1",
       f"http://127.0.0.1:{srv.server_address[1]}/"], pulse)
time.sleep(5)
start(["ffmpeg", "-nostdin", "-v", "error", "-f", "x11grab", "-draw_mouse", "0", "-framerate", "30", "-video_size", f"{w}x{h}",
       "-i", disp, "-f", "pulse", "-i", "ars_page.monitor", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
       "-b:v", "2000k", "-g", "60", "-threads", "2", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "48k", "-ac", "1",
       "-f", "hls", "-hls_time", "2", "-hls_list_size", "0", d + "/out/x.m3u8"], pulse)
time.sleep(3)

def tree():
    kids = {}
    names = {}
    for e in os.listdir("/proc"):
        if not e.isdigit(): continue
        try: s = open(f"/proc/{e}/stat").read()
        except OSError: continue
        f = s[s.rindex(")") + 2:].split()
        kids.setdefault(int(f[1]), []).append(int(e)); names[int(e)] = s[s.index("(") + 1:s.rindex(")")]
    out, q = {}, [os.getpid()]
    while q:
        for k in kids.get(q.pop(), []):
            out[k] = names[k]; q.append(k)
    return out

def cpu():
    by = {}
    for p, n in tree().items():
        try: f = open(f"/proc/{p}/stat").read(); f = f[f.rindex(")") + 2:].split()
        except OSError: continue
        by[n] = by.get(n, 0) + (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return by

def pss():
    t = 0
    for p in tree():
        try:
            for l in open(f"/proc/{p}/smaps_rollup"):
                if l.startswith("Pss:"): t += int(l.split()[1]) * 1024
        except OSError: pass
    return t

c0, t0, peak = cpu(), time.time(), 0
while time.time() - t0 < secs:
    time.sleep(1); peak = max(peak, pss())
c1, el = cpu(), time.time() - t0
shares = {n: (c1.get(n, 0) - c0.get(n, 0)) / el * 100 for n in c1}
total = sum(shares.values())
print(f"ffmpeg x11grab {w}x{h} 30 fps over {el:.0f} s: CPU {total:.0f}% of one core (" +
      " ".join(f"{n} {v:.0f}%" for n, v in sorted(shares.items()) if v >= 0.5) + f"), PSS max {peak >> 20} MiB; {200 / total:.1f} recordings on 2 cores")
for p in reversed(procs):
    p.terminate()
    try: p.wait(5)
    except subprocess.TimeoutExpired: p.kill()
for p in tree():
    try: os.kill(p, 9)
    except OSError: pass
segs = sorted(x for x in os.listdir(d + "/out") if x.endswith(".ts"))
print(f"{len(segs)} segments written")
shutil.rmtree(d, ignore_errors=True)
