# SPDX-License-Identifier: MIT
"""The administration CLI `mssgate` against a private gateway: help and
usage errors (sysexits codes), accounts (add with a generated password
printed once or with --password-stdin, aliases, refusals of foreign
domains and taken addresses, list in human and JSON form, passwd, disable
and enable seen by SMTP AUTH, del), the standard mailboxes with their
special-use roles, messages delivered over SMTP listed and shown byte for
byte, `config show --changed` and `check-config`.
"""

import json
import re
import smtplib
import subprocess

from mssgate_test import MSSGATE, Gateway, Tap, run_tests, strip_trace

t = Tap()

EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_CANTCREAT = 73
TIMEOUT = 30

STANDARD_MAILBOXES = {"INBOX": "", "Sent": "\\Sent", "Drafts": "\\Drafts",
                      "Trash": "\\Trash", "Junk": "\\Junk"}


class Out:
    def __init__(self, args, p):
        self.args = args
        self.rc = p.returncode
        self.raw = p.stdout
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")

    def __str__(self):
        return "$ mssgate %s\nexit %s\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.args), self.rc, self.out[-2000:], self.err[-2000:])


def cli(gw, *args, input=None):
    """mssgate with the gateway's configuration (or none when gw is None);
    stdin is empty unless input is given."""
    cmd = [MSSGATE] + (["-c", gw.conf] if gw is not None else []) + \
        list(args)
    p = subprocess.run(cmd, input=input if input is not None else b"",
                       capture_output=True, timeout=TIMEOUT)
    return Out(list(args), p)


def json_lines(o):
    return [json.loads(line) for line in o.out.splitlines()]


def auth_code(gw, login, password):
    """235 when SMTP AUTH succeeds, else the server's code."""
    c = gw.smtp()
    try:
        c.login(login, password)
        return 235
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code
    finally:
        try:
            c.quit()
        except smtplib.SMTPException:
            c.close()


# --- tests -------------------------------------------------------------


def test_help_and_usage():
    o = cli(None, "help")
    t.eq(o.rc, 0, "help: exit 0")
    for cmd in ("user add", "user passwd", "user disable|enable|del",
                "user list", "mailbox list", "message list", "message show",
                "check-config", "config show"):
        t.ok(re.search(r"^\s+%s\b" % re.escape(cmd), o.out, re.M),
             "help lists '%s'" % cmd, o)
    o = cli(None, "frobnicate")
    t.eq(o.rc, EX_USAGE, "unknown command: exit 64 (EX_USAGE)")
    t.like(o.err, r"(?m)^mssgate: unknown command 'frobnicate'$",
           "unknown command: named on stderr")
    t.like(o.err, r"(?m)^usage: mssgate ", "unknown command: usage on stderr")
    o = cli(None)
    t.eq(o.rc, EX_USAGE, "no command: exit 64")
    o = cli(None, "--frobnicate", "help")
    t.ok(o.rc == EX_USAGE and "unknown option --frobnicate" in o.err,
         "unknown option: exit 64, named", o)
    o = cli(None, "user", "rename", "a@b.test")
    t.ok(o.rc == EX_USAGE and re.search(r"^usage: mssgate user add", o.err,
                                        re.M),
         "unknown verb: exit 64 with the group's usage", o)


def test_users():
    with Gateway() as gw:
        gw.start()
        d = gw.domain
        alice, bob = "alice@" + d, "bob@" + d

        # A generated password is printed once and works over SMTP.
        o = cli(gw, "user", "add", alice)
        m = re.search(r"^password: (\S+)$", o.out, re.M)
        t.ok(o.rc == 0 and re.search(r"^created %s \(account \d+\)$"
                                     % re.escape(alice), o.out, re.M) and m,
             "user add: created, generated password printed", o)
        pw_a = m.group(1) if m else ""
        t.ok(len(pw_a) >= 16 and o.out.count(pw_a) == 1 and
             pw_a not in o.err,
             "user add: the generated password appears exactly once", o)
        t.eq(auth_code(gw, alice, pw_a), 235,
             "the generated password authenticates over SMTP")

        # From standard input, with an alias; nothing secret printed.
        pw_b = "Bob-stdin-password-1"
        o = cli(gw, "user", "add", bob, "--password-stdin", "--alias",
                "b.dupont@" + d, input=(pw_b + "\n").encode())
        t.ok(o.rc == 0 and re.search(r"^created %s \(account \d+\)$"
                                     % re.escape(bob), o.out, re.M) and
             "password" not in o.out and pw_b not in o.out + o.err,
             "user add --password-stdin --alias: created, no password "
             "printed", o)
        t.eq(auth_code(gw, bob, pw_b), 235,
             "the --password-stdin password authenticates over SMTP")

        o = cli(gw, "user", "add", "eve@elsewhere.test", "--password-stdin",
                input=b"Secret-password-1\n")
        t.ok(o.rc == EX_DATAERR and re.search(
            r"eve@elsewhere\.test: domain elsewhere\.test is not in "
            r"local_domains", o.err), "user add outside local_domains: "
            "exit 65, named", o)
        o = cli(gw, "user", "add", "eve@" + d, "--alias", "eve@elsewhere.test",
                "--password-stdin", input=b"Secret-password-1\n")
        t.ok(o.rc == EX_DATAERR and "elsewhere.test is not in local_domains"
             in o.err, "user add with an alias outside local_domains: "
             "exit 65", o)
        o = cli(gw, "user", "add", "eve@" + d, "--password-stdin",
                input=b"short\n")
        t.ok(o.rc == EX_DATAERR and "password too short" in o.err,
             "user add with a 5-character password: exit 65", o)
        o = cli(gw, "user", "add", alice.upper(), "--password-stdin",
                input=b"Secret-password-1\n")
        t.ok(o.rc == EX_CANTCREAT and re.search(
            r"%s: an address is already in use" % re.escape(alice), o.err),
            "user add of an existing address (any case): exit 73, named", o)
        o = cli(gw, "user", "add", "carol@" + d, "--alias", "b.dupont@" + d,
                "--password-stdin", input=b"Secret-password-1\n")
        t.ok(o.rc == EX_CANTCREAT and "already in use" in o.err,
             "user add with an alias another account holds: exit 73", o)

        o = cli(gw, "user", "list")
        lines = o.out.splitlines()
        t.ok(o.rc == 0 and len(lines) == 3 and
             re.match(r"ID\s+LOGIN\s+STATE\s+ALIASES$", lines[0]) and
             re.match(r"\d+\s+%s\s+active\s*$" % re.escape(alice), lines[1])
             and re.match(r"\d+\s+%s\s+active\s+b\.dupont@%s$"
                          % (re.escape(bob), re.escape(d)), lines[2]),
             "user list: header, alice, bob with his alias (and no carol)", o)
        o = cli(gw, "--json", "user", "list")
        got = json_lines(o)
        t.eq([(a["login"], a["state"], sorted(a["addresses"])) for a in got],
             [(alice, "active", [alice]),
              (bob, "active", sorted([bob, "b.dupont@" + d]))],
             "user list --json: one object per line, login/state/addresses")
        t.ok(all(isinstance(a.get("id"), int) and
                 isinstance(a.get("created"), int) for a in got),
             "user list --json: numeric id and created", o)

        # passwd: the new password works, the old one no longer.
        pw_b2 = "Bob-new-password-2"
        o = cli(gw, "user", "passwd", bob, "--password-stdin",
                input=(pw_b2 + "\n").encode())
        t.ok(o.rc == 0 and o.out == "password changed for %s\n" % bob,
             "user passwd --password-stdin: changed", o)
        t.eq((auth_code(gw, bob, pw_b2), auth_code(gw, bob, pw_b)),
             (235, 535), "after passwd: new password 235, old one 535")
        o = cli(gw, "user", "passwd", "nobody@" + d, "--password-stdin",
                input=b"Secret-password-1\n")
        t.ok(o.rc == EX_NOUSER and "nobody@%s: no such user" % d in o.err,
             "user passwd of an unknown user: exit 67", o)

        # disable / enable, as SMTP AUTH sees them.
        o = cli(gw, "user", "disable", alice)
        t.ok(o.rc == 0 and o.out == "%s disabled\n" % alice,
             "user disable: done", o)
        o = cli(gw, "--json", "user", "list")
        t.eq({a["login"]: a["state"] for a in json_lines(o)},
             {alice: "disabled", bob: "active"},
             "user list --json shows alice disabled")
        t.eq(auth_code(gw, alice, pw_a), 535,
             "a disabled account fails SMTP AUTH with 535")
        o = cli(gw, "user", "enable", alice)
        t.ok(o.rc == 0 and o.out == "%s enabled\n" % alice,
             "user enable: done", o)
        t.eq(auth_code(gw, alice, pw_a), 235,
             "the enabled account authenticates again")

        # del: the account and its mailboxes are gone.
        o = cli(gw, "user", "del", bob)
        t.ok(o.rc == 0 and o.out == "%s deleted\n" % bob, "user del: done", o)
        o = cli(gw, "mailbox", "list", bob)
        t.ok(o.rc == EX_NOUSER and re.search(r"^mssgate: %s: no such user$"
                                             % re.escape(bob), o.err, re.M),
             "mailbox list of a deleted user: exit 67, no such user", o)
        o = cli(gw, "mailbox", "list", "b.dupont@" + d)
        t.eq(o.rc, EX_NOUSER, "the deleted user's alias resolves no more")
        t.eq(auth_code(gw, bob, pw_b2), 535,
             "a deleted account fails SMTP AUTH")
        o = cli(gw, "user", "del", bob)
        t.ok(o.rc == EX_NOUSER and "no such user" in o.err,
             "user del twice: exit 67", o)
        o = cli(gw, "--json", "user", "list")
        t.eq([a["login"] for a in json_lines(o)], [alice],
             "user list after del: alice only")


def test_mailboxes_and_messages():
    with Gateway() as gw:
        gw.start()
        d = gw.domain
        carol, dave = "carol@" + d, "dave@" + d
        pw = gw.add_user(carol)
        gw.add_user(dave)

        o = cli(gw, "mailbox", "list", dave)
        rows = {}
        for line in o.out.splitlines()[1:]:
            f = line.split()
            rows[f[0]] = f[1] if f[1].startswith("\\") else ""
        t.ok(o.rc == 0 and o.out.startswith("MAILBOX") and
             rows == STANDARD_MAILBOXES,
             "mailbox list: INBOX, Sent, Drafts, Trash, Junk with roles", o)
        o = cli(gw, "--json", "mailbox", "list", dave)
        boxes = json_lines(o)
        t.eq({b["name"]: b["special_use"] for b in boxes}, STANDARD_MAILBOXES,
             "mailbox list --json: special-use roles")
        t.ok(len(boxes) == 5 and all(b["messages"] == 0 and b["uidnext"] == 1
                                     for b in boxes),
             "mailbox list --json: empty mailboxes, uidnext 1", o)

        sent = (b"From: Carol <" + carol.encode() + b">\r\n"
                b"To: <" + dave.encode() + b">\r\n"
                b"Subject: CLI show test\r\n"
                b"Date: Sun, 22 Nov 2026 10:00:00 +0100\r\n"
                b"Message-ID: <cli-show@client.test>\r\n\r\n"
                b"Line one\r\n.line starting with a dot\r\n"
                b"caf\xc3\xa9 8bit\r\n\r\nlast line\r\n")
        c = gw.smtp(login=carol, password=pw)
        try:
            refused = c.sendmail(carol, [dave], sent)
        finally:
            c.quit()
        t.eq(refused, {}, "setup: SMTP delivered to dave")

        o = cli(gw, "--json", "message", "list", dave, "INBOX")
        msgs = json_lines(o)
        t.ok(o.rc == 0 and len(msgs) == 1 and msgs[0]["uid"] == 1,
             "message list --json: one message, UID 1", o)
        o = cli(gw, "message", "list", dave, "INBOX")
        lines = o.out.splitlines()
        t.ok(o.rc == 0 and len(lines) == 2 and
             re.match(r"\s*UID\s+SIZE\s+RECEIVED\s+FLAGS$", lines[0]) and
             re.match(r"\s*1\s+%d\s+\S" % (msgs[0]["size"] if msgs else -1),
                      lines[1]),
             "message list: header and the message's UID and size", o)

        o = cli(gw, "message", "show", dave, "INBOX", "1")
        t.eq(o.rc, 0, "message show: exit 0")
        t.ok(o.raw.startswith(b"Received: ") and
             re.search(rb"by localhost .*with ESMTPSA", o.raw[:600], re.S),
             "message show: the gateway's Received header first", o.raw[:600])
        t.eq(strip_trace(o.raw), sent,
             "message show: the sent bytes, unchanged after the trace header")
        t.eq(len(o.raw), msgs[0]["size"] if msgs else None,
             "message show prints exactly the stored size")
        t.eq(o.err, "", "message show: nothing on stderr")

        o = cli(gw, "message", "show", dave, "INBOX", "99")
        t.ok(o.rc != 0 and o.raw == b"" and re.search(
            r"^mssgate: %s/INBOX: no message with UID 99$" % re.escape(dave),
            o.err, re.M), "message show of an unknown UID: non-zero, "
            "named, nothing on stdout", o)
        t.eq(o.rc, EX_DATAERR, "message show of an unknown UID: exit 65")
        o = cli(gw, "message", "show", dave, "INBOX", "one")
        t.ok(o.rc == EX_USAGE and "one: not a UID" in o.err,
             "message show with a non-numeric UID: exit 64", o)
        o = cli(gw, "message", "list", dave, "Nowhere")
        t.ok(o.rc == EX_DATAERR and "Nowhere: no such mailbox" in o.err,
             "message list of an unknown mailbox: exit 65", o)
        o = cli(gw, "message", "list", "nobody@" + d, "INBOX")
        t.ok(o.rc == EX_NOUSER and "no such user" in o.err,
             "message list of an unknown user: exit 67", o)
        o = cli(gw, "message", "list", carol, "INBOX")
        t.ok(o.rc == 0 and len(o.out.splitlines()) == 1,
             "the sender's INBOX stays empty", o)
        o = cli(gw, "--json", "mailbox", "list", dave)
        t.eq({b["name"]: b["messages"] for b in json_lines(o)},
             {"INBOX": 1, "Sent": 0, "Drafts": 0, "Trash": 0, "Junk": 0},
             "mailbox list --json counts the delivered message")


def test_config_commands():
    with Gateway() as gw:
        o = cli(gw, "config", "show", "--changed")
        want = {k: v for k, v in gw.settings().items()
                if k not in ("hostname", "log_level")}
        want["store_map_size"] = str(1 << 30)
        want["auth_fail_delay"] = "0"
        got = dict(re.findall(r"^(\w+) = (.*)$", o.out, re.M))
        t.ok(o.rc == 0 and got == want and
             len(o.out.splitlines()) == len(want),
             "config show --changed: exactly the changed settings",
             "%s\nwant: %r" % (o, want))
        o = cli(gw, "config", "show")
        full = dict(re.findall(r"^(\w+) = (.*)$", o.out, re.M))
        t.ok(o.rc == 0 and len(full) > len(want) and
             full.get("smtp_max_recipients") == "1000" and
             full.get("tls_min_version") == "TLSv1.2" and
             all(full.get(k) == v for k, v in want.items()),
             "config show: every setting, defaults included", o)
        o = cli(gw, "config", "show", "--everything")
        t.eq(o.rc, EX_USAGE, "config show with a bad option: exit 64")

        o = cli(gw, "check-config")
        t.ok(o.rc == 0 and o.out == "configuration %s is valid (the "
             "development certificate will be created at start)\n" % gw.conf,
             "check-config before the first start: valid, certificate "
             "pending", o)
        gw.start()
        o = cli(gw, "check-config")
        t.ok(o.rc == 0 and o.out == "configuration %s is valid\n" % gw.conf,
             "check-config with the certificate in place: valid", o)
        gw.stop()


run_tests(t, test_help_and_usage, test_users, test_mailboxes_and_messages,
          test_config_commands)
