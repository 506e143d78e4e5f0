# SPDX-License-Identifier: MIT
"""The queue administration commands of `mssgate` against a private
gateway, on mail that really waits: a trust-space domain is routed to a
loopback port where nothing listens, a message submitted over SMTP
(STARTTLS, AUTH) to two of its addresses is queued ("250 2.0.0 Ok: queued
as ID") and its first attempt fails with "Connection refused". Then:
`queue list` (mailq-like lines, summary, the refusal as diagnostic) and
its --json form, `queue show` in both forms, hold (no attempt while held,
retry refused, `retry --all` leaves it), release and retry (a new attempt
within seconds, as the daemon rescans its due index every second),
delete, the empty queue, and the errors: unknown id (67), malformed id
and missing or extra arguments (64).
"""

import json
import re
import subprocess
import time

from mssgate_test import MSSGATE, Gateway, Tap, free_port, run_tests

t = Tap()

EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
TIMEOUT = 30
ATTEMPT_WAIT = 30   # seconds for an attempt the daemon should make at once

REMOTE = "remote.test"
RCPTS = ["someone@" + REMOTE, "other@" + REMOTE]
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
RECORD_KEYS = {"id", "arrival", "next_attempt", "size", "sender", "envid",
               "ret", "held", "is_dsn", "account_id", "recipients"}
RCPT_KEYS = {"address", "orcpt", "notify", "state", "attempts",
             "last_attempt", "status", "diag", "remote"}
UNKNOWN_ID = "00000000deadbeef"


class Out:
    def __init__(self, args, p):
        self.args = args
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")

    def __str__(self):
        return "$ mssgate %s\nexit %s\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.args), self.rc, self.out[-3000:], self.err[-2000:])


def cli(gw, *args):
    p = subprocess.run([MSSGATE, "-c", gw.conf] + list(args), input=b"",
                       capture_output=True, timeout=TIMEOUT)
    return Out(list(args), p)


def records(gw):
    o = cli(gw, "--json", "queue", "list")
    if o.rc != 0:
        raise RuntimeError(str(o))
    return [json.loads(line) for line in o.out.splitlines()]


def record(gw, qid):
    for r in records(gw):
        if r["id"] == qid:
            return r
    return None


def attempts(rec):
    return min(r["attempts"] for r in rec["recipients"]) if rec else -1


def attempted(gw, qid, more_than=0):
    """The record once every recipient has had more than more_than
    attempts, else None."""
    r = record(gw, qid)
    return r if r is not None and attempts(r) > more_than else None


def wait_for(fn, timeout=ATTEMPT_WAIT):
    """fn() until it returns something true, or its last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(0.2)


def submit(gw, sender, password, rcpts):
    """Send over STARTTLS + AUTH; the queue id of the 250 reply."""
    msg = ("From: <%s>\r\nTo: %s\r\nSubject: queued for another operator\r\n"
           "Message-ID: <queue-cli@client.test>\r\n\r\nCompte rendu.\r\n"
           % (sender, ", ".join("<%s>" % r for r in rcpts))).encode()
    c = gw.smtp(login=sender, password=password)
    try:
        code, _ = c.mail(sender)
        if code != 250:
            raise RuntimeError("MAIL FROM: %d" % code)
        for r in rcpts:
            code, text = c.rcpt(r)
            if code != 250:
                raise RuntimeError("RCPT TO:<%s>: %d %r" % (r, code, text))
        code, text = c.data(msg)
    finally:
        c.quit()
    text = text.decode("utf-8", "replace")
    m = re.match(r"2\.0\.0 Ok: queued as ([0-9a-f]{16})$", text)
    if code != 250 or not m:
        raise RuntimeError("DATA: %d %s" % (code, text))
    return m.group(1)


# --- tests -------------------------------------------------------------


def test_usage_and_empty_queue():
    with Gateway() as gw:
        o = cli(gw, "help")
        for cmd in ("queue list", "queue show ID", "queue retry ID|--all",
                    "queue hold|release|delete ID"):
            t.ok(o.rc == 0 and re.search(r"^\s+%s$" % re.escape(cmd), o.out,
                                         re.M), "help lists '%s'" % cmd, o)
        gw.start()
        o = cli(gw, "queue", "list")
        t.ok(o.rc == 0 and o.out == "Mail queue is empty\n",
             "queue list of an empty queue: 'Mail queue is empty'", o)
        o = cli(gw, "--json", "queue", "list")
        t.ok(o.rc == 0 and o.out == "",
             "queue list --json of an empty queue: no line", o)
        o = cli(gw, "queue", "retry", "--all")
        t.ok(o.rc == 0 and o.out == "0 messages queued for retry\n",
             "queue retry --all on an empty queue: 0 messages", o)

        for verb in ("show", "retry", "hold", "release", "delete"):
            o = cli(gw, "queue", verb, UNKNOWN_ID)
            t.ok(o.rc == EX_NOUSER and o.out == "" and
                 "%s: no such message in the queue" % UNKNOWN_ID in o.err,
                 "queue %s of an unknown id: exit 67, named" % verb, o)
            for bad in ("0123", "0123456789abcdefg", "0123456789abcdeg",
                        "0000000000000000", "-1"):
                o = cli(gw, "queue", verb, bad)
                t.ok(o.rc == EX_USAGE and o.out == "" and
                     "%s: not a queue id" % bad in o.err,
                     "queue %s %s: exit 64, not a queue id" % (verb, bad), o)
            o = cli(gw, "queue", verb)
            t.ok(o.rc == EX_USAGE and re.search(r"^usage: mssgate queue list",
                                                o.err, re.M),
                 "queue %s without an id: exit 64 with the usage" % verb, o)
            o = cli(gw, "queue", verb, UNKNOWN_ID, UNKNOWN_ID)
            t.eq(o.rc, EX_USAGE, "queue %s with two ids: exit 64" % verb)
        o = cli(gw, "queue")
        t.eq(o.rc, EX_USAGE, "queue without a verb: exit 64")
        o = cli(gw, "queue", "flush")
        t.ok(o.rc == EX_USAGE and "usage: mssgate queue" in o.err,
             "queue with an unknown verb: exit 64 with the usage", o)
        o = cli(gw, "queue", "list", "extra")
        t.eq(o.rc, EX_USAGE, "queue list with an argument: exit 64")
        o = cli(gw, "queue", "retry", "--all", UNKNOWN_ID)
        t.eq(o.rc, EX_USAGE, "queue retry --all with an id too: exit 64")
        o = cli(gw, "queue", "hold", "--all")
        t.eq(o.rc, EX_USAGE, "queue hold --all: exit 64 (retry only)")


def test_queue_lifecycle():
    with Gateway() as gw:
        gw.start()
        alice = "alice@" + gw.domain
        pw = gw.add_user(alice)
        dead_port = free_port()     # nothing listens there
        o = cli(gw, "trust", "add", REMOTE, "--route",
                "127.0.0.1:%d" % dead_port)
        if not t.ok(o.rc == 0, "setup: trust add %s --route to a closed "
                    "port" % REMOTE, o):
            return

        qid = submit(gw, alice, pw, RCPTS)
        t.like(qid, r"^[0-9a-f]{16}$", "SMTP: 250 2.0.0 Ok: queued as ID")

        rec = wait_for(lambda: attempted(gw, qid))
        if not t.ok(rec is not None, "the queued message is listed and "
                    "attempted within %ds" % ATTEMPT_WAIT, "%s\n%s" % (
                        cli(gw, "queue", "list"), gw.log_text()[-3000:])):
            return

        # --json list: one object with every field.
        t.ok(set(rec) >= RECORD_KEYS, "list --json: every record field "
             "(%s)" % ", ".join(sorted(RECORD_KEYS)), rec)
        t.ok(rec["sender"] == alice and rec["held"] is False and
             rec["is_dsn"] is False and rec["size"] > 0 and
             isinstance(rec["arrival"], int) and
             abs(rec["arrival"] - time.time()) < 120 and
             isinstance(rec["next_attempt"], int) and
             isinstance(rec["account_id"], int) and rec["account_id"] > 0,
             "list --json: sender, not held, not a report, size, arrival, "
             "next attempt, account", rec)
        rs = rec["recipients"]
        t.eq([r["address"] for r in rs], RCPTS,
             "list --json: both recipients, in order")
        t.ok(all(set(r) >= RCPT_KEYS for r in rs),
             "list --json: every recipient field", rs)
        t.ok(all(r["state"] == "pending" and r["attempts"] >= 1 and
                 isinstance(r["last_attempt"], int) and
                 isinstance(r["notify"], list) and
                 re.match(r"4\.\d+\.\d+$", r["status"] or "") and
                 "Connection refused" in (r["diag"] or "") for r in rs),
             "list --json: pending, attempted, 4.x.x status, diag says "
             "Connection refused", rs)

        # Human list, mailq-like.
        o = cli(gw, "queue", "list")
        lines = o.out.splitlines()
        t.ok(o.rc == 0 and len(lines) == 5 and
             re.match(r"QUEUE ID\s+SIZE\s+ARRIVAL\s+NEXT ATTEMPT\s+SENDER",
                      lines[0]) and
             re.match(r"%s\s+%d\s+%s\s+%s\s+%s$" % (
                 qid, rec["size"], ISO, ISO, re.escape(alice)), lines[1]),
             "queue list: header, then id, size, arrival, next attempt, "
             "sender", o)
        for i, addr in enumerate(RCPTS):
            t.ok(len(lines) > 2 + i and re.match(
                r"\s+%s\s+pending\s+attempts [1-9]\d*\s+4\.\d+\.\d+\s+"
                r"\(.*Connection refused.*\)$" % re.escape(addr),
                lines[2 + i]), "queue list: %s pending, attempts, status, "
                "the refusal" % addr, o)
        t.ok(re.match(r"-- %d KB in 1 request$" % ((rec["size"] + 1023)
                                                  // 1024), lines[-1]),
             "queue list: '-- N KB in 1 request' summary", o)

        # show, human and JSON.
        o = cli(gw, "queue", "show", qid)
        fields = dict(re.findall(r"^(\w[\w ()]*?):\s+(.*)$", o.out, re.M))
        t.ok(o.rc == 0 and fields.get("id") == qid and
             fields.get("sender") == alice and fields.get("held") == "no" and
             fields.get("size") == str(rec["size"]) and
             re.match(ISO + "$", fields.get("arrival", "")) and
             re.match(ISO + "$", fields.get("next attempt", "")) and
             fields.get("recipients") == "2",
             "queue show: id, sender, held, size, times, recipients", o)
        t.ok(all(re.search(r"^recipient %d:\s+%s$" % (i + 1, re.escape(a)),
                           o.out, re.M) for i, a in enumerate(RCPTS)) and
             len(re.findall(r"^  state:\s+pending$", o.out, re.M)) == 2 and
             len(re.findall(r"^  diagnostic:\s+.*Connection refused",
                            o.out, re.M)) == 2 and
             len(re.findall(r"^  last attempt:\s+%s$" % ISO, o.out,
                            re.M)) == 2,
             "queue show: each recipient with state, last attempt and "
             "diagnostic", o)
        t.like(o.out, r"(?m)^account:\s+%d \(%s\)$" % (
            rec["account_id"], re.escape(alice)),
            "queue show: the submitting account with its login")
        o = cli(gw, "--json", "queue", "show", qid)
        shown = json.loads(o.out) if o.rc == 0 else None
        t.ok(shown is not None and len(o.out.splitlines()) == 1 and
             shown["id"] == qid and set(shown) == set(rec) and
             [r["address"] for r in shown["recipients"]] == RCPTS,
             "queue show --json: one line, the same object as list --json",
             o)

        # hold: out of the schedule.
        o = cli(gw, "queue", "hold", qid)
        t.ok(o.rc == 0 and o.out == "%s put on hold\n" % qid,
             "queue hold: put on hold", o)
        o = cli(gw, "queue", "hold", qid)
        t.ok(o.rc == 0 and o.out == "%s was already on hold\n" % qid,
             "queue hold twice: already on hold", o)
        o = cli(gw, "queue", "list")
        t.ok(re.search(r"^%s!\s+\d+\s+%s\s+held\s+" % (qid, ISO), o.out,
                       re.M), "queue list: '!' marker and 'held'", o)
        held = record(gw, qid)
        t.ok(held is not None and held["held"] is True,
             "list --json: held true", held)
        o = cli(gw, "queue", "retry", qid)
        t.ok(o.rc == EX_DATAERR and "is on hold" in o.err and o.out == "",
             "queue retry of a held message: refused (exit 65), says "
             "it is on hold", o)
        o = cli(gw, "queue", "retry", "--all")
        t.ok(o.rc == 0 and o.out == "0 messages queued for retry\n"
             "1 held message left on hold (queue release ID to send "
             "them)\n", "queue retry --all: the held message left on hold",
             o)
        time.sleep(3)
        after = record(gw, qid)
        t.ok(after is not None and after["held"] is True and
             attempts(after) == attempts(held),
             "no attempt while held (3 s, retry --all included)",
             "before %r\nafter %r" % (held, after))

        # release: tried again at once.
        before = attempts(after)
        o = cli(gw, "--json", "queue", "release", qid)
        t.ok(o.rc == 0 and json.loads(o.out) == {"id": qid,
                                                 "action": "release",
                                                 "done": 1},
             "queue release --json: {id, action, done: 1}", o)
        rel = wait_for(lambda: attempted(gw, qid, before))
        t.ok(rel is not None and rel["held"] is False,
             "after release: no longer held, attempted again within %ds"
             % ATTEMPT_WAIT, record(gw, qid))

        # retry: tried again at once.
        before = attempts(rel)
        o = cli(gw, "queue", "retry", qid)
        t.ok(o.rc == 0 and o.out == "%s queued for immediate retry\n" % qid,
             "queue retry ID: queued for immediate retry", o)
        again = wait_for(lambda: attempted(gw, qid, before))
        t.ok(again is not None, "after retry: attempted again within %ds"
             % ATTEMPT_WAIT, record(gw, qid))
        before = attempts(again)
        o = cli(gw, "--json", "queue", "retry", "--all")
        t.ok(o.rc == 0 and json.loads(o.out) == {"id": None,
                                                 "action": "retry",
                                                 "done": 1},
             "queue retry --all --json: {id: null, action, done: 1}", o)
        t.ok(wait_for(lambda: attempted(gw, qid, before)) is not None,
             "after retry --all: attempted again within %ds" % ATTEMPT_WAIT,
             record(gw, qid))

        # delete: gone, and nothing more to say about it.
        o = cli(gw, "queue", "delete", qid)
        t.ok(o.rc == 0 and o.out.startswith("%s deleted" % qid),
             "queue delete: deleted", o)
        o = cli(gw, "queue", "list")
        t.ok(o.rc == 0 and o.out == "Mail queue is empty\n",
             "after delete: the queue is empty", o)
        o = cli(gw, "queue", "show", qid)
        t.ok(o.rc == EX_NOUSER and "no such message in the queue" in o.err,
             "after delete: queue show exits 67", o)
        o = cli(gw, "--json", "queue", "delete", qid)
        t.eq(o.rc, EX_NOUSER, "delete twice: exit 67")

        # A second message: delete in JSON form.
        qid2 = submit(gw, alice, pw, RCPTS[:1])
        t.ok(wait_for(lambda: record(gw, qid2)) is not None,
             "a second message is queued", cli(gw, "queue", "list"))
        o = cli(gw, "--json", "queue", "delete", qid2)
        t.ok(o.rc == 0 and json.loads(o.out) == {"id": qid2,
                                                 "action": "delete",
                                                 "done": 1},
             "queue delete --json: {id, action, done: 1}", o)
        t.eq(records(gw), [], "after the second delete: list --json empty")


run_tests(t, test_usage_and_empty_queue, test_queue_lifecycle)
