# SPDX-License-Identifier: MIT
"""A domain removed from the trust space while mail for it waits in the
queue: nothing more is sent there.

remote.test is in the trust space with a route to a loopback port where
nothing listens; a message to it is accepted and deferred ("Connection
refused"). The administrator removes remote.test (`trust del`) and asks
for a new attempt (`queue retry`): the recipient fails with 5.7.1 "domain
remote.test is no longer in the MSSante trust space", the queue empties,
and the sender finds one failure report in their INBOX saying so. A new
submission to remote.test is refused at RCPT.
"""

import email
import email.policy
import smtplib
import time

from mssgate_test import Gateway, Tap, free_port, run_tests

t = Tap()


def wait_for(fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    return fn()


def test_removed_domain():
    g = Gateway(domains=["a.test"],
                extra={"queue_retry_schedule": "1h"}).start()
    pw = g.add_user("alice@a.test")
    dead = free_port()
    g.cli("trust", "add", "remote.test", "--route", "127.0.0.1:%d" % dead,
          check=True)
    msg = (b"From: alice@a.test\r\nTo: carol@remote.test\r\n"
           b"Subject: still queued\r\nMessage-ID: <removed-1@a.test>\r\n"
           b"\r\nhello\r\n")
    t.eq(g.deliver("alice@a.test", pw, ["carol@remote.test"], msg), {},
         "accepted for a trust-space domain")

    def deferred():
        p = g.cli("queue", "list")
        return p.stdout if b"Connection refused" in p.stdout else None
    out = wait_for(deferred)
    t.ok(out is not None, "first attempt deferred: Connection refused",
         g.cli("queue", "list").stdout.decode())

    p = g.cli("trust", "del", "remote.test")
    t.eq(p.returncode, 0, "trust del remote.test")
    p = g.cli("queue", "retry", "--all")
    t.eq(p.returncode, 0, "queue retry --all")

    def empty():
        p = g.cli("queue", "list")
        return b"Mail queue is empty" in p.stdout
    t.ok(wait_for(empty), "the queue empties: the recipient failed",
         g.cli("queue", "list").stdout.decode())
    log = g.log_text()
    t.like(log, r"relay bounced to=carol@remote\.test .*dsn=5\.7\.1 "
           r"diag=\"domain remote\.test is no longer in the MSSant",
           "logged as bounced with 5.7.1 and the reason")

    msgs = wait_for(lambda: [m for m in g.messages("alice@a.test")])
    t.eq(len(msgs), 1, "one report in the sender's INBOX")
    if msgs:
        raw = g.message("alice@a.test", msgs[0]["uid"])
        rep = email.message_from_bytes(raw, policy=email.policy.default)
        t.eq(rep.get_content_type(), "multipart/report", "a multipart/report")
        status = [p for p in rep.walk()
                  if p.get_content_type() == "message/delivery-status"]
        t.eq(len(status), 1, "with a message/delivery-status part")
        text = raw.decode("utf-8", "replace")
        t.like(text, r"Final-Recipient: rfc822; ?carol@remote\.test",
               "Final-Recipient")
        t.like(text, r"Action: failed", "Action: failed")
        t.like(text, r"Status: 5\.7\.1", "Status: 5.7.1")
        t.like(text, r"no longer in the MSSant", "the reason is given")

    c = g.smtp(login="alice@a.test", password=pw)
    try:
        c.mail("alice@a.test")
        code, text = c.rcpt("carol@remote.test")
        t.eq(code, 550, "a new message to remote.test is refused at RCPT")
        t.like(text.decode(), r"5\.7\.1 .*not in the MSSant",
               "with the trust-space text")
    finally:
        try:
            c.quit()
        except smtplib.SMTPException:
            pass
    t.eq(g.stop(), 0, "the daemon stops with 0")
    g.cleanup()


run_tests(t, test_removed_domain)
