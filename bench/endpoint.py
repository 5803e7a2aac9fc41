"""The endpoint agent's figures (issue 14), for bench/run: a recorded program's added start-up
time (wrapper + PTY) and its output throughput through the wrapper's PTY, each against the
same program run unwrapped in a PTY, alternating (A B A B).

The release `vigil-agent` and `vigil-rec` run against the bench's own `vigil serve`, with a
test install root under the bench's temporary directory; the programs are copies of `date`
and `cat`, recorded for the user running the bench.
"""
import base64, os, pty, select, shutil, statistics, subprocess, sys, time, pwd

MARK = b"Uploading recorded output data"


def _log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Workstation:
    def __init__(self, env, root_dir, target_dir):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "vigil-agent"], cwd=root_dir, check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": target_dir})
        release = os.path.join(target_dir, "release")
        self.agent, self.rec = os.path.join(release, "vigil-agent"), os.path.join(release, "vigil-rec")
        self.dir = os.path.join(env.tmp, "ws")
        self.state, self.root = os.path.join(self.dir, "state"), os.path.join(self.dir, "root")
        os.makedirs(os.path.join(self.root, "usr/local/bin"), exist_ok=True)
        self.programs = {}
        for name, source in (("vdate", "/bin/date"), ("vcat", "/bin/cat")):
            path = os.path.join(self.root, "usr/local/bin", name)
            shutil.copy(source, path)
            self.programs[name] = path
        v = lambda *a: subprocess.run([env.vigil, "--data-dir", env.data, *a], check=True, capture_output=True, text=True).stdout
        token = v("agent", "token").strip()
        subprocess.run([self.agent, "--state-dir", self.state, "enrol", "--server", f"https://127.0.0.1:{env.http_port}",
                        "--token", token, "--ca-file", os.path.join(env.data, "tls/cert.pem"), "--host-name", "bench-ws"],
                       check=True, capture_output=True)
        v("agent", "approve", "bench-ws")
        me = pwd.getpwuid(os.getuid()).pw_name
        for name in self.programs:
            v("agent-policy", "add", f"bench-{name}", "--path", f"/usr/local/bin/{name}", "--record", "yes", "--user", me)
        self.log = open(os.path.join(self.dir, "agent.log"), "a")
        self.proc = subprocess.Popen([self.agent, "--state-dir", self.state, "run", "--root", self.root, "--wrapper", self.rec,
                                      "--poll-secs", "1"], stdout=self.log, stderr=self.log)
        env.procs.append(self.proc)
        for path in self.programs.values():
            for _ in range(600):
                try:
                    with open(path, "rb") as f:
                        f.seek(-8, 2)
                        if f.read() == b"VIGILREC":
                            break
                except OSError:
                    pass  # between the move aside and the wrapper's arrival
                time.sleep(0.05)
            else:
                sys.exit(f"the agent did not wrap {path}")


def in_pty(argv, until=None):
    """Runs argv on a new PTY; returns (output bytes, seconds until `until` was seen or the end)."""
    master, slave = pty.openpty()
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out, n, seen = bytearray(), 0, None
    tail = b""
    while True:
        r, _, _ = select.select([master], [], [], 120)
        if not r:
            break
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        n += len(chunk)
        if len(out) < 4096:
            out += chunk[:4096]
        if until is not None and seen is None:
            if until in tail + chunk:
                seen = time.monotonic() - start
            tail = chunk[-64:]
    p.wait()
    os.close(master)
    return bytes(out), n, (seen if seen is not None else time.monotonic() - start)


def startup_ms(program, samples):
    """Start-up in ms: from just before the spawn to the time `date` itself reads."""
    out = []
    for _ in range(samples):
        t0 = time.time_ns()
        text, _, _ = in_pty([program, "+%s%N"])
        first = text.split(b"\n", 1)[0].strip()
        out.append((int(first) - t0) / 1e6)
    return out


def endpoint_rows(env, rows, root_dir, target_dir, med):
    _log("the endpoint agent: wrapper start-up and PTY throughput")
    ws = Workstation(env, root_dir, target_dir)
    samples = 10 if env.quick else 40
    plain, wrapped = [], []
    for _ in range(2):
        plain += startup_ms("/bin/date", samples)
        wrapped += startup_ms(ws.programs["vdate"], samples)
    added = med(wrapped) - med(plain)
    rows.append(("endpoint: recorded program start-up p50 ms, unwrapped / wrapper + PTY", f"{med(plain):.2f}",
                 f"{med(wrapped):.2f}", f"+{added:.2f} ms", "<= +5 ms", added <= 5))
    size = (32 if env.quick else 256) << 20
    text = os.path.join(env.tmp, "text.txt")
    with open(text, "wb") as f:
        while f.tell() < size:
            f.write(base64.encodebytes(os.urandom(3 << 18)))
    with open(text, "rb") as f:
        while f.read(1 << 24):
            pass
    mib = os.path.getsize(text) / (1 << 20)
    a, b = [], []
    for _ in range(2):
        _, _, s = in_pty(["/bin/cat", text])
        a.append(mib / s)
        _, got, s = in_pty([ws.programs["vcat"], text], until=MARK)
        b.append(mib / s)
    rows.append((f"endpoint: `cat` of a {mib:.0f} MiB text file through a PTY, MiB/s: unwrapped / recorded",
                 f"{med(a):.0f}", f"{med(b):.0f}", f"{med(b) / med(a):.2f} x", ">= 0.8 x", med(b) / med(a) >= 0.8))
