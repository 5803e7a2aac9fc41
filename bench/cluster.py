"""The cluster's figures (issue 16), for bench/run: two more `vigil serve` nodes, A and B, that
share a PostgreSQL database and a bucket on moto's S3 server (PyPI `moto[server]`), beside the
bench's own single node (SQLite, recordings on its disk).

- Live-stream delay when the viewer's console is on node B and the session runs on node A, so
  every frame is relayed over the node link (TLS pinned, signed request), against a viewer
  on A itself, in the same run: keystroke to viewer, p50 / p99.
- Gateway CPU per GiB of a recorded download through node A, whose recordings are uploaded
  to the bucket as the session runs, against the bench's own node, which keeps them on its
  disk: the upload's share of the gateway's work. (The nodes' databases differ too, but no
  byte of a transfer goes through the database.)

PostgreSQL: VIGIL_BENCH_POSTGRES_URL, else VIGIL_TEST_POSTGRES_URL, else the server on
127.0.0.1:5432 when one answers, else a throwaway cluster started here (as scripts/test does).
"""
import os, shutil, subprocess, sys, tempfile, time, urllib.request


def _log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _answers(url):
    return subprocess.run(["psql", url, "-Atqc", "select 1"], capture_output=True).returncode == 0


class Node:
    """A `vigil serve` of the bench's cluster; has what bench/run's helpers read of a node."""
    def __init__(self, name, data, run):
        self.name, self.data = name, data
        self.gw_port, self.http_port = run.free_port(), run.free_port()
        self.proc = None


class Cluster:
    def __init__(self, env, run):
        self.env, self.run, self.procs, self.pg_dir = env, run, [], None
        self.dir = tempfile.mkdtemp(prefix="cluster-", dir=env.tmp)
        os.chmod(self.dir, 0o755)
        self.database_url = self._database()
        self.s3_port = run.free_port()
        moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.s3_port)],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "moto.log"), "w"))
        self.procs.append(moto)
        run.wait_port(self.s3_port, moto, "moto_server (pip install 'moto[server]')")
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.s3_port}/bench", method="PUT")).close()
        self.secrets = {"AWS_ACCESS_KEY_ID": "vigil-bench", "AWS_SECRET_ACCESS_KEY": "vigil-bench-secret", "VIGIL_LOG": "warn"}
        self.a = Node("bench-a", os.path.join(self.dir, "a"), run)
        self.b = Node("bench-b", os.path.join(self.dir, "b"), run)
        init = run.sh(env.vigil, "--data-dir", self.a.data, "init", env={**os.environ, "VIGIL_DATABASE_URL": self.database_url})
        self.a.admin_password = self.b.admin_password = next(
            l.split(":", 1)[1].strip() for l in init.splitlines() if "one-time password:" in l)
        os.makedirs(self.b.data)
        for f in ("master.key", "ssh_host_ed25519_key"):
            shutil.copy(os.path.join(self.a.data, f), os.path.join(self.b.data, f))
            os.chmod(os.path.join(self.b.data, f), 0o600)
        for node in (self.a, self.b):
            with open(os.path.join(node.data, "vigil.toml"), "w") as f:
                f.write(f'node_name = "{node.name}"\ndatabase_url = "{self.database_url}"\n'
                        f'recording_store = "s3://bench/recordings"\ns3_endpoint = "http://127.0.0.1:{self.s3_port}"\n'
                        f's3_upload_interval_secs = 2\ntarget_ciphers = ["chacha20-poly1305@openssh.com"]\n')
        v = lambda *a, stdin=None: subprocess.run([env.vigil, "--data-dir", self.a.data, *a], input=stdin, check=True,
                                                   capture_output=True, text=True)
        v("target", "add", "t", "--host", "127.0.0.1", "--port", str(env.sshd_port), "--host-key-file", env.host_key + ".pub")
        v("account", "add", "t", run.USER, "--key-file", env.vault_key)
        v("user", "add", "alice", "--password-stdin", stdin="unused-password\n")
        v("user", "key", "add", "alice", "--file", env.op_key + ".pub")
        v("access", "grant", "alice", "t")
        for node in (self.a, self.b):
            node.proc = subprocess.Popen(
                [env.vigil, "--data-dir", node.data, "serve", "--ssh-listen", f"127.0.0.1:{node.gw_port}",
                 "--http-listen", f"127.0.0.1:{node.http_port}"],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, f"{node.name}.log"), "a"),
                env={**os.environ, **self.secrets})
            self.procs.append(node.proc)
            run.wait_port(node.http_port, node.proc, f"vigil serve ({node.name})")

    def _database(self):
        """A new database on the PostgreSQL the bench may use (started here when none)."""
        admin = os.environ.get("VIGIL_BENCH_POSTGRES_URL") or os.environ.get("VIGIL_TEST_POSTGRES_URL") \
            or "postgres://postgres@127.0.0.1:5432/postgres"
        if not _answers(admin):
            pg_bin = sorted((d for d in os.listdir("/usr/lib/postgresql")), key=lambda v: int(v))[-1]
            pg_bin = f"/usr/lib/postgresql/{pg_bin}/bin"
            self.pg_dir = os.path.join(self.dir, "pg")
            os.makedirs(self.pg_dir); shutil.chown(self.pg_dir, "postgres")
            port = self.run.free_port()
            as_pg = ["runuser", "-u", "postgres", "--"]
            subprocess.run([*as_pg, f"{pg_bin}/initdb", "-D", f"{self.pg_dir}/data", "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                           check=True, capture_output=True)
            subprocess.run([*as_pg, f"{pg_bin}/pg_ctl", "-D", f"{self.pg_dir}/data", "-l", f"{self.pg_dir}/log", "-w", "-o",
                            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={self.pg_dir} -c fsync=off",
                            "start"], check=True, capture_output=True)
            self.pg_stop = [*as_pg, f"{pg_bin}/pg_ctl", "-D", f"{self.pg_dir}/data", "-m", "immediate", "stop"]
            admin = f"postgres://postgres@127.0.0.1:{port}/postgres"
        db = f"vigil_bench_{os.getpid()}_{int(time.time())}"
        subprocess.run(["psql", admin, "-Atqc", f"CREATE DATABASE {db}"], check=True, capture_output=True)
        return f"{admin.rsplit('/', 1)[0]}/{db}"

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.pg_dir:
            subprocess.run(self.pg_stop, capture_output=True)


def _download_cpu(env, run, proc, payload, ssh_port):
    """Gateway CPU seconds per GiB for one recorded download of `payload` through `node`
    (its process `proc`), counting the recording's upload that follows the session's end."""
    download, _ = env.payloads[payload]
    cpu0 = run.proc_cpu_seconds(proc.pid)
    subprocess.run(env.ssh("vigil", "chacha20-poly1305@openssh.com", download, port=ssh_port),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    # The recording is finished (and, on a bucket, uploaded) as the session closes.
    time.sleep(2)
    return (run.proc_cpu_seconds(proc.pid) - cpu0) / (env.bulk_size / 2**30)


def cluster_rows(env, rows, quick, run):
    """Adds the cluster's rows to `rows`; `run` is bench/run's helpers."""
    _log("a cluster of two nodes on PostgreSQL and moto's S3 server")
    c = Cluster(env, run)
    try:
        samples = 100 if quick else 500
        _log("live stream delay: viewer on the session's node, then on another node")
        here, relayed = [], []
        for _ in range(2):
            here += run.live_latency(env, samples // 2, c.a, c.a)[1]
            relayed += run.live_latency(env, samples // 2, c.a, c.b)[1]
        rows.append(("live stream: keystroke to viewer p50 / p99 ms: viewer on the session's node / on another node (relayed)",
                     f"{run.med(here):.2f} / {run.pct(here, .99):.2f}", f"{run.med(relayed):.2f} / {run.pct(relayed, .99):.2f}",
                     f"+{run.pct(relayed, .99) - run.pct(here, .99):.2f} ms", "relayed p99 <= 100 ms", run.pct(relayed, .99) <= 100))
        for payload in ("zeros", "random"):
            _log(f"recorded downloads of {payload}: recordings on the node's disk / uploaded to the bucket")
            local, bucket = [], []
            # Three each, interleaved: on this shared machine one download's CPU varies by
            # a few percent, the size of the goal's margin.
            for _ in range(3):
                local.append(_download_cpu(env, run, env.gw, payload, env.gw_port))
                bucket.append(_download_cpu(env, run, c.a.proc, payload, c.a.gw_port))
            a, b = run.med(local), run.med(bucket)
            rows.append((f"gateway CPU s per GiB downloaded ({payload}): recordings on disk / in the bucket",
                         f"{a:.2f}", f"{b:.2f}", f"{b / a:.2f} x", "<= 1.10 x", b / a <= 1.10))
    finally:
        c.close()
