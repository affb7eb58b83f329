"""redis_server.py: a real redis-server for script tests (the Python twin of
tests/common/redis_server.c).

Starts redis-server on 127.0.0.1 on a free port with persistence off, waits
until it answers PING, and can kill (an abrupt crash), restart (same port,
empty) and stop it. `cmd()` runs one command over a raw RESP socket, so
checks on the server's contents do not go through the code under test.

    sys.path.insert(0, os.path.join(os.environ["KVIDX_SOURCE_DIR"], "tests/common"))
    from redis_server import RedisServer, redis_available
    with RedisServer() as r:
        ... r.url ("redis://127.0.0.1:PORT"), r.cmd("HGETALL", "m@1") ...

Run with /usr/bin/python3. No module beyond the standard library.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

START_TIMEOUT_S = 5.0


def redis_binary():
    """Path of redis-server (or valkey-server), or None."""
    env = os.environ.get("KVIDX_REDIS_SERVER")
    if env and os.access(env, os.X_OK):
        return env
    for name in ("redis-server", "valkey-server"):
        path = shutil.which(name) or "/usr/bin/" + name
        if os.access(path, os.X_OK):
            return path
    return None


def redis_available():
    return redis_binary() is not None


def free_port():
    """A free port below the ephemeral range (see kvidxd_harness.free_port:
    an ephemeral port could be taken by any outgoing connect meanwhile)."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1e6))
    for _ in range(1000):
        port = rng.randrange(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis error: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("bad RESP reply: %r" % line)


class RedisServer:
    """One redis-server process. Use as a context manager."""

    def __init__(self, port=None, extra_args=(), start=True):
        self.bin = redis_binary()
        if self.bin is None:
            raise RuntimeError("redis-server not installed")
        self.port = port or free_port()
        self.url = "redis://127.0.0.1:%d" % self.port
        self.extra_args = list(extra_args)
        self.dir = tempfile.mkdtemp(prefix="kvidx-redis-")
        self.proc = None
        if start:
            self.start()

    def start(self):
        cmd = [self.bin, "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--daemonize", "no",
               "--dir", self.dir, "--loglevel", "warning"] + self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %d on port %d" %
                                   (self.proc.returncode, self.port))
            try:
                if self.cmd("PING") == "PONG":
                    return
            except (OSError, RuntimeError):
                pass
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("redis-server did not answer on port %d" % self.port)

    def cmd(self, *args, timeout=2.0):
        """Runs one command; returns the decoded reply (str, int, list,
        None). Raises RuntimeError on an error reply."""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=timeout) as s:
            s.sendall(_encode(args))
            return _Reader(s).reply()

    def kill(self):
        """SIGKILL, as a crash: no shutdown, nothing saved."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self):
        """Starts again on the same port (empty: persistence is off)."""
        self.stop()
        last = None
        for _ in range(10):
            try:
                self.start()
                return
            except RuntimeError as e:  # port in TIME_WAIT or taken: retry
                last = e
                time.sleep(0.1)
        raise last

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
