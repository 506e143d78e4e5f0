# SPDX-License-Identifier: MIT
"""Mail between operators with a real peer: mssgate and a private Debian
Postfix (tests/lib/postfix_peer.py) exchange mail over mutual TLS on
loopback, each with its own CA.

The Postfix peer serves postfix.test: its relay listener requires
STARTTLS and a client certificate that chains to its trusted CAs (its own
and mssgate's development CA); its SMTP client verifies the next hop's
certificate (smtp_tls_security_level = verify, name mssante.test) and
presents its own (CN and SAN postfix.test, SAN IP 127.0.0.1); a transport
map sends mssante.test to mssgate's relay port. mssgate trusts the peer's
CA (tls_ca_file bundle) and has `trust add postfix.test --route
127.0.0.1:PORT`.

1. The peer's configuration checks: `postfix check` says nothing, exits 0;
   it listens on its two loopback ports only.
2. mssgate -> Postfix: a message submitted on mssgate (STARTTLS, AUTH)
   to user@postfix.test lands in Postfix's maildir with its body; the
   Received field Postfix added names our verified client certificate
   ('(Client CN "...", Issuer "..." (verified OK))'), its log says
   "Trusted TLS connection established"; mssgate's queue is empty and its
   log has the recipient "sent" with Postfix's 250 reply.
3. 80 messages from 8 clients at once, with relay_max_messages_per_connection
   = 3: all land, none is deferred (a connection saying QUIT at its quota
   is not handed a job), and at least 26 connections were opened.
4. A recipient Postfix does not know: its 550 reaches the sender as a
   failure report (DSN: Remote-MTA the host, Diagnostic-Code smtp; 550
   5.1.1 ...) in her INBOX, the queue empties.
5. Postfix -> mssgate: a message injected with Postfix's sendmail(1)
   reaches bob's INBOX, read over IMAP; our Received field notes the TLS
   parameters and the verified client certificate of the operator of
   postfix.test; Postfix's log says "Verified TLS connection established
   to 127.0.0.1[127.0.0.1]:PORT" and status=sent with our 250.
6. Negative: a second Postfix for postfix.test whose client certificate
   comes from a CA mssgate does not trust: the relay port refuses the
   handshake (mssgate logs it), the message stays deferred in that
   Postfix's queue (`postqueue -p` lists it, before and after a flush),
   and bob's INBOX does not get it; Postfix logs the alert "unknown ca".
7. Both Postfix instances stop entirely (no process left with their
   MAIL_CONFIG) and their folders are removed; the peer's log has no
   warning, error, fatal or panic line.

Postfix must be installed (Debian package postfix, preseeded with
"No configuration") and the test run as root: otherwise it fails, it does
not skip.
"""

import imaplib
import os
import re
import threading
import time

from mssgate_test import Gateway, Tap, run_tests
import postfix_peer

t = Tap()

OURS = "mssante.test"
PEER = "postfix.test"
WAIT = 60          # seconds for a delivery that should happen at once

state = {}


def wait_for(fn, timeout=WAIT, step=0.2):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def setup():
    why = postfix_peer.available()
    if not t.ok(why is None, "a private Postfix can run here (root, "
                "package postfix, openssl)", why):
        return False
    gw = Gateway(name="ours", domains=[OURS],
                 extra={"queue_retry_schedule": "1s, 2s, 4s",
                        "relay_max_messages_per_connection": "3"})
    gw.start()      # makes its development CA and certificate
    gw.stop()
    pf = postfix_peer.PostfixPeer(
        domain=PEER, name="peer", users=["user"],
        routes={OURS: ("127.0.0.1", gw.port_relay)}, trusted_cas=[gw.ca])
    bundle = os.path.join(gw.tmp, "trusted-operators.pem")
    with open(bundle, "w") as out:
        for ca in (gw.ca, pf.ca):
            with open(ca) as f:
                out.write(f.read())
    gw.extra["tls_ca_file"] = bundle
    gw.write_config()
    gw.start()
    state.update(gw=gw, pf=pf, bundle=bundle)
    return True


def test_config():
    if not setup():
        return
    gw, pf = state["gw"], state["pf"]
    rc, out = pf.check()
    t.ok(rc == 0 and out.strip() == "", "postfix -c DIR check: exit 0, "
         "no warning", "exit %d\n%s" % (rc, out))
    pf.start()
    t.ok(pf.master_pid() is not None and len(pf.pids()) >= 3,
         "the private Postfix runs (master and children)", pf.log_text())
    t.eq(pf.listening(), sorted([("127.0.0.1", pf.port),
                                 ("127.0.0.1", pf.port_submit)]),
         "it listens on its two loopback ports only")
    p = gw.cli("trust", "add", PEER, "--route",
               "127.0.0.1:%d" % pf.port)
    t.ok(p.returncode == 0, "trust add %s --route 127.0.0.1:%d" %
         (PEER, pf.port), p.stderr.decode("utf-8", "replace"))


def submit(gw, sender, password, rcpts, subject, body):
    msg = ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\n"
           "Message-ID: <%s@%s>\r\n\r\n%s\r\n" % (
               sender, ", ".join("<%s>" % r for r in rcpts), subject,
               os.urandom(6).hex(), OURS, body)).encode()
    return gw.deliver(sender, password, rcpts, msg)


def test_mssgate_to_postfix():
    if "pf" not in state:
        return
    gw, pf = state["gw"], state["pf"]
    alice = "alice@" + OURS
    state["alice_pw"] = pw = gw.add_user(alice)
    refused = submit(gw, alice, pw, ["user@" + PEER],
                     "Compte rendu vers Postfix", "Corps: marqueur-A1.")
    t.eq(refused, {}, "mssgate accepts the message for user@%s" % PEER)
    box = pf.wait_mailbox("user", 1)
    if not t.eq(len(box), 1, "the message lands in Postfix's maildir",):
        t.diag(gw.log_text()[-3000:])
        t.diag(pf.log_text()[-3000:])
        return
    with open(box[0], "rb") as f:
        text = f.read().decode("utf-8", "replace")
    t.ok("Corps: marqueur-A1." in text and
         "Subject: Compte rendu vers Postfix" in text,
         "body and subject intact in the maildir file", text)
    # Postfix's own Received field: the client certificate it verified
    # (ours: issued by mssgate's development CA).
    m = re.search(r"^Received: from .*?\n(?=\S)", text, re.M | re.S)
    rcvd = m.group(0) if m else ""
    m = re.search(r'\(Client CN "[^"]+", Issuer "[^"]+" \(verified OK\)\)',
                  rcvd)
    t.ok(m, "Postfix's Received field: our client certificate verified",
         rcvd)
    if m:
        t.diag(m.group(0))
    t.like(rcvd, r"using TLSv1\.[23] with cipher",
           "Postfix's Received field: TLS")
    t.like(rcvd, r"by mx\.%s \(Postfix\) with ESMTPS" % re.escape(PEER),
           "Postfix's Received field: ESMTPS by mx.postfix.test")
    m = pf.wait_log(r"postfix/relay/smtpd\[\d+\]: Trusted TLS connection "
                    r"established from \S+\[127\.0\.0\.1\]: TLSv1\.[23] "
                    r".*$")
    t.ok(m is not None, "Postfix log: Trusted TLS connection established "
         "from 127.0.0.1 on its relay listener", pf.log_text()[-3000:])
    if m:
        t.diag(m.group(0))
    t.ok(wait_for(lambda: gw.cli("queue", "list").stdout ==
                  b"Mail queue is empty\n", 30),
         "mssgate's queue is empty afterwards",
         gw.cli("queue", "list").stdout)
    t.like(gw.log_text(), r"relay sent .*to=<?user@postfix\.test>?.*"
           r"relay=\S*127\.0\.0\.1",
           "mssgate log: user@postfix.test sent via 127.0.0.1")


def test_connection_quota():
    """Many messages at once over connections that each carry at most
    relay_max_messages_per_connection (3 here): every one goes out at
    its first attempt, none waits for a retry because it was handed to
    a connection that was saying QUIT."""
    if "pf" not in state:
        return
    gw, pf = state["gw"], state["pf"]
    alice = "alice@" + OURS
    before = len(pf.mailbox("user"))
    log_before = len(gw.log_text())
    # several clients at once: new messages arrive while connections
    # reach their quota and say QUIT
    clients, each = 8, 10
    n = clients * each
    errors = []

    def client(k):
        try:
            c = gw.smtp(login=alice, password=state["alice_pw"])
            try:
                for i in range(each):
                    msg = ("From: <%s>\r\nTo: <user@%s>\r\nSubject: lot "
                           "%d-%d\r\n\r\nCorps.\r\n" % (alice, PEER, k,
                                                          i)).encode()
                    c.sendmail(alice, ["user@" + PEER], msg)
            finally:
                c.quit()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("client %d: %r" % (k, e))

    threads = [threading.Thread(target=client, args=(k,))
               for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    t.eq(errors, [], "%d clients submit %d messages each" % (clients,
                                                               each))
    box = pf.wait_mailbox("user", before + n)
    t.eq(len(box) - before, n, "%d messages sent at once all land in "
         "Postfix's maildir" % n)
    text = gw.log_text()[log_before:]
    t.eq(len(re.findall(r"relay deferred", text)), 0,
         "none was deferred (each went out at its first attempt)")
    t.ok(len(re.findall(r"relay tls host=127\.0\.0\.1\[127\.0\.0\.1\]:%d"
                        % pf.port, text)) >= n // 3,
         "at least %d connections to Postfix (3 messages each at most)"
         % (n // 3), text[-2000:])


def test_unknown_recipient_at_postfix():
    if "pf" not in state:
        return
    gw = state["gw"]
    alice = "alice@" + OURS
    before = len(gw.messages(alice))
    refused = submit(gw, alice, state["alice_pw"], ["nobody@" + PEER],
                     "Pour personne", "Corps: marqueur-A2.")
    t.eq(refused, {}, "mssgate accepts a message for nobody@%s" % PEER)
    msgs = wait_for(lambda: [m for m in gw.messages(alice)][before:])
    t.ok(len(msgs) == 1, "a failure report reaches alice's INBOX",
         gw.log_text()[-3000:])
    if msgs:
        raw = gw.message(alice, msgs[0]["uid"]).decode("utf-8", "replace")
        t.like(raw, r"(?m)^Final-Recipient: rfc822; ?nobody@postfix\.test",
               "the report names the refused recipient")
        t.like(raw, r"(?m)^Status: 5\.\d+\.\d+",
               "the report has a 5.x.x status")
        t.like(raw, r"(?m)^Diagnostic-Code: smtp; ?550 5\.1\.1 ",
               "the report carries Postfix's reply: Diagnostic-Code: "
               "smtp; 550 5.1.1")
        t.like(raw, r"(?m)^Remote-MTA: dns; ?127\.0\.0\.1",
               "the report names the Postfix host as Remote-MTA")
    t.ok(wait_for(lambda: gw.cli("queue", "list").stdout ==
                  b"Mail queue is empty\n", 30),
         "mssgate's queue is empty after the failure",
         gw.cli("queue", "list").stdout)


def imap_messages(gw, user, password):
    c = gw.imap(login=user, password=password)
    try:
        typ, data = c.select("INBOX")
        n = int(data[0])
        out = []
        for i in range(1, n + 1):
            typ, data = c.fetch(str(i), "(BODY.PEEK[])")
            out.append(data[0][1])
        return out
    finally:
        try:
            c.logout()
        except imaplib.IMAP4.error:
            pass


def test_postfix_to_mssgate():
    if "pf" not in state:
        return
    gw, pf = state["gw"], state["pf"]
    bob = "bob@" + OURS
    state["bob_pw"] = pw = gw.add_user(bob)
    msg = ("From: <user@%s>\r\nTo: <%s>\r\nSubject: Resultats depuis "
           "Postfix\r\nMessage-ID: <pf-1@%s>\r\n\r\nCorps: marqueur-B1.\r\n"
           % (PEER, bob, PEER)).encode()
    pf.sendmail("user@" + PEER, [bob], msg)
    t.ok(wait_for(lambda: gw.messages(bob)), "the message reaches bob's "
         "INBOX", pf.log_text()[-3000:] + "\n" + gw.log_text()[-2000:])
    msgs = imap_messages(gw, bob, pw)
    if not t.eq(len(msgs), 1, "IMAP: one message in bob's INBOX"):
        return
    text = msgs[0].decode("utf-8", "replace")
    t.ok("Corps: marqueur-B1." in text and "Message-ID: <pf-1@%s>" % PEER
         in text, "IMAP: the body and Message-ID as sent", text)
    first = re.match(r"Received: .*?\r\n(?=\S)", text, re.S)
    rcvd = first.group(0) if first else ""
    t.like(rcvd, r"\(using TLSv1\.[23] with cipher \S+",
           "our Received field: TLS version and cipher")
    t.like(rcvd, r"\(client certificate \S*postfix\.test\S* verified, "
           r"operator of postfix\.test\)",
           "our Received field: the verified client certificate of the "
           "operator of postfix.test")
    t.like(rcvd, r"by localhost \(mssgate\) with ESMTPS id",
           "our Received field: ESMTPS (no AUTH on the relay port)")
    # Postfix's own Received field sits below ours
    t.like(text, r"(?m)^Received: by mx\.postfix\.test \(Postfix",
           "Postfix's Received field follows")
    m = pf.wait_log(r"postfix/smtp\[\d+\]: Verified TLS connection "
                    r"established to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: .*$"
                    % gw.port_relay)
    t.ok(m is not None, "Postfix log: Verified TLS connection established "
         "to 127.0.0.1[127.0.0.1]:%d" % gw.port_relay,
         pf.log_text()[-3000:])
    if m:
        t.diag(m.group(0))
    t.ok(pf.wait_log(r"postfix/smtp\[\d+\]: \S+: to=<%s>, "
                     r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
                     r"status=sent \(250 " % (re.escape(bob),
                                              gw.port_relay)) is not None,
         "Postfix log: status=sent with our 250", pf.log_text()[-2000:])
    t.like(gw.log_text(), r"relay-peer .*names=\S*postfix\.test\S* "
           r"domain=postfix\.test", "mssgate log: the peer's certificate "
           "stands for postfix.test")
    t.ok(wait_for(lambda: "Mail queue is empty" in pf.queue_list(), 20),
         "Postfix's queue is empty", pf.queue_list())


def test_untrusted_client_certificate():
    if "pf" not in state:
        return
    gw = state["gw"]
    bob = "bob@" + OURS
    rogue_ca = postfix_peer.CA(os.path.join(gw.tmp, "rogue-ca"),
                               "Rogue CA")
    rogue = postfix_peer.PostfixPeer(
        domain=PEER, name="rogue", users=["user"],
        routes={OURS: ("127.0.0.1", gw.port_relay)}, trusted_cas=[gw.ca],
        client_ca=rogue_ca)
    rogue.start()
    before = len(gw.messages(bob))
    log_before = len(gw.log_text())
    msg = ("From: <user@%s>\r\nTo: <%s>\r\nSubject: Certificat "
           "inconnu\r\nMessage-ID: <pf-rogue@%s>\r\n\r\nCorps: "
           "marqueur-C1.\r\n" % (PEER, bob, PEER)).encode()
    rogue.sendmail("user@" + PEER, [bob], msg)
    m = rogue.wait_log(r"postfix/smtp\[\d+\]: (\S+): to=<%s>, .*"
                       r"status=deferred \((.*)\)$" % re.escape(bob))
    t.ok(m is not None, "the Postfix with an untrusted client certificate "
         "defers the message", rogue.log_text()[-3000:])
    if m is None:
        rogue.cleanup()
        return
    qid = m.group(1)
    t.diag("deferred: " + m.group(2))
    t.ok(rogue.wait_log(r"postfix/smtp\[\d+\]: warning: TLS library "
                        r"problem: .*alert unknown ca") is not None,
         "its log: our relay port answered with the alert 'unknown ca'",
         rogue.log_text()[-3000:])
    q = rogue.queue_list()
    t.ok(re.search(r"(?m)^%s\*?\s+\d+ .*user@%s" % (qid, re.escape(PEER)),
                   q) and bob in q,
         "postqueue -c DIR -p lists it (%s, for %s)" % (qid, bob), q)
    # mssgate saw a certificate it cannot verify and said so
    text = gw.log_text()[log_before:]
    m = re.search(r"(?im)^.*(certificate|unknown ca|verif).*$", text)
    t.ok(m, "mssgate logs the refused client certificate", text)
    if m:
        t.diag(m.group(0))
    t.ok(not re.search(r"relay-peer .*domain=postfix\.test", text),
         "mssgate never took it for the operator of postfix.test", text)
    # another attempt, on demand: refused again
    rogue.flush()
    time.sleep(3)
    q = rogue.queue_list()
    t.ok(qid in q and bob in q, "after postqueue -f it is still queued",
         q + "\n" + rogue.log_text()[-2000:])
    t.eq(len(gw.messages(bob)), before, "bob's INBOX did not get it")
    rogue.cleanup()
    t.eq(rogue.pids(), [], "the second Postfix stopped entirely")
    t.ok(not os.path.exists(rogue.tmp), "its folder is removed")


def test_stop():
    if "pf" not in state:
        return
    pf = state["pf"]
    bad = re.findall(r"(?m)^.*postfix/\S+: (?:warning|error|fatal|panic):"
                     r".*$", pf.log_text())
    t.ok(not bad, "no warning, error, fatal or panic line in the Postfix "
         "peer's log", "\n".join(bad))
    pf.cleanup()
    t.eq(pf.pids(), [], "the Postfix peer stopped entirely (no process "
         "carries its MAIL_CONFIG)")
    t.ok(not os.path.exists(pf.tmp), "its folder is removed")
    gw = state["gw"]
    t.ok(not re.search(r"(?i)\b(crit|alert|emerg)\b", gw.log_text()),
         "no critical line in mssgate's log")


run_tests(t, test_config, test_mssgate_to_postfix, test_connection_quota,
          test_unknown_recipient_at_postfix, test_postfix_to_mssgate,
          test_untrusted_client_certificate, test_stop)
