"""The load figure (issue 15), for bench/run: N concurrent interactive sessions, each typing a
line now and then and receiving its echo (the target runs `cat` in a PTY), plus M bulk
downloads of the random payload at the same time, for a few minutes. Then every interactive
recording is compared with what its client received, byte for byte; every bulk download
with its source (SHA-256); every session must have ended normally, with its log complete
and its evidence verified (`vigil verify`). The node's CPU and peak memory are reported.

Nothing here asserts a timing: the table says met or not.
"""
import base64, hashlib, json, os, random, selectors, subprocess, sys, time


def _log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def cast_output(cast):
    """Every output byte of an exported asciicast v3 recording (b events replace the lossy
    text of the o event before them)."""
    out, last = bytearray(), b""
    for line in cast.splitlines()[1:]:
        ev = json.loads(line)
        if ev[1] == "o":
            last = ev[2].encode()
            out += last
        elif ev[1] == "b":
            out[len(out) - len(last):] = base64.b64decode(ev[2])
            last = b""
        else:
            last = b""
    return bytes(out)


def _cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _drain(sel, timeout):
    """Reads what the clients received; a client whose output ended is forgotten."""
    for key, _ in sel.select(timeout=timeout):
        try:
            chunk = os.read(key.fileobj.fileno(), 65536)
        except BlockingIOError:
            continue
        if chunk:
            key.data["seen"] += chunk
        else:
            sel.unregister(key.fileobj)


def load_rows(env, rows, sessions, seconds, bulks):
    cipher = "chacha20-poly1305@openssh.com"
    download, source = env.payloads["random"]
    with open(source, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    v = lambda *a: subprocess.run([env.vigil, "--data-dir", env.data, *a], capture_output=True)
    before = {s["id"] for s in json.loads(v("session", "list", "--json").stdout)}
    cpu0, started = _cpu(env.gw.pid), time.monotonic()
    peak = _rss_kib(env.gw.pid)
    _log(f"{sessions} interactive sessions and {bulks} bulk downloads for {seconds} s")
    sel = selectors.DefaultSelector()
    clients = []
    for i in range(sessions):
        p = subprocess.Popen(env.ssh("vigil", cipher, "cat", tty=True), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        os.set_blocking(p.stdout.fileno(), False)
        c = {"p": p, "seen": bytearray(), "marker": f"load-session-{i}-{random.getrandbits(48):x}", "n": 0}
        sel.register(p.stdout, selectors.EVENT_READ, c)
        clients.append(c)
        # Opening hundreds of connections at once is its own test (MaxStartups); pace them.
        time.sleep(0.02)
    downloads = []
    for i in range(bulks):
        out = os.path.join(env.tmp, f"bulk-{i}.bin")
        downloads.append((subprocess.Popen(env.ssh("vigil", cipher, download), stdout=open(out, "wb"),
                                           stderr=subprocess.DEVNULL), out))
    deadline = time.monotonic() + seconds
    next_key = time.monotonic()
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_key:
            # Each session types a line about every 2 s (spread over the sessions).
            c = random.choice(clients)
            line = f"{c['marker']} line {c['n']} {'x' * random.randint(0, 60)}\r".encode()
            c["n"] += 1
            try:
                c["p"].stdin.write(line); c["p"].stdin.flush()
            except BrokenPipeError:
                pass
            next_key = now + 2.0 / sessions
        _drain(sel, 0.005)
        peak = max(peak, _rss_kib(env.gw.pid))
    # Each session types its marker once more, then ends (^D ends cat).
    for c in clients:
        try:
            c["p"].stdin.write(f"{c['marker']} end\r\x04".encode()); c["p"].stdin.flush()
        except BrokenPipeError:
            pass
    end = time.monotonic() + 60
    while time.monotonic() < end and sel.get_map():
        _drain(sel, 0.1)
    for c in clients:
        c["p"].wait(30)
    bulk_ok = 0
    for p, out in downloads:
        p.wait(600)
        with open(out, "rb") as f:
            bulk_ok += hashlib.sha256(f.read()).hexdigest() == want
        os.unlink(out)
    cpu = _cpu(env.gw.pid) - cpu0
    wall = time.monotonic() - started
    time.sleep(2)
    _log("comparing every recording with what its client received")
    new = [s for s in json.loads(v("session", "list", "--json").stdout) if s["id"] not in before]
    by_marker = {c["marker"]: c for c in clients}
    exact = normal = verified = complete = 0
    for s in new:
        normal += s.get("end_reason") in ("operator_exit", "target_closed")
        verified += v("verify", s["id"]).returncode == 0
        shown = json.loads(v("session", "show", s["id"], "--json").stdout)
        kinds = [e["kind"] for e in shown.get("events", [])]
        complete += all(k in kinds for k in ("authenticated", "connected", "channel_opened", "ended"))
        if s["bytes_out"] >= env.bulk_size // 2:
            continue  # a bulk download: checked against its source above
        out = cast_output(v("recording", "export", s["id"]).stdout)
        marker = next((m for m in by_marker if m.encode() in out), None)
        if marker is not None:
            exact += bytes(by_marker[marker]["seen"]) == out
    total = sessions + bulks
    rows.append((f"load: {sessions} interactive + {bulks} bulk sessions for {seconds} s: recordings equal to the client's capture",
                 "-", f"{exact} of {sessions}", "-", "all", exact == sessions))
    rows.append(("load: bulk downloads equal to their source (SHA-256)", "-", f"{bulk_ok} of {bulks}", "-", "all", bulk_ok == bulks))
    rows.append(("load: sessions ended normally / logs complete / evidence verified", "-",
                 f"{normal} / {complete} / {verified} of {total}", "-", "all",
                 normal == complete == verified == total == len(new)))
    rows.append(("load: node CPU (cores busy on average) / peak RSS", "-", f"{cpu / wall:.2f} / {peak / 1024:.0f} MiB", "-", "-", True))
