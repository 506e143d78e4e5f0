# SPDX-License-Identifier: MIT
"""Revocation between operators, with two running mssgated: A (a.test)
and B (b.test), each with its own development CA (`mssgate cert ca
init`) and each trusting the other's through a CA bundle in
tls_ca_file, each with the other's domain in its trust space, A's
routed to B's relay port by name (localhost, which B's certificate
names). Each presents an operator certificate its CA issued with
`mssgate cert issue operator ... --cert-out` over tls_cert_file (the
same file is its client certificate), so that `mssgate cert revoke`
can revoke it. Checked:

- the control: alice@a.test's message reaches bob@b.test over mutual
  TLS, its Received naming A's verified certificate;
- inbound (B judges A's client certificate): A revokes its own
  operator certificate (`cert revoke`, which writes its CRL), B imports
  that CRL (`cert crl import`; B's `cert verify` then says revoked) and
  reloads (`cert reload`): a client presenting A's certificate gets the
  alert certificate_revoked from B's relay port; A's next message stays
  queued on A, deferred (pending, 4.x.x) at every attempt, nothing
  reaches bob; B logs each refused handshake with the verification
  error (verify="certificate revoked"). A's diagnostic names B's alert:
  "TLS with HOST: refused by the peer: sslv3 alert certificate revoked"
  (with TLS 1.3, B's alert comes after A's side of the handshake, on the
  first read). Then a new operator certificate for A (rotation, `cert
  reload` on A): the waiting message is delivered at its next attempt;
- outbound (A judges B's server certificate): B's CA revokes B's
  certificate, A imports B's CRL and reloads (SIGHUP): A's next message
  is deferred with "TLS with localhost[127.0.0.1]:PORT: certificate
  verify failed: certificate revoked" (queue show, text and --json),
  and nothing reaches bob.
"""

import json
import os
import re
import signal
import smtplib
import ssl
import subprocess
import time
import uuid

from mssgate_test import MSSGATE, Gateway, RawSMTP, Tap, run_tests

t = Tap()

WAIT = 40
SCHEDULE = "2s"
P = {}              # the pair, set up by test_setup


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


def token():
    return uuid.uuid4().hex[:16]


def smtp(gw, login, pw):
    """Submission over STARTTLS. The operator certificates name
    localhost but no address (`cert issue` takes DNS names only): the
    chain is checked, the name is not."""
    ctx = ssl.create_default_context(cafile=gw.extra["tls_ca_file"])
    ctx.check_hostname = False
    c = smtplib.SMTP("127.0.0.1", gw.port_sub, timeout=30)
    c.ehlo("client.test")
    c.starttls(context=ctx)
    c.ehlo("client.test")
    c.login(login, pw)
    return c


def submit(gw, sender, pw, rcpt, tok):
    """AUTH, MAIL, RCPT, DATA; the queue id of the 250 reply."""
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: crl %s\r\n"
           "Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
           "Message-ID: <%s@client.test>\r\n\r\nCorps %s.\r\n" % (
               sender, rcpt, tok, tok, tok)).encode()
    c = smtp(gw, sender, pw)
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


def delivered(gw, user, tok):
    """The stored message of user's INBOX holding tok, or None."""
    for m in gw.messages(user):
        raw = gw.message(user, m["uid"])
        if tok.encode() in raw:
            return raw
    return None


def queue_rec(gw, qid):
    p = cli(gw, "--json", "queue", "show", qid)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def attempted(gw, qid, n=1):
    """The queue record once its recipient was tried n times or more."""
    rec = queue_rec(gw, qid)
    if rec is None or not rec.get("recipients") or \
            rec["recipients"][0]["attempts"] < n:
        return None
    return rec


def queue_empty(gw):
    p = cli(gw, "--json", "queue", "list")
    return p.returncode == 0 and p.stdout == b""


def issue_operator(gw, name):
    """An operator certificate from gw's CA over tls_cert_file and
    tls_key_file (the same files serve as its client certificate)."""
    dom = gw.domain
    return cli(gw, "cert", "issue", "operator", name, "--dns", "mx." + dom,
               "--dns", dom, "--dns", "localhost",
               "--cert-out", os.path.join(gw.certs, "server.crt"),
               "--key-out", os.path.join(gw.certs, "server.key"))


def serial_of(crt):
    p = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-serial"],
                       capture_output=True, timeout=60)
    return p.stdout.decode().strip().split("=")[-1].upper().lstrip("0")


def handshake(gw, crt, key):
    """STARTTLS on gw's relay port presenting (crt, key), then EHLO:
    ("smtp", code) or ("alert", reason) or ("closed", text)."""
    r = RawSMTP("127.0.0.1", gw.port_relay)
    try:
        r.reply()
        r.cmd("EHLO mx.a.test")
        ctx = ssl.create_default_context(cafile=gw.extra["tls_ca_file"])
        ctx.check_hostname = False
        ctx.load_cert_chain(crt, key)
        r.starttls(ctx)
        # TLS 1.3: the server judges the client's certificate after the
        # client is done; its verdict comes with the first read.
        code, _ = r.cmd("EHLO mx.a.test")
        return ("smtp", code)
    except ssl.SSLError as e:
        return ("alert", e.reason or str(e))
    except (EOFError, ConnectionError) as e:
        return ("closed", str(e))
    finally:
        r.close()


# --- setup ---------------------------------------------------------------


def test_setup():
    a = Gateway(name="a", domains=["a.test"],
                extra={"hostname": "mx.a.test"})
    b = Gateway(name="b", domains=["b.test"],
                extra={"hostname": "mx.b.test"})
    for g in (a, b):
        p = cli(g, "cert", "ca", "init")
        t.ok(p.returncode == 0, "setup: %s: cert ca init" % g.domain, out(p))
        p = issue_operator(g, g.name + "-op")
        t.ok(p.returncode == 0, "setup: %s: cert issue operator %s-op over "
             "tls_cert_file" % (g.domain, g.name), out(p))
    bundle = os.path.join(a.tmp, "bundle.crt")
    with open(bundle, "w") as f:
        f.write(open(a.ca).read() + open(b.ca).read())
    for g in (a, b):
        g.extra.update(tls_ca_file=bundle, queue_retry_schedule=SCHEDULE,
                       pid_file=os.path.join(g.tmp, "mssgated.pid"))
        g.write_config()
        g.start(repick=True)
    P.update(a=a, b=b, bundle=bundle, pa=a.add_user("alice@a.test"),
             pb=b.add_user("bob@b.test"))
    for g, dom, route in ((a, "b.test", "localhost:%d" % b.port_relay),
                          (b, "a.test", "127.0.0.1:%d" % a.port_relay)):
        p = cli(g, "trust", "add", dom, "--route", route)
        t.ok(p.returncode == 0, "setup: %s trusts %s, routed to %s" % (
            g.domain, dom, route), out(p))
    # what each presents is what its CA issued under that name
    for g in (a, b):
        p = cli(g, "--json", "cert", "show", g.name + "-op")
        rec = json.loads(p.stdout) if p.returncode == 0 else {}
        t.eq((rec.get("status"), (rec.get("serial") or "").upper().lstrip(
            "0")), ("valid", serial_of(os.path.join(g.certs, "server.crt"))),
             "setup: %s presents %s-op, valid" % (g.domain, g.name))


def paired():
    return "pa" in P


# --- the control ---------------------------------------------------------


def test_control():
    if not paired():
        return
    a, b = P["a"], P["b"]
    tok = token()
    qid = submit(a, "alice@a.test", P["pa"], "bob@b.test", tok)
    raw = wait_for(lambda: delivered(b, "bob@b.test", tok))
    if not t.ok(raw, "control: alice's message reaches bob over mutual TLS",
                out(cli(a, "queue", "show", qid)) + a.log_text()[-2000:]):
        return
    t.like(raw.decode("utf-8", "replace"), r"\(client certificate [^ ]*\b"
           r"a\.test\b[^ ]* verified, operator of a\.test\)",
           "control: B's Received names A's verified certificate")
    t.ok(wait_for(lambda: queue_empty(a)), "control: A's queue is empty")
    P["control"] = True


# --- inbound: B refuses A's revoked certificate --------------------------


def test_inbound_revoked():
    if not P.get("control"):
        return
    a, b = P["a"], P["b"]
    p = cli(a, "cert", "revoke", "a-op", "--reason", "keyCompromise")
    t.ok(p.returncode == 0 and re.match(
        rb"revoked [0-9A-F]{16} \(a-op\) on .*reason keyCompromise\n",
        p.stdout), "inbound: A's CA revokes a-op (cert revoke)", out(p))
    crl = os.path.join(a.certs, "crl", "devca.crl.pem")
    t.ok(os.path.isfile(crl), "inbound: A's CRL is written", crl)
    p = cli(b, "cert", "crl", "import", crl)
    t.like(p.stdout.decode("utf-8", "replace"), r"^imported the CRL of "
           r"'[^']*mssgate development CA[^']*' \(1 revoked, ",
           "inbound: B imports A's CRL (cert crl import)")
    # B's own registry knows nothing of a-op: the imported CRL is what
    # says it is revoked.
    p = cli(b, "cert", "verify", os.path.join(a.certs, "server.crt"),
            "--purpose", "tls-client")
    t.ok(p.returncode == 65 and b"certificate revoked on" in p.stderr,
         "inbound: B's cert verify of A's certificate: revoked", out(p))
    # No session opened before the reload may carry the next message.
    time.sleep(3)
    mark = len(b.log_text())
    p = cli(b, "cert", "reload")
    t.ok(p.returncode == 0 and p.stdout.startswith(b"sent SIGHUP"),
         "inbound: B reloads (cert reload)", out(p))
    t.ok(wait_for(lambda: "daemon reloaded" in b.log_text()[mark:]),
         "inbound: B's log says it reloaded", b.log_text()[mark:])

    # What B says to a client presenting A's certificate.
    res = handshake(b, os.path.join(a.certs, "server.crt"),
                    os.path.join(a.certs, "server.key"))
    t.eq(res, ("alert", "SSLV3_ALERT_CERTIFICATE_REVOKED"),
         "inbound: B refuses A's certificate in the handshake with the "
         "alert certificate_revoked")

    tok = token()
    mark = len(b.log_text())
    qid = submit(a, "alice@a.test", P["pa"], "bob@b.test", tok)
    rec = wait_for(lambda: attempted(a, qid, 2))
    if not t.ok(rec, "inbound: A tries twice", a.log_text()[-3000:]):
        return
    rc = rec["recipients"][0]
    t.ok(rc["state"] == "pending" and re.match(r"^4\.\d+\.\d+$",
                                               rc["status"] or ""),
         "inbound: not delivered, deferred (pending, 4.x.x)", rec)
    # With TLS 1.3 the client's handshake is over before B judges its
    # certificate: B's alert arrives with the reply to EHLO, and is the
    # reason given.
    peer = r"localhost\[127\.0\.0\.1\]:%d" % b.port_relay
    want = (r"^TLS with %s: refused by the peer: .*certificate revoked$"
            % peer)
    t.like(rc["diag"], want, "inbound: queue show --json: B refused A's "
           "certificate as revoked")
    text = cli(a, "queue", "show", qid).stdout.decode("utf-8", "replace")
    m = re.search(r"(?m)^  diagnostic:\s+(.*)$", text)
    t.eq(m.group(1) if m else text, rc["diag"], "inbound: queue show: the "
         "same diagnostic")
    t.like(a.log_text(), r"relay deferred to=bob@b\.test relay=localhost "
           r"attempts=2 dsn=4\.\d+\.\d+ diag=\"%s\"" % re.escape(rc["diag"]),
           "inbound: A's log says deferred, with the diagnostic")
    t.eq(delivered(b, "bob@b.test", tok), None, "inbound: nothing reached "
         "bob")
    # B logs OpenSSL's reason and the verification error behind it.
    blog = b.log_text()[mark:]
    t.ok(len(re.findall(r"smtp error reason=\"certificate verify failed\" "
                        r"verify=\"certificate revoked\"", blog)) >= 2,
         "inbound: B's log has each refused handshake, revoked",
         blog[-2000:])
    t.diag("inbound: A's diagnostic: %s" % rc["diag"])
    t.diag("inbound: B's log: %s" % " | ".join(
        ln.split(" ", 2)[-1] for ln in blog.splitlines()
        if "smtp error" in ln))
    P["inbound_qid"], P["inbound_tok"] = qid, tok


def test_rotation_recovers():
    """A new operator certificate for A: the waiting message goes."""
    if "inbound_qid" not in P:
        return
    a, b = P["a"], P["b"]
    p = issue_operator(a, "a-op2")
    t.ok(p.returncode == 0, "rotation: A gets a new operator certificate "
         "over tls_cert_file (a-op superseded)", out(p))
    p = cli(a, "cert", "reload")
    t.ok(p.returncode == 0, "rotation: A reloads (cert reload)", out(p))
    raw = wait_for(lambda: delivered(b, "bob@b.test", P["inbound_tok"]))
    t.ok(raw, "rotation: the deferred message reaches bob at its next "
         "attempt", out(cli(a, "queue", "show", P["inbound_qid"])) +
         a.log_text()[-2000:])
    t.ok(wait_for(lambda: queue_empty(a)), "rotation: A's queue is empty",
         out(cli(a, "queue", "list")))
    P["rotated"] = bool(raw)


# --- outbound: A refuses B's revoked server certificate -----------------


def test_outbound_revoked():
    if not P.get("rotated"):
        return
    a, b = P["a"], P["b"]
    p = cli(b, "cert", "revoke", "b-op")
    t.ok(p.returncode == 0, "outbound: B's CA revokes b-op", out(p))
    crl = os.path.join(b.certs, "crl", "devca.crl.pem")
    p = cli(a, "--json", "cert", "crl", "import", crl)
    rec = json.loads(p.stdout) if p.returncode == 0 else {}
    t.ok(rec.get("revoked") == 1 and re.search(r"/crl/[0-9a-f]{8}\.crl\.pem$",
                                               rec.get("stored", "")),
         "outbound: A imports B's CRL (one revoked) beside its own", out(p))
    time.sleep(3)
    mark = len(a.log_text())
    a.proc.send_signal(signal.SIGHUP)
    t.ok(wait_for(lambda: "daemon reloaded" in a.log_text()[mark:]),
         "outbound: A reloads on SIGHUP", a.log_text()[mark:])

    tok = token()
    qid = submit(a, "alice@a.test", P["pa"], "bob@b.test", tok)
    rec = wait_for(lambda: attempted(a, qid, 2))
    if not t.ok(rec, "outbound: A tries twice", a.log_text()[-3000:]):
        return
    rc = rec["recipients"][0]
    want = ("TLS with localhost[127.0.0.1]:%d: certificate verify failed: "
            "certificate revoked" % b.port_relay)
    t.ok(rc["state"] == "pending" and rc["status"] == "4.7.5",
         "outbound: not delivered, deferred (pending, 4.7.5)", rec)
    t.eq(rc["diag"], want, "outbound: queue show --json gives the reason")
    text = cli(a, "queue", "show", qid).stdout.decode("utf-8", "replace")
    m = re.search(r"(?m)^  diagnostic:\s+(.*)$", text)
    t.eq(m.group(1) if m else text, want, "outbound: queue show gives it")
    t.eq(delivered(b, "bob@b.test", tok), None, "outbound: nothing reached "
         "bob")
    t.like(b.log_text(), r"smtp error reason=\"?sslv3 alert certificate "
           r"revoked", "outbound: B's log has A's alert certificate_revoked")


def test_stop():
    for g in P.get("a"), P.get("b"):
        if g is not None:
            g.stop()


run_tests(t, test_setup, test_control, test_inbound_revoked,
          test_rotation_recovers, test_outbound_revoked, test_stop)
