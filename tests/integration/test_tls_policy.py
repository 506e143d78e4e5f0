# SPDX-License-Identifier: MIT
"""TLS policy of both listeners, seen by the real `openssl s_client` on the
STARTTLS port (-starttls smtp) and on the implicit-TLS port:

- TLS 1.1 is refused, and the same client command succeeds against an
  `openssl s_server -tls1_1` holding the gateway's own certificate and key
  (for STARTTLS, behind a tiny plaintext SMTP front), so the client really
  offers TLS 1.1 and only the gateway's policy refuses it;
- TLS 1.2 with a suite outside the four MSSanté suites is refused (the same
  offers succeed against a default s_server: a control);
- each of the four MSSanté TLS 1.2 suites is accepted and is the suite
  negotiated; TLS 1.3 is accepted;
- the certificate verifies against the gateway's development CA with the
  host name checked (and fails with a wrong name or another CA: controls);
- refusals send a TLS alert and the daemon logs their cause;
- `tls13_ciphersuites =` (empty) refuses TLS 1.3 and keeps TLS 1.2;
- `tls_min_version = TLSv1.3` refuses TLS 1.2 and keeps TLS 1.3.
"""

import os
import re
import select
import socket
import subprocess
import threading
import time

from mssgate_test import Gateway, Tap, run_tests, free_port

t = Tap()

MSSANTE_SUITES = [
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA256",
]
# TLS 1.2 suites a client may offer that are not among the four.
OUTSIDE_SUITES = [
    "AES128-GCM-SHA256",              # static RSA key exchange
    "ECDHE-RSA-CHACHA20-POLY1305",    # not in the MSSanté list
    "ECDHE-RSA-AES128-SHA",           # SHA-1 MAC
    "DHE-RSA-AES256-GCM-SHA384",      # finite-field DHE
]
OLD = ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]
TIMEOUT = 20


class Handshake:
    """What one `openssl s_client` run reports."""

    def __init__(self, cmd, p):
        self.cmd = " ".join(cmd)
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")
        m = re.search(r"^New, (\S+), Cipher is (\S+)", self.out, re.M)
        self.cipher = m.group(2) if m else None
        # "Protocol :" sits in the SSL-Session block, which s_client may
        # skip for TLS 1.3 when it leaves before the session ticket; then
        # "New, TLSv1.3, ..." (the suite's version) says it as well.
        p = re.search(r"^\s*Protocol\s*:\s*(\S+)", self.out, re.M)
        self.protocol = p.group(1) if p else (
            m.group(1) if m and m.group(1) == "TLSv1.3" else None)
        m = re.search(r"^\s*Verify return code: (\d+) \(([^)]*)\)",
                      self.out, re.M)
        self.verify = (int(m.group(1)), m.group(2)) if m else None

    @property
    def ok(self):
        """The handshake completed: exit 0 and a real cipher."""
        return self.rc == 0 and self.cipher not in (None, "(NONE)")

    @property
    def refused(self):
        return self.rc != 0 and self.cipher in (None, "(NONE)")

    def __str__(self):
        return ("$ %s\nexit %s, protocol %s, cipher %s, verify %s\n"
                "--- stderr\n%s" % (self.cmd, self.rc, self.protocol,
                                     self.cipher, self.verify,
                                     self.err[-1500:]))


def s_client(port, starttls, args=()):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
    if starttls:
        cmd += ["-starttls", "smtp"]
    cmd += list(args)
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=TIMEOUT)
    return Handshake(cmd, p)


def verify_args(gw, name="localhost", ca=None):
    return ["-CAfile", ca or gw.ca, "-verify_return_error",
            "-verify_hostname", name]


def ports(gw):
    """(label, port, starttls) for both listeners."""
    return [("STARTTLS", gw.port_sub, True),
            ("implicit TLS", gw.port_subs, False)]


class SServer:
    """`openssl s_server` on a free loopback port; stdin stays open (at
    end of input s_server would stop) until close()."""

    def __init__(self, cert, key, args=(), naccept=1):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:%d" % self.port,
             "-cert", cert, "-key", key, "-naccept", str(naccept)]
            + list(args),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.output = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.time() + TIMEOUT
        while b"ACCEPT" not in self.output:
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise RuntimeError("s_server did not start:\n%s" %
                                   self.output.decode("utf-8", "replace"))
            time.sleep(0.02)

    def _read(self):
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            self.output += chunk

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            self.proc.stdin.close()
        self.reader.join(5)
        self.proc.stdout.close()


class StartTLSFront:
    """One connection: plaintext SMTP up to STARTTLS, then a byte relay to
    a TLS backend (an s_server). Lets `s_client -starttls smtp` reach an
    s_server, so the STARTTLS control runs the very same client command."""

    def __init__(self, backend_port):
        self.backend_port = backend_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.lsock.settimeout(TIMEOUT)
        self.port = self.lsock.getsockname()[1]
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        c = b = None
        try:
            c, _ = self.lsock.accept()
            c.settimeout(TIMEOUT)
            c.sendall(b"220 control.test ESMTP\r\n")
            buf = b""
            while True:
                while b"\n" not in buf:
                    data = c.recv(4096)
                    if not data:
                        return
                    buf += data
                line, buf = buf.split(b"\n", 1)
                verb = line.strip().upper()
                if verb.startswith(b"EHLO"):
                    c.sendall(b"250-control.test\r\n250 STARTTLS\r\n")
                elif verb == b"STARTTLS":
                    c.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    break
                else:
                    c.sendall(b"502 5.5.1 Not here\r\n")
            b = socket.create_connection(("127.0.0.1", self.backend_port),
                                         timeout=TIMEOUT)
            if buf:
                b.sendall(buf)
            peers = {c: b, b: c}
            deadline = time.time() + TIMEOUT
            while time.time() < deadline:
                r, _, _ = select.select(list(peers), [], [], 1)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except Exception as e:  # noqa: BLE001 - shown by the caller
            self.error = e
        finally:
            for s in (c, b):
                if s is not None:
                    s.close()

    def close(self):
        self.lsock.close()
        self.thread.join(TIMEOUT)


def gw_files(gw):
    return (os.path.join(gw.certs, "server.crt"),
            os.path.join(gw.certs, "server.key"))


def wait_log(gw, pattern, count, timeout=5):
    """The log's matches of pattern once there are count (or timeout)."""
    deadline = time.time() + timeout
    while True:
        found = re.findall(pattern, gw.log_text())
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.05)


# --- tests -------------------------------------------------------------


def test_tls11_refused():
    with Gateway() as gw:
        gw.start()
        for label, port, starttls in ports(gw):
            h = s_client(port, starttls, OLD)
            t.ok(h.refused, "%s: TLS 1.1 refused" % label, h)
            t.eq(h.protocol, "TLSv1.1",
                 "%s: the client really offered TLS 1.1" % label)
            t.like(h.err, r"alert protocol version",
                   "%s: the refusal is a protocol_version alert" % label)
        reasons = wait_log(gw, r"smtp error reason=(.*)", 2)
        t.ok(len(reasons) == 2 and all(
            re.search(r"unsupported protocol|version", r) for r in reasons),
            "the daemon logs why the TLS 1.1 handshakes failed",
            "log reasons: %r" % reasons)

        # Controls: the same client command against a TLS 1.1 server with
        # the gateway's certificate and key succeeds.
        cert, key = gw_files(gw)
        srv = SServer(cert, key, OLD)
        try:
            h = s_client(srv.port, False, OLD)
        finally:
            srv.close()
        t.ok(h.ok and h.protocol == "TLSv1.1",
             "control: the implicit-TLS command completes TLS 1.1 with "
             "s_server -tls1_1", h)
        srv = SServer(cert, key, OLD)
        front = StartTLSFront(srv.port)
        try:
            h = s_client(front.port, True, OLD)
        finally:
            front.close()
            srv.close()
        t.ok(h.ok and h.protocol == "TLSv1.1" and front.error is None,
             "control: the STARTTLS command completes TLS 1.1 with "
             "s_server -tls1_1 behind an SMTP front",
             "%s\nfront error: %r" % (h, front.error))


def test_tls12_outside_suites_refused():
    with Gateway() as gw:
        gw.start()
        for label, port, starttls in ports(gw):
            for suite in OUTSIDE_SUITES:
                h = s_client(port, starttls, ["-tls1_2", "-cipher", suite])
                t.ok(h.refused, "%s: TLS 1.2 %s refused" % (label, suite), h)
            h = s_client(port, starttls,
                         ["-tls1_2", "-cipher", OUTSIDE_SUITES[0]])
            t.like(h.err, r"alert handshake failure",
                   "%s: the refusal is a handshake_failure alert" % label)
        n = 2 * (len(OUTSIDE_SUITES) + 1)
        reasons = wait_log(gw, r"smtp error reason=(.*)", n)
        t.ok(len(reasons) == n and all(
            re.search(r"no shared cipher|cipher", r) for r in reasons),
            "the daemon logs why the cipher handshakes failed",
            "log reasons: %r" % reasons)

        # Control: a server with OpenSSL's default list accepts each offer,
        # so the refusals above come from the gateway's policy.
        cert, key = gw_files(gw)
        srv = SServer(cert, key, naccept=len(OUTSIDE_SUITES))
        try:
            got = []
            for suite in OUTSIDE_SUITES:
                h = s_client(srv.port, False, ["-tls1_2", "-cipher", suite])
                got.append((suite, h.rc, h.cipher))
        finally:
            srv.close()
        t.eq(got, [(s, 0, s) for s in OUTSIDE_SUITES],
             "control: a default s_server negotiates each refused suite")


def test_mssante_suites_accepted():
    with Gateway() as gw:
        gw.start()
        for label, port, starttls in ports(gw):
            for suite in MSSANTE_SUITES:
                h = s_client(port, starttls, ["-tls1_2", "-cipher", suite]
                             + verify_args(gw))
                t.ok(h.ok and (h.protocol, h.cipher, h.verify) ==
                     ("TLSv1.2", suite, (0, "ok")),
                     "%s: TLS 1.2 %s accepted, negotiated and verified"
                     % (label, suite), h)
            # All four offered at once: the server picks one of them.
            h = s_client(port, starttls,
                         ["-tls1_2", "-cipher", ":".join(
                             OUTSIDE_SUITES + MSSANTE_SUITES[::-1])])
            t.ok(h.ok and h.cipher == MSSANTE_SUITES[0],
                 "%s: with a mixed offer the server chooses %s (its "
                 "preference)" % (label, MSSANTE_SUITES[0]), h)
        logged = wait_log(gw, r"smtp tls version=TLSv1\.2 cipher=(\S+)", 10)
        t.eq(sorted(set(logged)), sorted(MSSANTE_SUITES),
             "the daemon logs the four negotiated suites")


def test_tls13_and_certificate():
    with Gateway() as gw:
        gw.start()
        other = os.path.join(gw.tmp, "other-ca.crt")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             os.path.join(gw.tmp, "other-ca.key"), "-out", other,
             "-subj", "/CN=another CA", "-days", "2"],
            check=True, capture_output=True, timeout=TIMEOUT)
        for label, port, starttls in ports(gw):
            h = s_client(port, starttls, ["-tls1_3"] + verify_args(gw))
            t.ok(h.ok and h.protocol == "TLSv1.3" and
                 h.cipher.startswith("TLS_"),
                 "%s: TLS 1.3 accepted" % label, h)
            t.eq(h.verify, (0, "ok"),
                 "%s: certificate verifies against the dev CA for "
                 "localhost" % label)
            h = s_client(port, starttls, ["-tls1_3", "-ciphersuites",
                                          "TLS_AES_128_GCM_SHA256"])
            t.eq((h.rc, h.cipher), (0, "TLS_AES_128_GCM_SHA256"),
                 "%s: TLS 1.3 suite TLS_AES_128_GCM_SHA256 accepted" % label)
            h = s_client(port, starttls, ["-tls1_3", "-ciphersuites",
                                          "TLS_AES_128_CCM_SHA256"])
            t.ok(h.refused, "%s: TLS 1.3 suite TLS_AES_128_CCM_SHA256 (not "
                 "configured) refused" % label, h)
            h = s_client(port, starttls,
                         verify_args(gw, name="not-this-host.example"))
            t.ok(h.rc != 0 and h.verify is not None and h.verify[0] == 62,
                 "%s: control: a wrong host name fails verification (62)"
                 % label, h)
            h = s_client(port, starttls, verify_args(gw, ca=other))
            t.ok(h.rc != 0 and h.verify is not None and h.verify[0] in
                 (20, 21), "%s: control: another CA fails verification"
                 % label, h)


def test_tls13_disabled_by_empty_suites():
    with Gateway(extra={"tls13_ciphersuites": ""}) as gw:
        gw.start()
        for label, port, starttls in ports(gw):
            h = s_client(port, starttls, ["-tls1_3"])
            t.ok(h.refused, "%s: tls13_ciphersuites empty: TLS 1.3 "
                 "refused" % label, h)
            h = s_client(port, starttls, verify_args(gw))
            t.ok(h.ok and (h.protocol, h.cipher) ==
                 ("TLSv1.2", MSSANTE_SUITES[0]),
                 "%s: tls13_ciphersuites empty: an open offer gets TLS 1.2 "
                 "%s" % (label, MSSANTE_SUITES[0]), h)


def test_min_version_tls13():
    with Gateway(extra={"tls_min_version": "TLSv1.3"}) as gw:
        gw.start()
        for label, port, starttls in ports(gw):
            h = s_client(port, starttls,
                         ["-tls1_2", "-cipher", MSSANTE_SUITES[0]])
            t.ok(h.refused, "%s: tls_min_version TLSv1.3: TLS 1.2 %s "
                 "refused" % (label, MSSANTE_SUITES[0]), h)
            h = s_client(port, starttls, ["-tls1_3"] + verify_args(gw))
            t.ok(h.ok and h.protocol == "TLSv1.3",
                 "%s: tls_min_version TLSv1.3: TLS 1.3 accepted" % label, h)


run_tests(t, test_tls11_refused, test_tls12_outside_suites_refused,
          test_mssante_suites_accepted, test_tls13_and_certificate,
          test_tls13_disabled_by_empty_suites, test_min_version_tls13)
