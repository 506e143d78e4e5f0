# SPDX-License-Identifier: MIT
"""Bad input and limits: unterminated literals, a 1 GB literal announced
(synchronizing: refused before any '+'; non-synchronizing: refused and
its bytes never run as commands), 10,000 nested parentheses, invalid
sequence sets (0, 1:0, garbage, numbers past 2^32, 100,000 ranges),
8-bit bytes and NUL in commands, unknown commands, commands in the wrong
state, overlong lines, APPEND over the size limit, pipelined output
larger than the output buffer, too many SEARCH keys, the failed-login
delay and the login timeout. After each, the daemon is still up and a
session opened beforehand still works.

Error texts are not fixed by the RFCs: only the status (BAD, NO, BYE) and
the presence of a readable text are checked. Limits that are mssgate
settings run on mssgate only.
"""

import re
import socket
import ssl
import time

from mssgate_test import Tap
from imap_target import (MSSGATE, Lit, Resp, human_text, make_message,
                         mssgate_only, quote, run, start_target, status_items,
                         MssgateTarget)

t = Tap()
T = start_target()
USER, PW = T.new_user("err")
T.append(USER, make_message("a@b.example", USER, "one"))
T.append(USER, make_message("a@b.example", USER, "two"))
GOOD = T.session(USER, PW, select="INBOX")   # the bystander


def attempt(conn, data, tag=b"X1", timeout=8):
    """Send raw bytes; return a Resp for the first answer: the tagged
    response for tag, an untagged BAD ('*BAD'), a BYE, a continuation
    ('+'), EOF or TIMEOUT."""
    seen = []
    try:
        conn.send(data)
    except (OSError, ssl.SSLError):
        # The server hung up before taking all of it: what did it say?
        try:
            while True:
                seen.append(conn.read_response(1))
        except Exception:  # noqa: BLE001 - closed
            pass
        byes = [s for s in seen if s.upper().startswith(b"* BYE")]
        if byes:
            return Resp(tag.decode(), "BYE", byes[-1][6:].decode(
                "utf-8", "replace"), seen)
        return Resp(tag.decode(), "EOF", "", seen)
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            return Resp(tag.decode(), "TIMEOUT", "", seen)
        try:
            line = conn.read_response(left)
        except EOFError:
            byes = [s for s in seen if s.upper().startswith(b"* BYE")]
            if byes:
                return Resp(tag.decode(), "BYE", byes[-1][6:].decode(
                    "utf-8", "replace"), seen)
            return Resp(tag.decode(), "EOF", "", seen)
        except (socket.timeout, OSError):
            return Resp(tag.decode(), "TIMEOUT", "", seen)
        seen.append(line)
        if line.startswith(tag + b" "):
            st, _, text = line[len(tag) + 1:].decode(
                "utf-8", "replace").partition(" ")
            return Resp(tag.decode(), st.upper(), text, seen[:-1], line)
        if line.upper().startswith(b"* BYE"):
            return Resp(tag.decode(), "BYE", line[6:].decode(
                "utf-8", "replace"), seen)
        if line.upper().startswith(b"* BAD"):
            return Resp(tag.decode(), "*BAD", line[6:].decode(
                "utf-8", "replace"), seen)
        if line.startswith(b"+"):
            return Resp(tag.decode(), "+", line.decode(), seen)


def bystander(what):
    """The daemon is up and the session opened at the start still works."""
    ok = T.alive()
    resp = GOOD.cmd("NOOP", timeout=10)
    t.ok(ok and resp.status == "OK",
         "after %s: daemon up, other session unaffected" % what,
         (ok, resp))


def selected():
    return T.session(USER, PW, select="INBOX")


def test_unterminated_literal():
    before = status_items(GOOD.cmd("STATUS INBOX (MESSAGES)"))
    r = T.session(USER, PW)
    resp = attempt(r, b"X1 APPEND INBOX {100}\r\n")
    t.eq(resp.status, "+", "APPEND {100}: continuation")
    r.send(b"From: x\r\n")
    r.close()
    time.sleep(0.3)
    t.eq(status_items(GOOD.cmd("STATUS INBOX (MESSAGES)")), before,
         "the unfinished APPEND stored nothing")
    r = T.raw()
    resp = attempt(r, b"X1 LOGIN {100}\r\n")
    t.ok(resp.status in ("+", "BAD", "NO", "BYE"),
         "LOGIN {100} before authentication: '+' or refused", resp)
    r.send(b"abc")
    r.close()
    r = T.raw(tls=False)
    r.send(b"X1 LOGIN {5}\r\nab")
    r.close()
    bystander("unterminated literals")


def test_huge_literals():
    r = T.session(USER, PW)
    resp = attempt(r, b"X1 APPEND INBOX {1073741824}\r\n")
    t.ok(resp.status in ("NO", "BAD"),
         "APPEND with a 1 GB synchronizing literal: NO or BAD, no '+'",
         resp)
    t.ok(human_text(resp), "1 GB literal: a text says why", resp)
    t.eq(r.cmd("NOOP").status, "OK", "the session goes on after the refusal")
    r.close()
    r = T.raw()
    resp = attempt(r, b"X1 LOGIN {1073741824}\r\n")
    t.ok(resp.status in ("NO", "BAD", "BYE"),
         "1 GB literal before login: refused, no '+'", resp)
    r.close()
    r = T.session(USER, PW)
    resp = attempt(r, b"X1 APPEND INBOX {1073741824+}\r\nX2 NOOP\r\n")
    t.ok(resp.status in ("NO", "BAD", "BYE"),
         "1 GB non-synchronizing literal: refused", resp)
    if mssgate_only(t, "1 GB non-synchronizing literal: BAD or BYE",
                    "Dovecot says NO [LIMIT] and skips the bytes"):
        t.ok(resp.status in ("BAD", "BYE"),
             "1 GB non-synchronizing literal: BAD or BYE", resp)
    t.ok(human_text(resp) or resp.status == "BYE",
         "non-synchronizing refusal: a text", resp)
    later = r.read_untagged(1.5)
    t.eq([x for x in later if x.startswith(b"X2 ")], [],
         "the literal's bytes are never run as a command")
    r.close()
    bystander("1 GB literals")


def test_append_size_limit():
    r = T.session(USER, PW)
    limit = 25 * 1024 * 1024
    resp = attempt(r, b"X1 APPEND INBOX {%d}\r\n" % (limit + 1))
    t.ok(resp.status in ("NO", "BAD"),
         "APPEND one octet over 25 MB: refused before any '+'", resp)
    t.ok(resp.status == "NO" and resp.code is not None and
         re.match(r"(TOOBIG|LIMIT)", resp.code) or resp.status == "BAD",
         "size refusal: NO [TOOBIG]/[LIMIT] or BAD", resp)
    resp = attempt(r, b"X2 APPEND INBOX {%d}\r\n" % 20, tag=b"X2")
    t.eq(resp.status, "+", "a small APPEND still gets its '+'")
    r.send(b"Subject: s\r\n\r\nhello!\r\n")
    resp = r.wait_tagged("X2")
    t.eq(resp.status, "OK", "the small APPEND is stored")
    r.logout()
    bystander("APPEND over the limit")


def test_nesting():
    r = selected()
    deep = b"(" * 10000 + b"ALL" + b")" * 10000
    resp = attempt(r, b"X1 SEARCH " + deep + b"\r\n", timeout=20)
    t.ok(resp.status in ("OK", "NO", "BAD", "BYE"),
         "SEARCH with 10,000 nested parentheses: answered", resp)
    if mssgate_only(t, "10,000 nested parentheses: BAD or BYE",
                    "Dovecot has no nesting limit and answers OK"):
        t.ok(resp.status in ("BAD", "BYE") and
             (human_text(resp) or resp.status == "BYE"),
             "10,000 nested parentheses: BAD or BYE with a text", resp)
    r.close()
    r = selected()
    resp = attempt(r, b"X1 FETCH 1 " + b"(" * 10000 + b"\r\n", timeout=20)
    t.ok(resp.status in ("BAD", "BYE"),
         "FETCH with 10,000 unclosed parentheses: BAD or BYE", resp)
    r.close()
    r = T.raw()
    resp = attempt(r, b"X1 LOGIN " + b"(" * 10000 + b"\r\n", timeout=20)
    t.ok(resp.status in ("BAD", "BYE", "*BAD"),
         "10,000 parentheses before login: BAD or BYE", resp)
    r.close()
    if MSSGATE:
        r = selected()
        resp = r.cmd("SEARCH " + "(" * 40 + "ALL" + ")" * 40)
        t.ok(resp.status in ("BAD", "NO") and human_text(resp),
             "40 levels (over imap_max_nesting 32): refused with a text",
             resp)
        resp = r.cmd("SEARCH " + "(" * 20 + "ALL" + ")" * 20)
        t.eq(resp.status, "OK", "20 levels: OK")
        r.close()
    else:
        mssgate_only(t, "40 levels (over imap_max_nesting 32): refused")
        mssgate_only(t, "20 levels: OK")
    bystander("deep nesting")


def test_sequence_sets():
    # A fresh session for every few errors: servers may (and Dovecot does)
    # hang up on a client after many BAD commands in a row.
    for s in ("0", "1:0", "0:*", "garbage", "1:abc", "4294967296", "1,,2",
              "1:2:3", "-1", "1.5", "", "*:*:1"):
        r = selected()
        for cmd in ("FETCH %s (FLAGS)", "UID FETCH %s (FLAGS)"):
            c = cmd % s
            resp = r.cmd(c)
            t.eq(resp.status, "BAD", "%s: BAD" % c)
        r.close()
    r = selected()
    resp = r.cmd("FETCH 1, (FLAGS)")
    if mssgate_only(t, "FETCH 1, (trailing comma): BAD",
                    "Dovecot tolerates a trailing comma"):
        t.eq(resp.status, "BAD", "FETCH 1, (trailing comma): BAD")
    resp = r.cmd("FETCH 1000 (FLAGS)")
    t.eq(resp.status, "BAD", "FETCH 1000 of a few messages: BAD")
    resp = r.cmd("FETCH 99999999999999999999 (FLAGS)")
    t.eq(resp.status, "BAD", "FETCH of a 20-digit number: BAD")
    resp = r.cmd("UID FETCH 4294967295 (FLAGS)")
    t.eq(resp.status, "OK", "UID FETCH 4294967295 (largest UID): OK")
    resp = r.cmd("UID FETCH 99999999999999999999 (FLAGS)")
    if mssgate_only(t, "UID FETCH of a 20-digit number: BAD",
                    "Dovecot clamps it and answers OK"):
        t.eq(resp.status, "BAD", "UID FETCH of a 20-digit number: BAD")
    r.close()
    r = selected()
    for c in ("STORE 0 +FLAGS (\\Seen)", "UID STORE 0 +FLAGS (\\Seen)",
              "COPY 0 INBOX", "UID COPY 0:1 INBOX", "SEARCH 0",
              "UID SEARCH UID 0", "UID EXPUNGE 0"):
        t.eq(r.cmd(c).status, "BAD", "%s: BAD" % c)
    r.close()
    r = selected()
    many = ",".join(str(i * 2 + 1) for i in range(100000))
    resp = attempt(r, ("X9 UID FETCH %s (FLAGS)\r\n" % many).encode(),
                   tag=b"X9", timeout=20)
    t.ok(resp.status in ("BAD", "BYE"),
         "100,000 ranges in one set: BAD or BYE", resp)
    t.ok(human_text(resp) or resp.status == "BYE",
         "100,000 ranges: a text", resp)
    r.close()
    r = selected()
    if MSSGATE:
        # Under the line limit but over any sane range count.
        few = ",".join(str(i * 2 + 1) for i in range(8000))
        resp = r.cmd("UID FETCH %s (FLAGS)" % few, timeout=20)
        t.ok(resp.status in ("OK", "BAD"),
             "8,000 ranges: answered (OK, or BAD over the range limit)",
             resp)
    else:
        mssgate_only(t, "8,000 ranges: answered")
    r.close()
    bystander("invalid sequence sets")


def test_8bit_and_nul():
    r = selected()
    for data, why in ((b"X1 SELECT \xe9t\xe9\r\n", "8-bit atom"),
                      (b"X1 NO\xe9OP\r\n", "8-bit command name"),
                      (b"X1 NO\x00OP\r\n", "NUL in the command name"),
                      (b"X1 FETCH 1 (FL\xc3\xa9GS)\r\n", "8-bit fetch item"),
                      (b"X1 SEARCH SUBJECT \xff\xfe\r\n",
                       "8-bit search atom")):
        resp = attempt(r, data)
        t.ok(resp.status in ("BAD", "BYE"), "%s: BAD or BYE" % why, resp)
        t.ok(human_text(resp) or resp.status == "BYE",
             "%s: a text" % why, resp)
        if resp.status == "BYE":
            r.close()
            r = selected()
    resp = attempt(r, b"\xe9A NOOP\r\n")
    t.ok(resp.status in ("*BAD", "BAD", "BYE"),
         "8-bit tag: BAD (untagged) or BYE", resp)
    if resp.status == "BYE":
        r.close()
        r = selected()
    resp = attempt(r, b'X1 SELECT "\xe9t\xe9"\r\n')
    t.ok(resp.status in ("BAD", "NO"),
         "8-bit quoted string: refused", resp)
    if mssgate_only(t, "8-bit quoted string: BAD (quoted is 7-bit)",
                    "Dovecot takes it as UTF-8 and says NO"):
        t.eq(resp.status, "BAD", "8-bit quoted string: BAD (RFC 3501 "
             "quoted strings are 7-bit)")
    resp = attempt(r, b"X1 NOOP \xff\xfe\r\n")
    if mssgate_only(t, "NOOP with 8-bit arguments: BAD",
                    "Dovecot ignores NOOP's arguments"):
        t.eq(resp.status, "BAD", "NOOP with 8-bit arguments: BAD")
    resp = attempt(r, b'X1 SELECT "IN\x00BOX"\r\n')
    t.ok(resp.status in ("BAD", "NO"), "NUL in a quoted string: refused",
         resp)
    r.close()
    r = T.raw()
    resp = attempt(r, b"X1 LOGIN \xe9 x\r\n")
    t.ok(resp.status in ("BAD", "NO", "BYE"),
         "8-bit LOGIN before authentication: refused", resp)
    r.close()
    bystander("8-bit bytes")


def test_unknown_and_wrong_state():
    r = selected()
    resp = r.cmd("FROBNICATE")
    t.eq(resp.status, "BAD", "unknown command: BAD")
    t.ok(human_text(resp), "unknown command: a text", resp)
    resp = attempt(r, b"X1\r\n")
    t.eq(resp.status, "BAD", "a tag without a command: BAD")
    resp = attempt(r, b"\r\n", timeout=2)
    t.ok(resp.status in ("*BAD", "BYE", "TIMEOUT"),
         "an empty line: * BAD, or ignored", resp)
    t.ok(resp.status == "BYE" or r.cmd("NOOP").ok,
         "the session goes on after an empty line", resp)
    if resp.status == "BYE":
        r.close()
        r = selected()
    resp = attempt(r, b"* NOOP\r\n")
    t.ok(resp.status in ("*BAD", "BYE"), "'*' as a tag: * BAD", resp)
    if resp.status == "BYE":
        r.close()
        r = selected()
    resp = attempt(r, b"x1 noop\r\n", tag=b"x1")
    t.eq(resp.status, "OK", "command names are case-insensitive")
    resp = attempt(r, b"X1 NOOP\n")
    t.ok(resp.status in ("OK", "BAD"), "bare LF line end: OK or BAD", resp)
    r.close()
    for c in ("SELECT INBOX", "CREATE x", "FETCH 1 FLAGS", "LIST \"\" *",
              "APPEND INBOX {1+}\r\nx"):
        r = T.raw()
        resp = attempt(r, ("X1 %s\r\n" % c).encode())
        t.ok(resp.status in ("BAD", "NO"),
             "%s before login: BAD" % c.split()[0], resp)
        if MSSGATE:
            t.eq(resp.status, "BAD", "%s before login is BAD (not NO)" %
                 c.split()[0])
        r.close()
    r = T.session(USER, PW)
    for c in ("FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL",
              "COPY 1 INBOX", "EXPUNGE", "CLOSE", "UID FETCH 1 FLAGS",
              "MOVE 1 INBOX"):
        t.eq(r.cmd(c).status, "BAD", "%s without a selected mailbox: BAD" %
             c)
    r.logout()
    bystander("unknown commands and wrong states")


def test_overlong_lines():
    r = selected()
    resp = attempt(r, b"X1 SELECT " + b"x" * 100000 + b"\r\n", timeout=10)
    t.ok(resp.status in ("BAD", "BYE"), "100 KB command line: BAD or BYE",
         resp)
    t.ok(human_text(resp) or resp.status == "BYE",
         "100 KB line: a text", resp)
    r.close()
    r = selected()
    resp = attempt(r, b"X1 SELECT " + b"x" * 300000, timeout=10)
    t.ok(resp.status in ("BAD", "BYE", "EOF"),
         "300 KB without a line end: refused without waiting for it", resp)
    r.close()
    r = selected()
    resp = attempt(r, b"X1 LIST \"\" " + b"%" * 70000 + b"\r\n", timeout=20)
    t.ok(resp.status in ("BAD", "*BAD", "BYE", "NO", "OK"),
         "LIST with a 70,000-character pattern: answered", resp)
    r.close()
    if MSSGATE:
        r = selected()
        resp = r.cmd("SEARCH " + " ".join(["SEEN"] * 2000))
        t.ok(resp.status in ("BAD", "NO") and human_text(resp),
             "2,000 SEARCH keys (over imap_max_search_keys 1000): "
             "refused with a text", resp)
        resp = r.cmd("SEARCH " + " ".join(["UNDELETED"] * 500))
        t.eq(resp.status, "OK", "500 SEARCH keys: OK")
        r.close()
    else:
        mssgate_only(t, "2,000 SEARCH keys refused")
        mssgate_only(t, "500 SEARCH keys: OK")
    bystander("overlong lines")


def test_output_buffering():
    user, pw = T.new_user("big")
    big = make_message("a@b.example", user, "big",
                       body=(b"0123456789abcdef" * 4 + b"\r\n") * 15000)
    T.append(user, big)
    r = T.session(user, pw, select="INBOX")
    n = 25
    r.send(b"".join(b"B%d FETCH 1 (BODY.PEEK[])\r\n" % i for i in range(n)))
    time.sleep(1.5)   # the client reads nothing: the server must wait
    start = time.time()
    resp = GOOD.cmd("NOOP", timeout=10)
    dt = time.time() - start
    t.ok(resp.ok and dt < 2,
         "a session is served while another does not read its %d MB" %
         (n * len(big) // 1000000), (resp, dt))
    got = 0
    sizes = []
    deadline = time.time() + 60
    while got < n and time.time() < deadline:
        line = r.read_response(30)
        m = re.match(rb"\* 1 FETCH \(BODY\[\] \{(\d+)\}", line)
        if m:
            sizes.append(int(m.group(1)))
        if re.match(rb"B\d+ OK", line):
            got += 1
    t.eq(got, n, "all %d pipelined FETCHes answered once read" % n)
    t.eq(sizes, [len(big)] * n, "each with the whole message")
    r.logout()
    bystander("a slow reader")


def test_login_delay_and_timeout():
    if not MSSGATE:
        for name in ("failed LOGIN delayed", "successful LOGIN not delayed",
                     "others served during the delay",
                     "pre-login timeout: BYE", "connection closed"):
            mssgate_only(t, name, "mssgate settings (auth_fail_delay, "
                         "imap_timeout_auth)")
        return
    # A long delay keeps the checks meaningful on a loaded machine, where
    # one Argon2id check may itself take most of a second.
    g = MssgateTarget(extra={"auth_fail_delay": "3s",
                             "imap_timeout_auth": "2s"}).start()
    try:
        user, pw = g.new_user("delay")
        r = g.raw()
        start = time.time()
        resp = r.cmd("LOGIN %s %s" % (quote(user), quote("wrong")))
        dt = time.time() - start
        t.ok(resp.status == "NO" and dt >= 2.8,
             "failed LOGIN answered NO after the delay (%.2f s)" % dt, resp)
        other = g.raw()
        start = time.time()
        tag = r.send_cmd("LOGIN %s %s" % (quote(user), quote("wrong2")))
        time.sleep(0.1)
        resp2 = other.cmd("LOGIN %s %s" % (quote(user), quote(pw)))
        dt2 = time.time() - start
        r.wait_tagged(tag)
        t.ok(resp2.ok and dt2 < 2.5,
             "successful LOGIN not delayed (%.2f s)" % dt2, resp2)
        t.ok(other.cmd("NOOP").ok,
             "others served during a session's delay")
        other.logout()
        r.close()
        r = g.raw(tls=False)
        start = time.time()
        closed = r.closed(timeout=10)
        dt = time.time() - start
        t.ok(b"* BYE" in r.buf.upper() or closed,
             "pre-login timeout: BYE", r.buf)
        t.ok(closed and 1.5 <= dt <= 8,
             "connection closed by the 2 s login timeout (%.1f s)" % dt)
        r.close()
    finally:
        g.gw.stop()
        g.stop()


def test_literal_in_every_string_position():
    # Literals are strings everywhere a string is: mailbox names, search
    # strings, LIST patterns.
    r = selected()
    resp = r.cmd(["STATUS ", Lit("INBOX"), " (MESSAGES)"])
    t.eq(resp.status, "OK", "STATUS with a literal mailbox name")
    resp = r.cmd(["LIST ", Lit(""), " ", Lit("IN*")])
    t.ok(resp.ok and any("INBOX" in l for l in resp.lines()),
         "LIST with literal reference and pattern", resp)
    resp = r.cmd(["SEARCH SUBJECT ", Lit("one", plus=True)])
    t.eq(resp.search(), [1], "SEARCH with a LITERAL+ string")
    resp = r.cmd(["SELECT ", Lit("INBOX", plus=True)])
    t.eq(resp.status, "OK", "SELECT with a LITERAL+ name")
    r.logout()


run(t, T, test_unterminated_literal, test_huge_literals,
    test_append_size_limit, test_nesting, test_sequence_sets,
    test_8bit_and_nul, test_unknown_and_wrong_state, test_overlong_lines,
    test_output_buffering, test_login_delay_and_timeout,
    test_literal_in_every_string_position)
