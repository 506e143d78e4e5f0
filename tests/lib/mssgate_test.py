# SPDX-License-Identifier: MIT
"""Helpers for the integration tests: a TAP reporter, a private mssgated
(free loopback ports, its own temporary data and certificate folders), the
CLI bound to it, and a raw SMTP client for byte-exact dialogues.

Every test starts its own daemon, so tests run in parallel and beside a
development instance without touching the default ports or folders.
"""

import atexit
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

MSSGATED = os.environ.get("MSSGATED", "src/mssgated")
MSSGATE = os.environ.get("MSSGATE", "src/mssgate")
SRCDIR = os.environ.get("MSSGATE_SRCDIR", ".")


class Tap:
    """Minimal TAP producer; the plan is printed at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            if diag is not None:
                for line in str(diag).splitlines()[-40:]:
                    print("#   " + line, flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name,
                       "got:  %r\nwant: %r" % (got, want))

    def like(self, got, pattern, name):
        return self.ok(got is not None and re.search(pattern, got) is not None,
                       name, "got: %r\nwant match: %r" % (got, pattern))

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


# Problems seen when daemons stopped: sanitizer reports in their logs, or
# a non-zero exit after SIGTERM (LeakSanitizer exits 23).
_daemon_problems = []
_daemons_started = [0]

SANITIZER_RE = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                          r"runtime error:|WARNING: ThreadSanitizer|"
                          r"==\d+== (Invalid (read|write|free)|Conditional "
                          r"jump|Mismatched free|Syscall param|Use of "
                          r"uninitialised|Source and destination overlap)|"
                          r"definitely lost in)")


def run_tests(tap, *fns):
    """Run each test function; an exception is a failure, not a crash.
    Ends with one check that every daemon stopped cleanly."""
    for fn in fns:
        try:
            fn()
        except Exception:  # noqa: BLE001 - reported as a TAP failure
            tap.ok(False, "%s raised" % fn.__name__, traceback.format_exc())
    if _daemons_started[0]:
        tap.ok(not _daemon_problems,
               "every mssgated stopped by SIGTERM exited 0, no sanitizer "
               "report in any log", "\n".join(_daemon_problems))
    tap.done()


def free_port():
    """A port nothing listens on now, below the kernel's ephemeral range
    (32768-60999 on Linux) so that the many outgoing connections of the
    tests running beside this one cannot be given it before our daemon
    binds it."""
    import random
    for _ in range(200):
        port = random.randint(20000, 32767)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Gateway:
    """One mssgated on free loopback ports in a private temporary folder."""

    def __init__(self, extra=None, tmp=None, name="gw", domains=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="mssgate-it-")
        self.name = name
        self.data = os.path.join(self.tmp, "queue")
        self.certs = os.path.join(self.tmp, "certs")
        self.conf = os.path.join(self.tmp, "mssgate.conf")
        self.log = os.path.join(self.tmp, "mssgated.log")
        self.domains = domains or ["mssante.test"]
        self.domain = self.domains[0]
        self.port_sub = free_port()
        self.port_subs = free_port()
        self.port_imap = free_port()
        self.port_imaps = free_port()
        self.port_https = free_port()
        self.port_relay = free_port()
        self.proc = None
        self.extra = dict(extra or {})
        self.write_config()
        # Whatever happens to the test, no daemon outlives it.
        atexit.register(self.cleanup)

    def settings(self):
        s = {
            "hostname": "localhost",
            "local_domains": ", ".join(self.domains),
            "data_dir": self.data,
            "certs_dir": self.certs,
            "tls_cert_file": os.path.join(self.certs, "server.crt"),
            "tls_key_file": os.path.join(self.certs, "server.key"),
            "store_key_file": os.path.join(self.certs, "store.key"),
            "store_map_size": "1G",
            "smtp_submission_listen": "127.0.0.1:%d" % self.port_sub,
            "smtp_submission_tls_listen": "127.0.0.1:%d" % self.port_subs,
            "imap_listen": "127.0.0.1:%d" % self.port_imap,
            "imap_tls_listen": "127.0.0.1:%d" % self.port_imaps,
            "http_listen": "127.0.0.1:%d" % self.port_https,
            "relay_listen": "127.0.0.1:%d" % self.port_relay,
            "tls_ca_file": os.path.join(self.certs, "ca.crt"),
            "tls_client_cert_file": os.path.join(self.certs, "server.crt"),
            "tls_client_key_file": os.path.join(self.certs, "server.key"),
            "dev_demo_accounts": "no",
            "network_threads": "2",
            "auth_fail_delay": "0s",
            "log_level": "info",
        }
        s.update(self.extra)
        return s

    def write_config(self, text=None):
        if text is None:
            text = "".join("%s = %s\n" % kv for kv in self.settings().items())
        with open(self.conf, "w") as f:
            f.write(text)

    @property
    def ca(self):
        return os.path.join(self.certs, "ca.crt")

    PORT_KEYS = ("port_sub", "port_subs", "port_imap", "port_imaps",
                 "port_https", "port_relay")

    def start(self, wait=True, timeout=None, repick=None):
        """Start mssgated; with wait, until this run says "daemon ready"
        (the log is appended to, so earlier runs' lines do not count).
        When a port was taken meanwhile by another program (the window of
        free_port), it starts again: on new ports when repick (by default
        only on a first start, before anyone was told the ports), else on
        the same ones a second later."""
        if timeout is None:
            timeout = float(os.environ.get("MSSGATE_START_TIMEOUT", "30"))
        if repick is None:
            repick = not getattr(self, "_started_once", False)
        for attempt in range(5):
            try:
                return self._start_once(wait, timeout)
            except RuntimeError as e:
                if "in use" not in str(e) or attempt == 4:
                    raise
                if repick:
                    for k in self.PORT_KEYS:
                        setattr(self, k, free_port())
                    self.write_config()
                else:
                    time.sleep(1)

    def _start_once(self, wait, timeout):
        _daemons_started[0] += 1
        self.logf = open(self.log, "ab")
        mark = self.logf.tell()
        self.proc = subprocess.Popen([MSSGATED, "-c", self.conf],
                                     stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL)
        if not wait:
            self._started_once = True
            return self
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                self.logf.close()
                raise RuntimeError("mssgated exited with %d:\n%s" %
                                   (rc, self.log_since(mark)))
            if "daemon ready" in self.log_since(mark):
                self._started_once = True
                return self
            time.sleep(0.05)
        self.stop(signal.SIGKILL)
        raise RuntimeError("mssgated not ready after %ds:\n%s" %
                           (timeout, self.log_text()))

    def log_since(self, mark):
        """The log written after byte offset mark."""
        try:
            with open(self.log, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return None
        signalled = self.proc.poll() is None
        if signalled:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.logf.close()
        text = self.log_text()
        m = SANITIZER_RE.search(text)
        if m:
            _daemon_problems.append("%s: %s" % (
                self.log, text[max(0, m.start() - 200):m.start() + 3000]))
        elif signalled and sig == signal.SIGTERM and rc != 0:
            _daemon_problems.append("%s: exit %s after SIGTERM\n%s" % (
                self.log, rc, text[-2000:]))
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        if self.proc is not None:
            self.stop(signal.SIGTERM, timeout=30)
        # Daemons started outside self.proc (mssgated -d) are not left
        # behind, whatever the test did.
        for pid in getattr(self, "extra_pids", ()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not os.environ.get("MSSGATE_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # --- administration through the real CLI ---------------------------

    def cli(self, *args, input=None, check=False):
        p = subprocess.run([MSSGATE, "-c", self.conf] + list(args),
                           input=input, capture_output=True)
        if check and p.returncode != 0:
            raise RuntimeError("mssgate %s: %d\n%s" % (
                " ".join(args), p.returncode,
                p.stderr.decode("utf-8", "replace")))
        return p

    def add_user(self, address, password="Secret-password-1", aliases=()):
        args = ["user", "add", address, "--password-stdin"]
        for a in aliases:
            args += ["--alias", a]
        self.cli(*args, input=(password + "\n").encode(), check=True)
        return password

    def messages(self, user, mailbox="INBOX"):
        import json
        p = self.cli("--json", "message", "list", user, mailbox, check=True)
        return [json.loads(line) for line in p.stdout.decode().splitlines()]

    def message(self, user, uid, mailbox="INBOX"):
        return self.cli("message", "show", user, mailbox, str(uid),
                        check=True).stdout

    # --- clients ----------------------------------------------------------

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx

    def smtp(self, implicit=False, login=None, password=None):
        """A logged-in smtplib client over STARTTLS or implicit TLS."""
        if implicit:
            c = smtplib.SMTP_SSL("127.0.0.1", self.port_subs,
                                 context=self.ssl_context(), timeout=30)
            c.ehlo("client.test")
        else:
            c = smtplib.SMTP("127.0.0.1", self.port_sub, timeout=30)
            c.ehlo("client.test")
            c.starttls(context=self.ssl_context())
            c.ehlo("client.test")
        if login is not None:
            c.login(login, password)
        return c

    def imap(self, implicit=False, login=None, password=None):
        """An imaplib client over STARTTLS or implicit TLS, logged in
        when login is given."""
        import imaplib
        if implicit:
            c = imaplib.IMAP4_SSL("127.0.0.1", self.port_imaps,
                                  ssl_context=self.ssl_context(), timeout=30)
        else:
            c = imaplib.IMAP4("127.0.0.1", self.port_imap, timeout=30)
            c.starttls(ssl_context=self.ssl_context())
        if login is not None:
            c.login(login, password)
        return c

    def deliver(self, sender, password, rcpts, msg):
        """Submit msg (bytes) over SMTP; returns the refused dict."""
        c = self.smtp(login=sender, password=password)
        try:
            return c.sendmail(sender, rcpts, msg)
        finally:
            c.quit()

    def raw(self, implicit=False):
        return RawSMTP("127.0.0.1",
                       self.port_subs if implicit else self.port_sub,
                       self.ssl_context() if implicit else None)


class RawSMTP:
    """Byte-exact SMTP dialogue: send what you want, read whole replies."""

    def __init__(self, host, port, ctx=None, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply()

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; got %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """(code, [texts]) of one possibly multi-line reply."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def text(self):
        code, lines = self.reply()
        return "%d %s" % (code, " / ".join(lines))

    def starttls(self, ctx):
        code, _ = self.cmd("STARTTLS")
        if code != 220:
            raise RuntimeError("STARTTLS refused: %d" % code)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return code

    def closed(self, timeout=5):
        """True when the server closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def login_plain(user, password):
    import base64
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


def strip_trace(msg):
    """The message without the Received header the gateway prepends."""
    lines = msg.split(b"\r\n")
    out = []
    i = 0
    while i < len(lines) and lines[i].startswith(b"Received:"):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    out = lines[i:]
    return b"\r\n".join(out)
