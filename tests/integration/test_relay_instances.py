# SPDX-License-Identifier: MIT
"""Mail between two operators: two running mssgated, A for a.test and B
for b.test, each with its own development CA and each trusting the
other's through a CA bundle in tls_ca_file, each with the other's domain
in its trust space routed to the other's relay port. Checked here:

- both directions over mutual TLS (STARTTLS, certificates both ways):
  the message is read back over IMAP from the recipient's INBOX, byte
  for byte under the trace fields; the receiving gateway's Received field
  says TLS and names the verified client certificate, and its log has
  the peer's domain;
- the peer is down: the message stays queued, deferred with "Connection
  refused"; `queue show` (text and --json) shows the attempts and a next
  attempt whose distance grows with queue_retry_schedule; the peer comes
  back, the message is delivered and the queue is empty;
- the peer refuses one of two recipients with 550: the other gets the
  message, and the sender gets exactly one failure report (RFC 3464),
  for the refused recipient only, with the peer's reply;
- NOTIFY=SUCCESS: B offers DSN, so A passes NOTIFY, ORCPT and ENVID on
  and writes no "relayed" report itself; B delivers and sends the
  "delivered" report back over the relay. Exactly one success report
  reaches the sender, from B, with ENVID and ORCPT carried through;
- NOTIFY=NEVER on a refused recipient: no report at all;
- no open relay: without AUTH on the submission port nothing is
  accepted; on the relay port, a client without a certificate gets no
  TLS session and nothing without TLS; a trusted operator may send only
  to this gateway's domains (554 5.7.1 Relay access denied otherwise);
  an authenticated user may send only into the trust space (550 5.7.1).
"""

import email
import json
import re
import ssl
import subprocess
import time
import uuid

from mssgate_test import (MSSGATE, Gateway, RawSMTP, Tap,
                          run_tests, strip_trace)

t = Tap()

WAIT = 40           # seconds for something the daemons do at once
SCHEDULE = "1s, 3s, 6s"
STEPS = [1, 3, 6]   # the same, in seconds
EX_NOUSER = 67

P = {}              # the pair, set up by test_setup


def cli(gw, *args):
    return subprocess.run([MSSGATE, "-c", gw.conf] + list(args), input=b"",
                          capture_output=True, timeout=60)


def out(p):
    return "exit %s\n--- stdout\n%s--- stderr\n%s" % (
        p.returncode, p.stdout.decode("utf-8", "replace")[-3000:],
        p.stderr.decode("utf-8", "replace")[-2000:])


def wait_for(fn, timeout=WAIT, step=0.2):
    """fn() until it returns something true, or its last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def queue_empty(gw):
    p = cli(gw, "--json", "queue", "list")
    return p.returncode == 0 and p.stdout == b""


def queue_json(gw, qid):
    p = cli(gw, "--json", "queue", "show", qid)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def token():
    return uuid.uuid4().hex[:16]


def make_msg(sender, rcpts, tok, subject):
    return ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
            "Message-ID: <%s@client.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Compte rendu %s.\r\n.point en debut de ligne\r\n"
            "Fin.\r\n" % (sender, ", ".join("<%s>" % r for r in rcpts),
                          subject, tok, tok)).encode()


def submit(gw, sender, pw, rcpts, msg, mail_opts=(), rcpt_opts=()):
    """STARTTLS + AUTH, MAIL, RCPT..., DATA; the queue id of the reply
    (or None when nothing is queued for another operator)."""
    c = gw.smtp(login=sender, password=pw)
    try:
        code, text = c.mail(sender, list(mail_opts))
        if code != 250:
            raise RuntimeError("MAIL FROM: %d %r" % (code, text))
        for r in rcpts:
            code, text = c.rcpt(r, list(rcpt_opts))
            if code != 250:
                raise RuntimeError("RCPT TO:<%s>: %d %r" % (r, code, text))
        code, text = c.data(msg)
    finally:
        c.quit()
    text = text.decode("utf-8", "replace")
    if code != 250:
        raise RuntimeError("DATA: %d %s" % (code, text))
    m = re.search(r"queued as ([0-9a-f]{16})", text)
    return m.group(1) if m else None


def imap_inbox(gw, user, pw):
    """{uid: raw bytes} of the user's INBOX, read over IMAP."""
    c = gw.imap(login=user, password=pw)
    try:
        typ, _ = c.select("INBOX", readonly=True)
        if typ != "OK":
            raise RuntimeError("SELECT INBOX: %s" % typ)
        typ, data = c.uid("SEARCH", None, "ALL")
        uids = data[0].split() if typ == "OK" and data[0] else []
        msgs = {}
        for u in uids:
            typ, data = c.uid("FETCH", u, "(BODY.PEEK[])")
            if typ != "OK":
                raise RuntimeError("FETCH %s: %s" % (u, typ))
            for item in data:
                if isinstance(item, tuple):
                    msgs[int(u)] = item[1]
        return msgs
    finally:
        c.logout()


def wait_inbox(gw, user, pw, pred, timeout=WAIT):
    """Polls the mailbox (the CLI, no password hashing) until pred holds
    for the IMAP view of it; returns that view (or the last one)."""
    last = [None]

    def check():
        n = len(gw.messages(user))
        if last[0] is not None and n == last[0][0]:
            return None
        view = imap_inbox(gw, user, pw)
        last[0] = (n, view)
        return view if pred(view) else None
    v = wait_for(check, timeout, 0.3)
    return v if v is not None else (last[0][1] if last[0] else {})


def with_token(view, tok):
    return {u: m for u, m in view.items() if tok.encode() in m}


def reports(view, tok):
    """The delivery reports in view that are about the message tok."""
    return {u: m for u, m in with_token(view, tok).items()
            if b"report-type=delivery-status" in m.split(b"\r\n\r\n")[0]}


def dsn_parts(raw):
    """(message, human text, per-message fields, [per-recipient fields])
    of a report, parsed by Python's email package."""
    msg = email.message_from_bytes(raw)
    human, fields, rcpts = "", None, []
    if msg.is_multipart():
        for part in msg.get_payload():
            ct = part.get_content_type()
            if ct == "text/plain" and not human:
                human = part.get_payload(decode=True).decode(
                    "utf-8", "replace")
            elif ct == "message/delivery-status":
                blocks = part.get_payload()
                fields = blocks[0] if blocks else None
                rcpts = blocks[1:]
    return msg, human, fields, rcpts


def unfold(v):
    return re.sub(r"\s+", " ", v or "").strip()


def addr_field(v):
    """An address field without the optional space after the type."""
    return re.sub(r";\s*", ";", unfold(v), count=1)


# --- setup ---------------------------------------------------------------


def test_setup():
    a = Gateway(name="a", domains=["a.test"],
                extra={"hostname": "mx.a.test"})
    b = Gateway(name="b", domains=["b.test"],
                extra={"hostname": "mx.b.test"})
    # First start: each makes its development CA and certificate.
    a.start(repick=True)
    b.start(repick=True)
    a.stop()
    b.stop()
    bundle = a.tmp + "/bundle.crt"
    with open(bundle, "w") as f:
        f.write(open(a.ca).read() + open(b.ca).read())
    for g in (a, b):
        g.extra["tls_ca_file"] = bundle
        g.extra["queue_retry_schedule"] = SCHEDULE
        g.write_config()
    a.start(repick=True)
    b.start(repick=True)
    P.update(a=a, b=b, pa=a.add_user("alice@a.test"),
             pb=b.add_user("bob@b.test"))
    for g, dom, peer in ((a, "b.test", b), (b, "a.test", a)):
        p = cli(g, "trust", "add", dom, "--route",
                "127.0.0.1:%d" % peer.port_relay)
        t.ok(p.returncode == 0, "setup: %s trusts %s, routed to its relay "
             "port" % (g.domain, dom), out(p))


def paired():
    return "a" in P


# --- tests ---------------------------------------------------------------


def one_way(src, dst, sender, spw, rcpt, rpw):
    tok = token()
    msg = make_msg(sender, [rcpt], tok, "relay %s to %s" % (src.domain,
                                                            dst.domain))
    qid = submit(src, sender, spw, [rcpt], msg)
    t.like(qid, r"^[0-9a-f]{16}$", "%s -> %s: queued for the other "
           "operator (250 ... queued as ID)" % (sender, rcpt))
    view = wait_inbox(dst, rcpt, rpw, lambda v: with_token(v, tok))
    got = list(with_token(view, tok).values())
    if not t.ok(len(got) == 1, "%s -> %s: in the recipient's INBOX (IMAP) "
                "within %ds" % (sender, rcpt, WAIT),
                "%s\n%s\n%s" % (view, src.log_text()[-3000:],
                                dst.log_text()[-3000:])):
        return
    raw = got[0]
    t.eq(strip_trace(raw), msg, "%s -> %s: the message arrives byte for "
         "byte under the Received fields" % (sender, rcpt))
    head = raw.split(b"\r\n\r\n")[0].decode("utf-8", "replace")
    received = re.findall(r"^Received:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*",
                          head, re.M)
    t.eq(len(received), 2, "%s -> %s: two Received fields (the peer's "
         "relay port, then our submission port)" % (sender, rcpt))
    if not received:
        return
    top = unfold(received[0])
    t.like(top, r"^Received: from %s \(\[127\.0\.0\.1\]\) \(using TLSv1\.[23]"
           r" with cipher \S+ \(\d+/\d+ bits\)\)" % re.escape(
               src.extra["hostname"]),
           "%s -> %s: the peer's Received says the relay used TLS" %
           (sender, rcpt))
    t.like(top, r"\(client certificate [^ ]*\b%s\b[^ ]* verified, operator "
           r"of %s\) by %s \(mssgate\) with ESMTPS id [0-9a-f]{16} for "
           r"<%s>;" % (re.escape(src.domain), re.escape(src.domain),
                       re.escape(dst.extra["hostname"]), re.escape(rcpt)),
           "%s -> %s: the peer's Received names the verified client "
           "certificate and its operator domain" % (sender, rcpt))
    t.like(unfold(received[1]), r"with ESMTPSA id %s" % qid,
           "%s -> %s: under it, our own submission trace with the queue "
           "id" % (sender, rcpt))
    t.like(dst.log_text(), r"smtp relay-peer names=\"?[^ \"]*\b%s\b[^ \"]*"
           r"\"? domain=%s" % (re.escape(src.domain), re.escape(src.domain)),
           "%s -> %s: the peer's log names the certificate's domain" %
           (sender, rcpt))
    t.like(src.log_text(), r"relay tls host=127\.0\.0\.1\[127\.0\.0\.1\]:%d "
           r"version=TLSv1\.[23]" % dst.port_relay,
           "%s -> %s: our relay log has the TLS session" % (sender, rcpt))
    # The outcome is logged before it is written: once the queue is
    # empty, the line is there, however slow the daemon (valgrind).
    t.ok(wait_for(lambda: queue_empty(src)), "%s -> %s: the sender's queue "
         "is empty again" % (sender, rcpt), out(cli(src, "queue", "list")))
    t.like(src.log_text(), r"%s relay sent to=%s relay=127\.0\.0\.1 "
           r"attempts=1 dsn=2\.0\.0" % (qid, re.escape(rcpt)),
           "%s -> %s: sent at the first attempt" % (sender, rcpt))


def test_both_directions():
    if not paired():
        return
    a, b = P["a"], P["b"]
    one_way(a, b, "alice@a.test", P["pa"], "bob@b.test", P["pb"])
    one_way(b, a, "bob@b.test", P["pb"], "alice@a.test", P["pa"])


def test_partial_refusal():
    """bob@b.test exists on B, nobody@b.test does not: B says 550 5.1.1
    to the second RCPT. bob gets the message; alice gets one failure
    report from A (Reporting-MTA mx.a.test) about nobody only."""
    if not paired():
        return
    a, b = P["a"], P["b"]
    tok = token()
    rcpts = ["bob@b.test", "nobody@b.test"]
    msg = make_msg("alice@a.test", rcpts, tok, "one of two refused")
    qid = submit(a, "alice@a.test", P["pa"], rcpts, msg)
    view = wait_inbox(b, "bob@b.test", P["pb"], lambda v: with_token(v, tok))
    got = list(with_token(view, tok).values())
    t.ok(len(got) == 1 and strip_trace(got[0]) == msg,
         "550 for one of two: the other recipient gets the message", view)
    t.ok(wait_for(lambda: queue_empty(a)), "550 for one of two: nothing "
         "left in A's queue (5xx is final)", out(cli(a, "queue", "list")))
    t.like(a.log_text(), r"%s relay bounced to=nobody@b\.test relay="
           r"127\.0\.0\.1 attempts=1 dsn=5\.1\.1" % qid,
           "550 for one of two: logged as bounced, 5.1.1, first attempt")
    view = wait_inbox(a, "alice@a.test", P["pa"], lambda v: reports(v, tok))
    time.sleep(2)       # a duplicate would come now
    view = imap_inbox(a, "alice@a.test", P["pa"])
    reps = list(reports(view, tok).values())
    if not t.eq(len(reps), 1, "550 for one of two: exactly one report in "
                "the sender's INBOX"):
        return
    msg_, human, fields, rcpt_fields = dsn_parts(reps[0])
    t.ok(msg_.get_content_type() == "multipart/report" and
         msg_.get_param("report-type") == "delivery-status",
         "report: multipart/report; report-type=delivery-status",
         msg_.get("Content-Type"))
    t.like(msg_.get("From", ""), r"MAILER-DAEMON@mx\.a\.test",
           "report: from MAILER-DAEMON of the sending gateway")
    t.eq(msg_.get("To"), "<alice@a.test>", "report: to the sender")
    t.ok(fields is not None and unfold(fields.get("Reporting-MTA")) ==
         "dns; mx.a.test", "report: Reporting-MTA is the sending gateway",
         fields)
    t.eq(len(rcpt_fields), 1, "report: one recipient block")
    if not rcpt_fields:
        return
    r = rcpt_fields[0]
    t.eq(addr_field(r.get("Final-Recipient")), "rfc822;nobody@b.test",
         "report: Final-Recipient rfc822;nobody@b.test")
    t.eq(r.get("Action"), "failed", "report: Action failed")
    t.eq(r.get("Status"), "5.1.1", "report: Status 5.1.1")
    t.eq(unfold(r.get("Remote-MTA")), "dns; 127.0.0.1",
         "report: Remote-MTA is the peer we talked to")
    t.like(unfold(r.get("Diagnostic-Code")),
           r"^(smtp|X-mssgate); .*550 5\.1\.1 <nobody@b\.test>: Recipient "
           r"address rejected: User unknown in local recipient table",
           "report: Diagnostic-Code has the peer's 550 reply")
    status = msg_.get_payload()[1].as_string() if msg_.is_multipart() \
        else ""
    t.ok("bob@b.test" not in status and "bob@b.test" not in human,
         "report: bob (delivered) is mentioned neither in the delivery "
         "status nor in the notification text", status + human)
    t.ok("nobody@b.test" in human, "report: the notification text names "
         "the failed recipient", human)


def test_notify_success():
    """NOTIFY=SUCCESS, ORCPT and ENVID from alice to bob@b.test.

    B offers DSN in its EHLO, so A passes NOTIFY=SUCCESS, ORCPT and ENVID
    on in RCPT and MAIL and does not itself report "relayed" (RFC 3461
    5.2.2: the next hop takes over the duty). B delivers to bob's INBOX
    and writes the "delivered" report (Reporting-MTA mx.b.test, from
    MAILER-DAEMON@mx.b.test, null sender), which it relays back to A,
    into alice's INBOX. So: exactly one report, Action delivered, from
    B; none from A."""
    if not paired():
        return
    a, b = P["a"], P["b"]
    tok = token()
    envid = "env-" + tok
    orcpt = "bob.original+%s@b.test" % tok
    msg = make_msg("alice@a.test", ["bob@b.test"], tok, "notify success")
    qid = submit(a, "alice@a.test", P["pa"], ["bob@b.test"], msg,
                 mail_opts=["ENVID=" + envid],
                 rcpt_opts=["NOTIFY=SUCCESS",
                            "ORCPT=rfc822;" + orcpt.replace("+", "+2B")])
    view = wait_inbox(b, "bob@b.test", P["pb"], lambda v: with_token(v, tok))
    t.eq(len(with_token(view, tok)), 1, "NOTIFY=SUCCESS: bob gets the "
         "message")
    view = wait_inbox(a, "alice@a.test", P["pa"], lambda v: reports(v, tok))
    t.ok(wait_for(lambda: queue_empty(a) and queue_empty(b)),
         "NOTIFY=SUCCESS: both queues empty (message and report sent)",
         out(cli(a, "queue", "list")) + out(cli(b, "queue", "list")))
    time.sleep(2)       # a duplicate (say, a "relayed" one from A) now
    view = imap_inbox(a, "alice@a.test", P["pa"])
    reps = list(reports(view, tok).values())
    if not t.eq(len(reps), 1, "NOTIFY=SUCCESS: exactly one report in the "
                "sender's INBOX, no duplicate"):
        t.diag(a.log_text()[-3000:])
        return
    t.ok(not re.search(r"%s queue report=success" % qid, a.log_text()),
         "NOTIFY=SUCCESS: A wrote no report of its own (B offers DSN)",
         a.log_text()[-2000:])
    msg_, human, fields, rcpt_fields = dsn_parts(reps[0])
    t.ok(msg_.get_content_type() == "multipart/report" and
         msg_.get_param("report-type") == "delivery-status",
         "success report: multipart/report; report-type=delivery-status",
         msg_.get("Content-Type"))
    t.like(msg_.get("From", ""), r"MAILER-DAEMON@mx\.b\.test",
           "success report: from the peer's MAILER-DAEMON")
    t.like(msg_.get("Received", ""), r"client certificate .* operator of "
           r"b\.test", "success report: came over the relay port from B")
    t.ok(fields is not None and unfold(fields.get("Reporting-MTA")) ==
         "dns; mx.b.test", "success report: Reporting-MTA is the peer, "
         "which delivered", fields)
    t.eq(unfold(fields.get("Original-Envelope-Id")) if fields else None,
         envid, "success report: ENVID round trip (Original-Envelope-Id)")
    t.eq(len(rcpt_fields), 1, "success report: one recipient block")
    if not rcpt_fields:
        return
    r = rcpt_fields[0]
    t.eq(addr_field(r.get("Final-Recipient")), "rfc822;bob@b.test",
         "success report: Final-Recipient rfc822;bob@b.test")
    t.eq(addr_field(r.get("Original-Recipient")), "rfc822;" +
         orcpt.replace("+", "+2B"), "success report: ORCPT round trip "
         "(Original-Recipient, as xtext)")
    t.eq(r.get("Action"), "delivered", "success report: Action delivered "
         "(by the final gateway, not 'relayed')")
    t.like(r.get("Status"), r"^2\.\d+\.\d+$", "success report: Status 2.x.x")


def test_notify_never():
    """NOTIFY=NEVER on a recipient the peer refuses: A logs the bounce
    and writes no report."""
    if not paired():
        return
    a = P["a"]
    tok = token()
    msg = make_msg("alice@a.test", ["nobody@b.test"], tok, "notify never")
    qid = submit(a, "alice@a.test", P["pa"], ["nobody@b.test"], msg,
                 rcpt_opts=["NOTIFY=NEVER"])
    bounced = r"%s relay bounced to=nobody@b\.test .*dsn=5\.1\.1" % qid
    t.ok(wait_for(lambda: re.search(bounced, a.log_text()) and
                  queue_empty(a)),
         "NOTIFY=NEVER: the peer's 550 makes it bounce, the queue empties",
         a.log_text()[-2000:])
    time.sleep(2)
    view = imap_inbox(a, "alice@a.test", P["pa"])
    t.eq(with_token(view, tok), {}, "NOTIFY=NEVER: no report in the "
         "sender's INBOX")
    t.ok(not re.search(r"%s queue report=" % qid, a.log_text()),
         "NOTIFY=NEVER: no report written", a.log_text()[-2000:])


def relay_ctx(gw, cert=None):
    """A client context for gw's relay port, with a certificate or not."""
    ctx = ssl.create_default_context(cafile=gw.ca)
    if cert is not None:
        ctx.load_cert_chain(cert.certs + "/server.crt",
                            cert.certs + "/server.key")
    return ctx


def test_no_open_relay():
    if not paired():
        return
    a, b = P["a"], P["b"]

    # Submission port, no AUTH: not even MAIL.
    r = a.raw()
    r.reply()
    r.cmd("EHLO client.test")
    code, lines = r.cmd("MAIL FROM:<alice@a.test>")
    t.eq("%d %s" % (code, lines[0]), "530 5.7.0 Must issue a STARTTLS "
         "command first", "submission without TLS: MAIL refused")
    r.starttls(a.ssl_context())
    r.cmd("EHLO client.test")
    code, lines = r.cmd("MAIL FROM:<alice@a.test>")
    t.eq("%d %s" % (code, lines[0]), "530 5.7.0 Authentication required",
         "submission, TLS, no AUTH: MAIL gets 530 5.7.0 Authentication "
         "required")
    for rc in ("alice@a.test", "bob@b.test", "someone@c.test"):
        code, lines = r.cmd("RCPT TO:<%s>" % rc)
        t.ok(code == 503, "submission, no AUTH: RCPT TO:<%s> refused "
             "(no transaction)" % rc, "%d %s" % (code, lines))
    code, _ = r.cmd("DATA")
    t.ok(code >= 500, "submission, no AUTH: DATA refused", code)
    r.close()

    # Relay port, no TLS: nothing.
    r = RawSMTP("127.0.0.1", a.port_relay)
    r.reply()
    code, lines = r.cmd("EHLO mx.b.test")
    t.ok(code == 250 and "STARTTLS" in lines, "relay port: EHLO offers "
         "STARTTLS", lines)
    code, lines = r.cmd("MAIL FROM:<bob@b.test>")
    t.eq("%d %s" % (code, lines[0]), "530 5.7.0 Must issue a STARTTLS "
         "command first", "relay port without TLS: MAIL refused")
    code, lines = r.cmd("RCPT TO:<alice@a.test>")
    t.ok(code >= 500, "relay port without TLS: RCPT to a local address "
         "refused", "%d %s" % (code, lines))
    r.close()

    # Relay port, TLS without a client certificate: no session.
    r = RawSMTP("127.0.0.1", a.port_relay)
    r.reply()
    r.cmd("EHLO mx.b.test")
    err = None
    try:
        r.starttls(relay_ctx(a))
        # TLS 1.3: the server checks the certificate after the client
        # has finished; its alert comes with the first read.
        r.send("EHLO mx.b.test\r\n")
        got = r.text()
        r.send("MAIL FROM:<bob@b.test>\r\n")
        got += " | " + r.text()
        err = "answered: " + got
    except ssl.SSLError as e:
        err = e.reason or str(e)
    except (EOFError, ConnectionError) as e:
        err = "closed: %s" % e
    t.ok(err in ("TLSV13_ALERT_CERTIFICATE_REQUIRED",
                 "SSLV3_ALERT_HANDSHAKE_FAILURE") or
         (err or "").startswith("closed"),
         "relay port, TLS without a client certificate: refused by the "
         "handshake (certificate required alert), no SMTP after it", err)
    r.close()
    t.like(a.log_text(), r"peer did not return a certificate|certificate "
           r"required|no certificate", "relay port: the refusal is logged")

    # Relay port, B's trusted certificate: local domains only.
    r = RawSMTP("127.0.0.1", a.port_relay)
    r.reply()
    r.cmd("EHLO mx.b.test")
    r.starttls(relay_ctx(a, cert=b))
    r.cmd("EHLO mx.b.test")
    code, lines = r.cmd("MAIL FROM:<bob@b.test>")
    t.eq(code, 250, "relay port, B's certificate: MAIL accepted")
    code, lines = r.cmd("RCPT TO:<someone@c.test>")
    t.eq("%d %s" % (code, lines[0]), "554 5.7.1 <someone@c.test>: Relay "
         "access denied: other operators may send here only mail for this "
         "gateway's domains", "relay port, B's certificate, a third domain: "
         "554 5.7.1 Relay access denied")
    code, lines = r.cmd("RCPT TO:<bob@b.test>")
    t.eq(code, 554, "relay port, B's certificate, B's own domain (not "
         "local to A): 554")
    code, lines = r.cmd("RCPT TO:<alice@a.test>")
    t.eq(code, 250, "relay port, B's certificate, a local address: 250 "
         "(the certificate is accepted, only relaying is not)")
    r.cmd("RSET")
    r.cmd("QUIT")
    r.close()

    # Submission with AUTH: only into the trust space.
    c = a.smtp(login="alice@a.test", password=P["pa"])
    code, _ = c.mail("alice@a.test")
    code, text = c.rcpt("someone@c.test")
    t.eq("%d %s" % (code, text.decode()), "550 5.7.1 <someone@c.test>: "
         "Recipient address rejected: domain not in the MSSante trust "
         "space", "authenticated submission outside the trust space: "
         "550 5.7.1")
    code, text = c.rcpt("bob@b.test")
    t.eq(code, 250, "authenticated submission into the trust space: 250")
    c.rset()
    c.quit()


def test_peer_down():
    """B stops: the message waits, deferred with Connection refused, the
    gaps between attempts follow queue_retry_schedule (1s, 3s, 6s: the
    next attempt is last attempt + the step for the attempts made, a
    tenth either way); B comes back and the message is delivered."""
    if not paired():
        return
    a, b = P["a"], P["b"]
    b.stop()
    tok = token()
    msg = make_msg("alice@a.test", ["bob@b.test"], tok, "peer down")
    qid = submit(a, "alice@a.test", P["pa"], ["bob@b.test"], msg)
    seen = {}       # attempts -> (last_attempt, next_attempt, record)

    def observe():
        rec = queue_json(a, qid)
        if rec is None or not rec.get("recipients"):
            return False
        rc = rec["recipients"][0]
        if rc["attempts"] >= 1 and rc["attempts"] not in seen:
            seen[rc["attempts"]] = (rc["last_attempt"], rec["next_attempt"],
                                    rec)
        return len(seen) >= 1 and max(seen) >= 3

    wait_for(observe, 30, 0.25)
    if not t.ok(seen, "peer down: the message is attempted",
                out(cli(a, "queue", "show", qid)) + a.log_text()[-2000:]):
        b.start(repick=False)
        return
    first = seen[min(seen)][2]
    rc = first["recipients"][0]
    t.ok(rc["state"] == "pending" and rc["attempts"] >= 1 and
         re.match(r"4\.4\.1$", rc["status"] or "") and
         rc["diag"] == "connect to 127.0.0.1[127.0.0.1]:%d: Connection "
         "refused" % b.port_relay,
         "peer down, show --json: pending (deferred), attempts >= 1, 4.4.1, "
         "'Connection refused'", first)
    p = cli(a, "queue", "show", qid)
    text = p.stdout.decode("utf-8", "replace")
    t.ok(p.returncode == 0 and
         re.search(r"^recipient 1:\s+bob@b\.test$", text, re.M) and
         re.search(r"^  state:\s+pending$", text, re.M) and
         re.search(r"^  attempts:\s+[1-9]\d*$", text, re.M) and
         re.search(r"^  diagnostic:\s+.*Connection refused", text, re.M) and
         re.search(r"^next attempt:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                   text, re.M),
         "peer down, show: pending, attempts, the refusal, next attempt",
         out(p))
    gaps = {}
    for n, (last, nxt, _) in sorted(seen.items()):
        gaps[n] = nxt - last
    t.diag("attempts -> next attempt - last attempt (s): %r" % gaps)
    bad = []
    for n, g in gaps.items():
        step = STEPS[min(n, len(STEPS)) - 1]
        if not (int(step * 0.9) <= g <= step * 1.1 + 1):
            bad.append("after attempt %d: next - last = %d, want %d "
                       "(+-10%%)" % (n, g, step))
    t.ok(len(gaps) >= 2 and not bad, "peer down: next attempt = last "
         "attempt + the schedule's step for the attempts made",
         "gaps %r\n%s" % (gaps, "\n".join(bad)))
    ns = sorted(gaps)
    t.ok(len(ns) >= 2 and all(gaps[x] < gaps[y] for x, y in zip(ns, ns[1:])
                              if y <= len(STEPS)) and
         all(seen[x][1] < seen[y][1] for x, y in zip(ns, ns[1:])),
         "peer down: the backoff grows (attempts and next attempt time "
         "increase)", "gaps %r next %r" % (
             gaps, {n: v[1] for n, v in seen.items()}))

    b.start(repick=False)
    view = wait_inbox(b, "bob@b.test", P["pb"], lambda v: with_token(v, tok),
                      timeout=WAIT)
    got = list(with_token(view, tok).values())
    t.ok(len(got) == 1 and strip_trace(got[0]) == msg,
         "peer back: the message is delivered to bob's INBOX",
         "%s\n%s" % (view, a.log_text()[-3000:]))
    t.ok(wait_for(lambda: queue_empty(a)), "peer back: A's queue is empty",
         out(cli(a, "queue", "list")))
    p = cli(a, "queue", "show", qid)
    t.eq(p.returncode, EX_NOUSER, "peer back: queue show of the delivered "
         "message exits 67 (no longer queued)")
    t.like(a.log_text(), r"%s relay sent to=bob@b\.test relay=127\.0\.0\.1 "
           r"attempts=([4-9]|\d\d+) dsn=2\.0\.0" % qid,
           "peer back: logged as sent, after the 3 failed attempts seen")


def test_stop():
    for g in P.get("a"), P.get("b"):
        if g is not None:
            g.stop()


run_tests(t, test_setup, test_both_directions, test_partial_refusal,
          test_notify_success, test_notify_never, test_no_open_relay,
          test_peer_down, test_stop)
