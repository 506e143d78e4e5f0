# SPDX-License-Identifier: MIT
"""Certificates between operators, with certificates this test makes
itself with the openssl command in its temporary folder: a trusted CA
(in the gateway's tls_ca_file bundle), an untrusted one (not in it), and
leaf certificates from both, one of them expired (made with `openssl ca
-startdate/-enddate`, as `openssl x509` cannot back-date).

Outbound, gateway A (a.test) relays to peers that present:
- a certificate from the untrusted CA: not delivered, deferred, and
  `queue show` gives the reason: from a second mssgated, which sends
  the untrusted root in its chain, "certificate verify failed:
  self-signed certificate in certificate chain"; from a server sending
  its leaf alone, "... unable to get local issuer certificate";
- an expired certificate from the trusted CA: mssgated itself refuses to
  start with an expired certificate, so this peer is a minimal STARTTLS
  responder in this test; "certificate verify failed: certificate has
  expired";
- a certificate from the trusted CA for another host (SAN DNS:other.
  example only, a second mssgated), reached by address ("IP address
  mismatch") and by name ("hostname mismatch");
- and, as the control, a good certificate from the trusted CA: the
  message is delivered.
Our client ends each refused handshake with the alert that says why
(RFC 8446 4.4.2.4), which the peers see.

Inbound, A's relay port refuses: a client without a certificate (TLS
alert certificate_required), one whose certificate chains to the
untrusted CA (alert unknown_ca), one with an expired certificate (alert
certificate_expired), and one whose trusted certificate names no
trust-space domain (554 5.7.1 on MAIL); a trusted certificate for a
trust-space domain is accepted (the control).
"""

import atexit
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid

from mssgate_test import (MSSGATE, Gateway, RawSMTP, Tap,
                          run_tests)

t = Tap()

WAIT = 40
TMP = tempfile.mkdtemp(prefix="mssgate-relay-tls-")
if not os.environ.get("MSSGATE_KEEP_TMP"):
    atexit.register(shutil.rmtree, TMP, True)
S = {}              # set up by test_setup


# --- certificates --------------------------------------------------------


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (
            " ".join(args), p.stderr.decode("utf-8", "replace")))
    return p


def path(name):
    return os.path.join(TMP, name)


def write(name, text):
    with open(path(name), "w") as f:
        f.write(text)
    return path(name)


def make_ca(name, cn):
    cnf = write(name + "-req.cnf", "[req]\ndistinguished_name = dn\n"
                "prompt = no\n[dn]\nCN = %s\nO = %s\n[v3_ca]\n"
                "basicConstraints = critical, CA:TRUE\n"
                "keyUsage = critical, keyCertSign, cRLSign\n"
                "subjectKeyIdentifier = hash\n" % (cn, cn))
    openssl("req", "-x509", "-config", cnf, "-extensions", "v3_ca",
            "-newkey", "rsa:2048", "-nodes", "-keyout", path(name + ".key"),
            "-out", path(name + ".crt"), "-days", "30")
    # what `openssl ca` needs to sign (the expired certificate)
    os.makedirs(path(name + "-new"), exist_ok=True)
    write(name + "-index.txt", "")
    write(name + "-serial", "1000\n")
    write(name + "-ca.cnf", "[ca]\ndefault_ca = this\n[this]\n"
          "database = %s\nnew_certs_dir = %s\nserial = %s\n"
          "default_md = sha256\npolicy = any\ncopy_extensions = none\n"
          "unique_subject = no\n[any]\ncommonName = supplied\n" % (
              path(name + "-index.txt"), path(name + "-new"),
              path(name + "-serial")))
    return path(name + ".crt")


def make_leaf(name, ca, sans, expired=False):
    """A key and a certificate signed by ca, for the subjectAltName
    list sans, valid now, or expired since 2021."""
    cn = sans[0].split(":", 1)[1]
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes",
            "-keyout", path(name + ".key"), "-out", path(name + ".csr"),
            "-subj", "/CN=%s/O=relay tls test" % cn)
    ext = write(name + ".ext", "[leaf]\nbasicConstraints = CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth, clientAuth\n"
                "subjectAltName = %s\n" % ", ".join(sans))
    if expired:
        openssl("ca", "-batch", "-notext", "-config", path(ca + "-ca.cnf"),
                "-cert", path(ca + ".crt"), "-keyfile", path(ca + ".key"),
                "-in", path(name + ".csr"), "-out", path(name + ".crt"),
                "-startdate", "20200101000000Z",
                "-enddate", "20210101000000Z",
                "-extfile", ext, "-extensions", "leaf")
    else:
        openssl("x509", "-req", "-in", path(name + ".csr"),
                "-CA", path(ca + ".crt"), "-CAkey", path(ca + ".key"),
                "-set_serial", "0x" + uuid.uuid4().hex[:16], "-days", "30",
                "-sha256", "-extfile", ext, "-extensions", "leaf",
                "-out", path(name + ".crt"))
    return path(name + ".crt"), path(name + ".key")


def cert_dates(crt):
    p = openssl("x509", "-in", crt, "-noout", "-startdate", "-enddate")
    return p.stdout.decode()


# --- helpers -------------------------------------------------------------


def cli(gw, *args):
    return subprocess.run([MSSGATE, "-c", gw.conf] + list(args), input=b"",
                          capture_output=True, timeout=60)


def out(p):
    return "exit %s\n--- stdout\n%s--- stderr\n%s" % (
        p.returncode, p.stdout.decode("utf-8", "replace")[-3000:],
        p.stderr.decode("utf-8", "replace")[-2000:])


def wait_for(fn, timeout=WAIT, step=0.2):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def custom_cert(gw, crt, key, ca):
    """gw presents crt (server and operator certificate), trusts ca.
    No development CA is made then, nor its folder, where the store key
    still goes."""
    os.makedirs(gw.certs, mode=0o700, exist_ok=True)
    gw.extra.update(tls_cert_file=crt, tls_key_file=key,
                    tls_client_cert_file=crt, tls_client_key_file=key,
                    tls_ca_file=ca)
    gw.write_config()


def submit(gw, sender, pw, rcpt):
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: tls %s\r\n"
           "Message-ID: <%s@client.test>\r\n\r\nCorps.\r\n" % (
               sender, rcpt, rcpt, uuid.uuid4().hex)).encode()
    c = gw.smtp(login=sender, password=pw)
    try:
        c.mail(sender)
        code, text = c.rcpt(rcpt)
        if code != 250:
            raise RuntimeError("RCPT TO:<%s>: %d %r" % (rcpt, code, text))
        code, text = c.data(msg)
    finally:
        c.quit()
    m = re.search(rb"queued as ([0-9a-f]{16})", text)
    if code != 250 or not m:
        raise RuntimeError("DATA: %d %r" % (code, text))
    return m.group(1).decode()


def shown(gw, qid):
    """(queue show --json record, queue show text) once attempted."""
    p = cli(gw, "--json", "queue", "show", qid)
    if p.returncode != 0:
        return None
    rec = json.loads(p.stdout)
    if not rec["recipients"] or rec["recipients"][0]["attempts"] < 1:
        return None
    return rec, cli(gw, "queue", "show", qid)


class StartTLSPeer(threading.Thread):
    """A minimal SMTP server up to STARTTLS, then a TLS server with the
    given certificate: what a peer with an expired certificate looks
    like (mssgated will not load one). Records how each handshake
    ended."""

    def __init__(self, crt, key):
        super().__init__(daemon=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(crt, key)
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.results = []
        self.stopping = False

    @staticmethod
    def line(conn):
        buf = b""
        while not buf.endswith(b"\n"):
            ch = conn.recv(1)
            if not ch:
                raise EOFError("closed")
            buf += ch
        return buf

    def serve(self, conn):
        conn.settimeout(10)
        conn.sendall(b"220 peer.e.test ESMTP\r\n")
        self.line(conn)                             # EHLO
        conn.sendall(b"250-peer.e.test\r\n250-PIPELINING\r\n"
                     b"250 STARTTLS\r\n")
        if not self.line(conn).upper().startswith(b"STARTTLS"):
            return
        conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
            self.results.append("established")
            tls.sendall(b"421 4.3.0 test peer closing\r\n")
            tls.close()
        except ssl.SSLError as e:
            self.results.append(e.reason or str(e))

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.serve(conn)
            except (OSError, EOFError):
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopping = True
        self.join(5)
        self.srv.close()


# --- setup ---------------------------------------------------------------


def test_setup():
    ca_t = make_ca("trusted", "Trusted Test Operators CA")
    ca_u = make_ca("untrusted", "Untrusted Test CA")
    ip = ["IP:127.0.0.1", "DNS:localhost"]
    S["certs"] = c = {
        "u_srv": make_leaf("u-srv", "untrusted", ip + ["DNS:u.test"]),
        "w_srv": make_leaf("w-srv", "trusted", ["DNS:other.example"]),
        "g_srv": make_leaf("g-srv", "trusted", ip + ["DNS:g.test"]),
        "e_srv": make_leaf("e-srv", "trusted", ip + ["DNS:e.test"],
                           expired=True),
        "cl_untrusted": make_leaf("cl-untrusted", "untrusted",
                                  ["DNS:u.test"]),
        "cl_stranger": make_leaf("cl-stranger", "trusted",
                                 ["DNS:stranger.example"]),
        "cl_good": make_leaf("cl-good", "trusted", ["DNS:t.test"]),
        "cl_expired": make_leaf("cl-expired", "trusted", ["DNS:t.test"],
                                expired=True),
    }
    dates = cert_dates(c["e_srv"][0])
    t.ok("notBefore=Jan  1 00:00:00 2020 GMT" in dates and
         "notAfter=Jan  1 00:00:00 2021 GMT" in dates,
         "setup: openssl ca made a certificate valid in 2020 only", dates)

    a = Gateway(name="a", domains=["a.test"], extra={
        "hostname": "mx.a.test", "queue_retry_schedule": "2s"})
    a.start(repick=True)    # makes its development CA
    a.stop()
    bundle = write("a-bundle.crt", open(a.ca).read() + open(ca_t).read())
    a.extra["tls_ca_file"] = bundle
    a.write_config()
    a.start(repick=True)
    S.update(a=a, pa=a.add_user("alice@a.test"), bundle=bundle)

    # Peers with their own certificates; each trusts A's CA.
    peers = {}
    for name, doms, cert, ca in (
            ("u", ["u.test"], c["u_srv"], "untrusted"),
            ("w", ["w.test", "w2.test"], c["w_srv"], "trusted"),
            ("g", ["g.test"], c["g_srv"], "trusted")):
        g = Gateway(name=name, domains=doms,
                    extra={"hostname": "mx.%s" % doms[0]})
        cab = write(name + "-bundle.crt", open(a.ca).read() +
                    open(path(ca + ".crt")).read())
        custom_cert(g, cert[0], cert[1], cab)
        g.start(repick=True)
        p = cli(g, "trust", "add", "a.test", "--route",
                "127.0.0.1:%d" % a.port_relay)
        t.ok(p.returncode == 0, "setup: peer %s trusts a.test" % name,
             out(p))
        g.add_user("someone@" + doms[0])
        peers[name] = g
    S["peers"] = peers
    fake = StartTLSPeer(*c["e_srv"])
    fake.start()
    S["fake"] = fake
    # Without the CA in its own trust store, a server sends its leaf
    # alone: the client then lacks the issuer, rather than finding an
    # untrusted root in the chain as with peer u.
    leaf_only = StartTLSPeer(*c["u_srv"])
    leaf_only.start()
    S["leaf_only"] = leaf_only

    routes = (("u.test", "127.0.0.1:%d" % peers["u"].port_relay),
              ("w.test", "127.0.0.1:%d" % peers["w"].port_relay),
              ("w2.test", "localhost:%d" % peers["w"].port_relay),
              ("g.test", "127.0.0.1:%d" % peers["g"].port_relay),
              ("e.test", "127.0.0.1:%d" % fake.port),
              ("u2.test", "127.0.0.1:%d" % leaf_only.port),
              ("t.test", None))
    for dom, route in routes:
        args = ["trust", "add", dom] + (["--route", route] if route else [])
        p = cli(a, *args)
        t.ok(p.returncode == 0, "setup: A trusts %s%s" % (
            dom, " via " + route if route else ""), out(p))


def ready():
    return "a" in S and "leaf_only" in S


# --- outbound ------------------------------------------------------------


def test_outbound():
    if not ready():
        return
    a, peers, fake = S["a"], S["peers"], S["fake"]
    pw = S["pa"]
    leaf_only = S["leaf_only"]
    cases = [
        ("untrusted CA, root in the chain", "someone@u.test",
         "127.0.0.1[127.0.0.1]:%d" % peers["u"].port_relay,
         "self-signed certificate in certificate chain"),
        ("untrusted CA, leaf alone", "someone@u2.test",
         "127.0.0.1[127.0.0.1]:%d" % leaf_only.port,
         "unable to get local issuer certificate"),
        ("expired", "someone@e.test", "127.0.0.1[127.0.0.1]:%d" %
         fake.port, "certificate has expired"),
        ("wrong host, by address", "someone@w.test",
         "127.0.0.1[127.0.0.1]:%d" % peers["w"].port_relay,
         "IP address mismatch"),
        ("wrong host, by name", "someone@w2.test",
         "localhost[127.0.0.1]:%d" % peers["w"].port_relay,
         "hostname mismatch"),
    ]
    qids = {}
    for name, rcpt, _, _ in cases:
        qids[name] = submit(a, "alice@a.test", pw, rcpt)
    good = submit(a, "alice@a.test", pw, "someone@g.test")

    for name, rcpt, addr, reason in cases:
        qid = qids[name]
        got = wait_for(lambda: shown(a, qid))
        if not t.ok(got, "%s: attempted within %ds" % (name, WAIT),
                    a.log_text()[-3000:]):
            continue
        rec, text = got
        rc = rec["recipients"][0]
        want = "TLS with %s: certificate verify failed: %s" % (addr, reason)
        t.ok(rc["state"] == "pending" and rc["status"] == "4.7.5",
             "%s: not delivered, deferred (pending, 4.7.5)" % name, rec)
        t.eq(rc["diag"], want, "%s: queue show --json gives the exact "
             "reason" % name)
        m = re.search(r"(?m)^  diagnostic:\s+(.*)$",
                      text.stdout.decode("utf-8", "replace"))
        t.eq(m.group(1) if m else out(text), want,
             "%s: queue show gives the exact reason" % name)

    # Nothing reached the peers' mailboxes.
    for name in ("u", "w"):
        g = peers[name]
        t.eq(g.messages("someone@" + g.domain), [], "peer %s: nothing "
             "delivered" % name)
    # RFC 8446 4.4.2.4: a client that rejects the server's certificate
    # aborts with an alert saying why.
    wait_for(lambda: fake.results and leaf_only.results, 10)
    t.ok(fake.results and all(r == "SSLV3_ALERT_CERTIFICATE_EXPIRED"
                              for r in fake.results),
         "expired: our client ended the handshake with the "
         "certificate_expired alert", fake.results)
    t.ok(leaf_only.results and all(r == "TLSV1_ALERT_UNKNOWN_CA"
                                   for r in leaf_only.results),
         "untrusted CA, leaf alone: our client ended the handshake with "
         "the unknown_ca alert", leaf_only.results)
    for name, alert in (("u", r"tlsv1 alert unknown ca"),
                        ("w", r"sslv3 alert bad certificate")):
        wait_for(lambda: re.search(alert, peers[name].log_text()), 10)
    t.like(peers["u"].log_text(), r"smtp error reason=\"?tlsv1 alert "
           r"unknown ca", "untrusted CA, root in the chain: the peer "
           "logged our unknown_ca alert")
    t.like(peers["w"].log_text(), r"smtp error reason=\"?sslv3 alert bad "
           r"certificate", "wrong host: the peer logged our "
           "bad_certificate alert")

    # The control: a good certificate from the same trusted CA.
    g = peers["g"]
    t.ok(wait_for(lambda: g.messages("someone@g.test")),
         "control: a peer with a good certificate from the trusted CA "
         "gets the message", a.log_text()[-3000:])
    # The peer has the message before A has written (and logged) the
    # outcome: wait for the line, slow under valgrind.
    sent_re = re.compile(r"%s relay sent to=someone@g\.test relay="
                         r"127\.0\.0\.1 attempts=1 dsn=2\.0\.0" % good)
    wait_for(lambda: sent_re.search(a.log_text()))
    t.like(a.log_text(), sent_re.pattern,
           "control: sent at the first attempt")


# --- inbound -------------------------------------------------------------


def relay_session(gw, cert=None):
    """STARTTLS on gw's relay port, presenting cert (a (crt, key) pair)
    or none, then EHLO. Returns ("alert", reason) when TLS is refused,
    ("closed", text) when the connection just ends, or ("smtp", RawSMTP,
    EHLO reply code)."""
    r = RawSMTP("127.0.0.1", gw.port_relay)
    r.reply()
    r.cmd("EHLO peer.test")
    ctx = ssl.create_default_context(cafile=gw.ca)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    try:
        r.starttls(ctx)
        # TLS 1.3: the server judges the certificate after the client
        # is done; its verdict comes with the first read.
        code, _ = r.cmd("EHLO peer.test")
        return ("smtp", r, code)
    except ssl.SSLError as e:
        r.close()
        return ("alert", e.reason or str(e))
    except (EOFError, ConnectionError) as e:
        r.close()
        return ("closed", str(e))


def test_inbound():
    if not ready():
        return
    a, c = S["a"], S["certs"]
    for name, cert, alert, logged in (
            ("no client certificate", None,
             "TLSV13_ALERT_CERTIFICATE_REQUIRED",
             "peer did not return a certificate"),
            ("a certificate from the untrusted CA", c["cl_untrusted"],
             "TLSV1_ALERT_UNKNOWN_CA", "certificate verify failed"),
            ("an expired certificate from the trusted CA",
             c["cl_expired"], "SSLV3_ALERT_CERTIFICATE_EXPIRED",
             "certificate verify failed")):
        before = a.log_text().count(logged)
        res = relay_session(a, cert)
        if res[0] == "smtp":
            res[1].close()
        t.eq(res[:2], ("alert", alert), "relay port, %s: refused in the "
             "handshake with alert %s" % (name, alert))
        t.ok(wait_for(lambda: a.log_text().count(logged) > before, 10),
             "relay port, %s: the log says '%s'" % (name, logged),
             a.log_text()[-1500:])

    res = relay_session(a, c["cl_stranger"])
    if t.ok(res[0] == "smtp" and res[2] == 250, "relay port, a trusted "
            "certificate for stranger.example: TLS and EHLO succeed", res):
        r = res[1]
        code, lines = r.cmd("MAIL FROM:<x@stranger.example>")
        t.eq("%d %s" % (code, lines[0]), "554 5.7.1 Relay access denied: "
             "the client certificate (stranger.example) names no domain "
             "of the MSSante trust space", "relay port, a trusted "
             "certificate naming no trust-space domain: MAIL refused, 554 "
             "5.7.1")
        code, lines = r.cmd("RCPT TO:<alice@a.test>")
        t.ok(code >= 500, "... and RCPT to a local address too",
             "%d %s" % (code, lines))
        r.cmd("QUIT")
        r.close()
    t.like(a.log_text(), r"smtp relay-peer names=stranger\.example "
           r"domain=none", "relay port: the log names the certificate and "
           "no domain")

    res = relay_session(a, c["cl_good"])
    if t.ok(res[0] == "smtp" and res[2] == 250, "control: a trusted "
            "certificate for t.test (in the trust space): TLS and EHLO "
            "succeed", res):
        r = res[1]
        code, _ = r.cmd("MAIL FROM:<dr.x@t.test>")
        code2, _ = r.cmd("RCPT TO:<alice@a.test>")
        code3, _ = r.cmd("DATA")
        r.send("From: <dr.x@t.test>\r\nSubject: from t.test\r\n\r\n"
               "Corps.\r\n.\r\n")
        code4, lines = r.reply()
        t.ok((code, code2, code3, code4) == (250, 250, 354, 250),
             "control: t.test delivers to alice@a.test",
             (code, code2, code3, code4, lines))
        r.cmd("QUIT")
        r.close()
        msgs = S["a"].messages("alice@a.test")
        raw = a.message("alice@a.test", msgs[-1]["uid"]) if msgs else b""
        t.like(raw.decode("utf-8", "replace"), r"\(client certificate "
               r"t\.test verified, operator of t\.test\)",
               "control: its Received names the certificate")


def test_stop():
    for k in ("fake", "leaf_only"):
        if k in S:
            S[k].stop()
    for g in [S.get("a")] + list(S.get("peers", {}).values()):
        if g is not None:
            g.stop()


run_tests(t, test_setup, test_outbound, test_inbound, test_stop)
