# SPDX-License-Identifier: MIT
"""Delay reports and expiry, on a destination that never answers.

remote.test is in the trust space, routed to a loopback port where nothing
listens; retries every second; queue_delay_warning 2 s; queue_max_lifetime
6 s.

1. A message to two recipients there, one with NOTIFY=DELAY,FAILURE and
   one with NOTIFY=NEVER: after 2 s the sender gets exactly one delay
   report (Action: delayed, Status 4.x.x, Will-Retry-Until, the
   "Connection refused" diagnostic), about the first recipient only, and
   only once though attempts go on.
2. At 6 s the message expires: the first recipient fails with 4.4.7 and
   the sender gets one failure report that returns the message; the
   NOTIFY=NEVER recipient expires silently; the queue is empty.
"""

import email
import email.policy
import time

from mssgate_test import Gateway, Tap, free_port, run_tests

t = Tap()


def reports(g, user):
    out = []
    for m in g.messages(user):
        raw = g.message(user, m["uid"])
        out.append((raw, email.message_from_bytes(
            raw, policy=email.policy.default)))
    return out


def action_of(raw):
    text = raw.decode("utf-8", "replace")
    acts = [l.split(":", 1)[1].strip() for l in text.split("\r\n")
            if l.startswith("Action:")]
    return acts


def test_delay_then_expiry():
    g = Gateway(domains=["a.test"], extra={
        "queue_retry_schedule": "1s",
        "queue_delay_warning": "2s",
        "queue_max_lifetime": "6s",
    }).start()
    pw = g.add_user("alice@a.test")
    g.cli("trust", "add", "remote.test", "--route",
          "127.0.0.1:%d" % free_port(), check=True)
    msg = (b"From: alice@a.test\r\nTo: carol@remote.test\r\n"
           b"Subject: waits forever\r\nMessage-ID: <expiry-1@a.test>\r\n"
           b"\r\nthe body that comes back\r\n")
    c = g.smtp(login="alice@a.test", password=pw)
    c.mail("alice@a.test", ["RET=FULL", "ENVID=expiry-1"])
    code1, _ = c.rcpt("carol@remote.test", ["NOTIFY=DELAY,FAILURE"])
    code2, _ = c.rcpt("dave@remote.test", ["NOTIFY=NEVER"])
    code3, _ = c.data(msg)
    c.quit()
    t.eq((code1, code2, code3), (250, 250, 250), "accepted, two recipients")
    start = time.time()

    delay = None
    while time.time() - start < 5.5 and delay is None:
        for raw, rep in reports(g, "alice@a.test"):
            if "delayed" in action_of(raw):
                delay = (raw, rep)
        time.sleep(0.2)
    t.ok(delay is not None, "a delay report arrives before expiry")
    if delay is not None:
        raw, rep = delay
        text = raw.decode("utf-8", "replace")
        t.eq(rep.get_content_type(), "multipart/report", "multipart/report")
        t.eq(rep["Subject"], "Delayed Mail (still being retried)",
             "delay Subject")
        t.eq(action_of(raw), ["delayed"], "one recipient, delayed")
        t.like(text, r"Final-Recipient: rfc822; ?carol@remote\.test",
               "about carol (NOTIFY=DELAY)")
        t.ok("dave@remote.test" not in text.split("message/delivery-status",
                                                  1)[-1].split("\r\n\r\n--")[0],
             "not about dave (NOTIFY=NEVER)")
        t.like(text, r"Status: 4\.\d+\.\d+", "a 4.x.x status")
        t.like(text, r"Will-Retry-Until: ", "Will-Retry-Until")
        unfolded = text.replace("\r\n ", " ")
        t.like(unfolded, r"Diagnostic-Code: X-mssgate; connect to "
               r"127\.0\.0\.1\[127\.0\.0\.1\]:\d+: Connection refused",
               "the diagnostic")
        t.like(text, r"Original-Envelope-Id: expiry-1", "the ENVID")
        t.like(text, r"text/rfc822-headers",
               "a delay report returns the header only")

    deadline = start + 20
    failed = None
    while time.time() < deadline and failed is None:
        for raw, rep in reports(g, "alice@a.test"):
            if "failed" in action_of(raw):
                failed = (raw, rep)
        time.sleep(0.3)
    elapsed = time.time() - start
    t.ok(failed is not None, "a failure report once the lifetime is over")
    t.ok(elapsed >= 5.5, "not before the lifetime (%.1f s)" % elapsed)
    if failed is not None:
        raw, rep = failed
        text = raw.decode("utf-8", "replace")
        t.eq(rep["Subject"], "Undelivered Mail Returned to Sender",
             "failure Subject")
        t.eq(action_of(raw), ["failed"], "one recipient, failed")
        t.like(text, r"Final-Recipient: rfc822; ?carol@remote\.test",
               "about carol")
        t.like(text, r"Status: 4\.4\.7", "Status 4.4.7 (expired)")
        t.like(text, r"message/rfc822", "RET=FULL: the message comes back")
        t.like(text, r"the body that comes back", "with its body")

    time.sleep(1.5)
    kinds = sorted(a for raw, _ in reports(g, "alice@a.test")
                   for a in action_of(raw))
    t.eq(kinds, ["delayed", "failed"],
         "exactly one delay and one failure report, nothing about dave")
    p = g.cli("queue", "list")
    t.ok(b"Mail queue is empty" in p.stdout, "the queue is empty",
         p.stdout.decode())
    t.eq(g.stop(), 0, "the daemon stops with 0")
    g.cleanup()


run_tests(t, test_delay_then_expiry)
