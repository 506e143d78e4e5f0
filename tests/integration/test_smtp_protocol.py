# SPDX-License-Identifier: MIT
"""SMTP submission rules and error paths, byte by byte on real sockets:
no AUTH or mail before STARTTLS (530 5.7.0), wrong password (535 5.7.8),
foreign MAIL FROM and foreign From: header (5.7.1), unknown recipient
(550 5.1.1), other domains (550 5.7.1), SIZE (552 5.3.4), bare LF/CR in
DATA and in commands, 1,001-octet command lines (500 5.5.2), STARTTLS
plaintext injection, sequencing errors, limits on recipients and errors,
timeouts, and every other command of the submission server.
"""

import socket
import time

from mssgate_test import Gateway, Tap, run_tests, login_plain

t = Tap()
gw = Gateway(extra={"smtp_max_recipients": "3",
                    "smtp_max_message_size": "64k"})
gw.start()
ALICE = "alice@" + gw.domain
BOB = "bob@" + gw.domain
PW = gw.add_user(ALICE)
gw.add_user(BOB)
gw.add_user("off@" + gw.domain)
gw.cli("user", "disable", "off@" + gw.domain, check=True)


def plain_session():
    r = gw.raw()
    r.reply()
    r.cmd("EHLO client.test")
    return r


def tls_session(auth=True):
    r = plain_session()
    r.starttls(gw.ssl_context())
    r.cmd("EHLO client.test")
    if auth:
        code, _ = r.cmd("AUTH PLAIN " + login_plain(ALICE, PW))
        assert code == 235, code
    return r


def count(user=BOB):
    return len(gw.messages(user))


def test_greeting_and_ehlo():
    r = gw.raw()
    t.like(r.text(), r"^220 localhost ESMTP", "220 greeting")
    code, lines = r.cmd("EHLO client.test")
    t.eq(code, 250, "EHLO 250")
    t.ok("STARTTLS" in lines, "STARTTLS advertised before TLS", lines)
    t.ok(not any(l.startswith("AUTH") for l in lines),
         "AUTH not advertised before TLS", lines)
    for ext in ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
                "CHUNKING"):
        t.ok(ext in lines, ext + " advertised", lines)
    t.like(r.cmd("HELO")[1][0], r"^5\.5\.4 Syntax",
           "HELO without a name refused")
    code, lines = r.cmd("EHLO")
    t.eq(code, 501, "EHLO without a name: 501")
    r.starttls(gw.ssl_context())
    code, lines = r.cmd("EHLO client.test")
    t.ok("STARTTLS" not in lines and "AUTH PLAIN LOGIN" in lines,
         "after TLS: AUTH PLAIN LOGIN offered, STARTTLS no more", lines)
    t.like("%d %s" % r.cmd("STARTTLS"),
           r"^503 .*TLS already active", "second STARTTLS refused")
    r.close()


def test_before_tls():
    r = plain_session()
    t.like("%d %s" % r.cmd("AUTH PLAIN " + login_plain(ALICE, PW)),
           r"^530 \['5\.7\.0 Must issue a STARTTLS command first'\]",
           "AUTH before STARTTLS: 530 5.7.0")
    t.like("%d %s" % r.cmd("MAIL FROM:<%s>" % ALICE),
           r"^530 \['5\.7\.0 ", "MAIL before STARTTLS: 530 5.7.0")
    t.like("%d %s" % r.cmd("RCPT TO:<%s>" % BOB), r"^530 ",
           "RCPT before STARTTLS: 530")
    t.like("%d %s" % r.cmd("DATA"), r"^530 ", "DATA before STARTTLS: 530")
    t.eq(r.cmd("NOOP")[0], 250, "NOOP allowed before TLS")
    t.eq(r.cmd("RSET")[0], 250, "RSET allowed before TLS")
    t.eq(r.cmd("QUIT")[0], 221, "QUIT: 221")
    t.ok(r.closed(), "connection closed after QUIT")


def test_implicit_tls_port():
    r = gw.raw(implicit=True)
    t.eq(r.reply()[0], 220, "implicit TLS: greeting after the handshake")
    code, lines = r.cmd("EHLO client.test")
    t.ok("STARTTLS" not in lines and "AUTH PLAIN LOGIN" in lines,
         "implicit TLS: AUTH offered at once, no STARTTLS", lines)
    r.close()


def test_auth():
    r = tls_session(auth=False)
    t.like("%d %s" % r.cmd("AUTH PLAIN " + login_plain(ALICE, "wrong")),
           r"^535 \['5\.7\.8 ", "wrong password: 535 5.7.8")
    t.like("%d %s" % r.cmd("AUTH PLAIN " + login_plain("nobody@" + gw.domain,
                                                       "x")),
           r"^535 \['5\.7\.8 ", "unknown user: 535 5.7.8")
    t.like("%d %s" % r.cmd("AUTH CRAM-MD5"), r"^504 ",
           "unknown mechanism: 504")
    t.like("%d %s" % r.cmd("AUTH PLAIN not-base64!"), r"^501 ",
           "undecodable response: 501")
    t.eq(r.cmd("AUTH PLAIN")[0], 334, "PLAIN without initial response: 334")
    t.like("%d %s" % r.cmd("*"), r"^501 \['5\.7\.0 ",
           "'*' cancels the exchange: 501 5.7.0")
    import base64
    other = base64.b64encode(("%s\0%s\0%s" % (BOB, ALICE, PW))
                             .encode()).decode()
    t.eq(r.cmd("AUTH PLAIN " + other)[0], 535,
         "authorization identity of someone else refused")
    t.eq(r.cmd("AUTH LOGIN")[0], 334, "LOGIN: username prompt")
    t.eq(r.cmd(base64.b64encode(ALICE.encode()).decode())[0], 334,
         "LOGIN: password prompt")
    t.eq(r.cmd(base64.b64encode(PW.encode()).decode())[0], 235,
         "LOGIN: 235")
    t.like("%d %s" % r.cmd("AUTH PLAIN " + login_plain(ALICE, PW)),
           r"^503 .*already authenticated", "second AUTH: 503")
    r.close()
    # disabled account cannot log in
    r = tls_session(auth=False)
    gw.cli("user", "passwd", "off@" + gw.domain, "--password-stdin",
           input=b"Secret-password-2\n", check=True)
    t.eq(r.cmd("AUTH PLAIN " + login_plain("off@" + gw.domain,
                                           "Secret-password-2"))[0], 535,
         "disabled account: 535")
    r.close()


def test_mail_rules():
    r = tls_session(auth=False)
    t.like("%d %s" % r.cmd("MAIL FROM:<%s>" % ALICE),
           r"^530 \['5\.7\.0 Authentication required",
           "MAIL without AUTH: 530 5.7.0")
    r.cmd("AUTH PLAIN " + login_plain(ALICE, PW))
    t.like("%d %s" % r.cmd("MAIL FROM:<%s>" % BOB),
           r"^553 \['5\.7\.1 <%s>: Sender address rejected" % BOB,
           "foreign MAIL FROM: 553 5.7.1")
    t.like("%d %s" % r.cmd("RCPT TO:<%s>" % BOB), r"^503 .*need MAIL",
           "RCPT before MAIL: 503")
    t.like("%d %s" % r.cmd("DATA"), r"^503 ", "DATA before MAIL: 503")
    t.like("%d %s" % r.cmd("MAIL FROM:%s" % ALICE), r"^501 ",
           "MAIL without angle brackets: 501")
    t.like("%d %s" % r.cmd("MAIL FROM:<%s> SIZE=99999999" % ALICE),
           r"^552 \['5\.3\.4 ", "MAIL SIZE over the limit: 552 5.3.4")
    t.like("%d %s" % r.cmd("MAIL FROM:<%s> FOO=BAR" % ALICE), r"^555 ",
           "unknown MAIL parameter: 555")
    t.eq(r.cmd("MAIL FROM:<%s> SIZE=1000 BODY=8BITMIME" % ALICE)[0], 250,
         "MAIL with SIZE and BODY")
    t.like("%d %s" % r.cmd("MAIL FROM:<%s>" % ALICE), r"^503 .*nested",
           "nested MAIL: 503")
    t.like("%d %s" % r.cmd("DATA"), r"^554 .*no valid recipients",
           "DATA without recipients: 554")
    t.like("%d %s" % r.cmd("RCPT TO:<nobody@%s>" % gw.domain),
           r"^550 \['5\.1\.1 <nobody@%s>: Recipient address rejected"
           % gw.domain, "unknown local recipient: 550 5.1.1")
    t.like("%d %s" % r.cmd("RCPT TO:<off@%s>" % gw.domain),
           r"^550 \['5\.2\.1 ", "disabled mailbox: 550 5.2.1")
    t.like("%d %s" % r.cmd("RCPT TO:<someone@other-operator.test>"),
           r"^550 \['5\.7\.1 <someone@other-operator\.test>: Recipient "
           r"address rejected: domain not in the MSSante trust space",
           "domain outside the trust space: 550 5.7.1 with a clear text")
    t.like("%d %s" % r.cmd("RCPT TO:<bad address@%s>" % gw.domain),
           r"^501 ", "bad recipient syntax: 501")
    t.like("%d %s" % r.cmd("RCPT TO:<%s> FOO=BAR" % BOB), r"^555 ",
           "unsupported RCPT parameter: 555")
    for _ in range(3):
        t.eq(r.cmd("RCPT TO:<%s>" % BOB)[0], 250, "RCPT within the limit")
    t.like("%d %s" % r.cmd("RCPT TO:<%s>" % BOB), r"^452 \['4\.5\.3 ",
           "too many recipients: 452 4.5.3")
    t.eq(r.cmd("RSET")[0], 250, "RSET")
    t.like("%d %s" % r.cmd("RCPT TO:<%s>" % BOB), r"^503 ",
           "RSET ends the transaction")
    r.close()


def send_data(r, body, frm=ALICE):
    r.cmd("MAIL FROM:<%s>" % frm)
    r.cmd("RCPT TO:<%s>" % BOB)
    code, _ = r.cmd("DATA")
    assert code == 354, code
    r.send(body)
    return r.text()


def test_from_header_rules():
    before = count()
    r = tls_session()
    reply = send_data(r, ("From: %s\r\nSubject: x\r\n\r\nhi\r\n.\r\n" % BOB)
                      .encode())
    t.like(reply, r"^550 5\.7\.1 Error: From header address <%s> is not "
           r"owned" % BOB, "foreign From: header: 550 5.7.1")
    reply = send_data(r, ("From: %s\r\nFrom: %s\r\n\r\nhi\r\n.\r\n"
                          % (ALICE, ALICE)).encode())
    t.like(reply, r"^550 5\.6\.0 .*more than one From",
           "two From headers refused")
    reply = send_data(r, ("From: Alice <%s>, Bob <%s>\r\n\r\nhi\r\n.\r\n"
                          % (ALICE, BOB)).encode())
    t.like(reply, r"^550 5\.7\.1 ", "From listing a foreign address too")
    reply = send_data(r, b"From: %s\r\nthis is not a header\r\n\r\nx\r\n.\r\n"
                      % ALICE.encode())
    t.like(reply, r"^550 5\.6\.0 .*malformed header",
           "malformed header line refused")
    reply = send_data(r, b"From: <<<\r\n\r\nx\r\n.\r\n")
    t.like(reply, r"^550 5\.7\.1 ", "unparsable From refused")
    t.eq(count(), before, "nothing refused was stored")
    reply = send_data(r, ("From: =?utf-8?q?Dr_Alice_Martin?= <%s>\r\n\r\n"
                          "ok\r\n.\r\n" % ALICE.upper()).encode())
    t.like(reply, r"^250 2\.0\.0 ", "own address in From (any case) accepted")
    t.eq(count(), before + 1, "accepted message stored")
    r.close()


def test_size_limit():
    before = count()
    r = tls_session()
    big = b"From: " + ALICE.encode() + b"\r\n\r\n" + \
        (b"x" * 998 + b"\r\n") * 70 + b".\r\n"
    t.like(send_data(r, big), r"^552 5\.3\.4 ",
           "message over the size limit: 552 5.3.4")
    t.eq(r.cmd("NOOP")[0], 250, "session continues after 552")
    r.send(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nBDAT 70000 LAST\r\n" %
           (ALICE.encode(), BOB.encode()) + b"y" * 70000)
    got = [r.reply()[0] for _ in range(3)]
    t.eq(got, [250, 250, 552], "BDAT chunk over the limit: 552, stream kept")
    t.eq(r.cmd("NOOP")[0], 250, "in sync after the refused chunk")
    t.eq(count(), before, "nothing stored")
    r.close()


def test_bare_lf_in_data():
    before = count()
    r = tls_session()
    reply = send_data(r, ("From: %s\r\n\r\nline one\nline two\r\n.\r\n"
                          % ALICE).encode())
    t.like(reply, r"^554 5\.5\.2 .*bare <CR> or <LF>",
           "bare LF in DATA refused")
    t.ok(r.closed(), "connection closed after a bare LF in DATA")
    r = tls_session()
    # The classic smuggling payload: "\n.\n" then a second transaction.
    smuggle = ("From: %s\r\n\r\nhello\n.\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
               "DATA\r\nFrom: %s\r\n\r\nsmuggled\r\n.\r\n"
               % (ALICE, ALICE, BOB, ALICE)).encode()
    reply = send_data(r, smuggle)
    t.like(reply, r"^554 5\.5\.2 ", "smuggling attempt refused")
    r = tls_session()
    reply = send_data(r, ("From: %s\r\n\r\nbare\rcr\r\n.\r\n" % ALICE)
                      .encode())
    t.like(reply, r"^554 5\.5\.2 ", "bare CR in DATA refused")
    t.eq(count(), before, "nothing stored from refused DATA")


def test_command_lines():
    r = plain_session()
    t.like("%d %s" % r.cmd("NOOP " + "x" * 993), r"^250 ",
           "a 1,000-octet command line (CRLF included) is accepted")
    t.like("%d %s" % r.cmd("NOOP " + "x" * 994),
           r"^500 \['5\.5\.2 Error: line too long",
           "a 1,001-octet command line: 500 5.5.2")
    t.eq(r.cmd("NOOP")[0], 250, "session continues after a long line")
    r.send("NOOP " + "y" * 20000 + "\r\n")
    t.like(r.text(), r"^500 5\.5\.2 ", "a 20 kB line: one 500 5.5.2")
    t.eq(r.cmd("NOOP")[0], 250, "in sync after skipping the long line")
    r.send(b"NOOP\n")
    t.like(r.text(), r"^500 5\.5\.2 Error: bare <LF>",
           "command ending in bare LF: 500 5.5.2")
    r.send(b"NOOP\rRSET\r\n")
    t.like(r.text(), r"^500 5\.5\.2 .*bare <CR>",
           "bare CR inside a command: 500 5.5.2")
    r.send(b"NO\x00OP\r\n")
    t.like(r.text(), r"^500 5\.5\.2 ", "NUL in a command: 500 5.5.2")
    t.like("%d %s" % r.cmd("XYZZY"),
           r"^500 \['5\.5\.2 Error: command not recognized",
           "unknown command: 500 5.5.2")
    t.like("%d %s" % r.cmd("VRFY %s" % BOB), r"^252 \['2\.5\.2 ",
           "VRFY: 252 2.5.2")
    t.like("%d %s" % r.cmd("EXPN list"), r"^502 ", "EXPN: 502")
    code, lines = r.cmd("HELP")
    t.ok(code == 214 and "STARTTLS" in " ".join(lines), "HELP: 214",
         lines)
    t.like("%d %s" % r.cmd("noop"), r"^250 ", "verbs are case-insensitive")
    r.close()


def test_starttls_injection():
    r = plain_session()
    # RFC 3207 / CVE-2011-0411: commands pipelined after STARTTLS in
    # plaintext must not run inside the TLS session.
    r.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@example.org>\r\n")
    t.eq(r.reply()[0], 220, "STARTTLS: 220")
    r.sock = gw.ssl_context().wrap_socket(r.sock, server_hostname="localhost")
    code, lines = r.cmd("EHLO client.test")
    t.ok(code == 250 and "AUTH PLAIN LOGIN" in lines,
         "first reply inside TLS answers our EHLO, not injected commands",
         (code, lines))
    t.eq(r.cmd("AUTH PLAIN " + login_plain(ALICE, PW))[0], 235,
         "AUTH after STARTTLS")
    t.eq(r.cmd("MAIL FROM:<%s>" % ALICE)[0], 250,
         "no injected MAIL transaction is open")
    r.close()


def test_pipelined_transactions():
    before = count()
    r = tls_session()
    body = ("From: %s\r\nSubject: pipelined\r\n\r\nhi\r\n.\r\n" % ALICE)
    # Two whole transactions, the second pipelined behind the first DATA
    # end, and an unknown recipient inside the group.
    r.send(("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<ghost@%s>\r\n"
            "DATA\r\n" % (ALICE, BOB, gw.domain)).encode())
    got = [r.reply()[0] for _ in range(4)]
    t.eq(got, [250, 250, 550, 354], "pipelined group with one bad RCPT")
    r.send((body + "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
            % (ALICE, BOB)).encode())
    got = [r.reply()[0] for _ in range(4)]
    t.eq(got, [250, 250, 250, 354], "next group pipelined after '.'")
    r.send(body.encode() + b"QUIT\r\n")
    got = [r.reply()[0] for _ in range(2)]
    t.eq(got, [250, 221], "last message then QUIT")
    t.eq(count(), before + 2, "both pipelined messages stored")


def test_error_limit():
    g2 = Gateway(extra={"smtp_hard_error_limit": "5",
                        "smtp_soft_error_limit": "5"})
    try:
        g2.start()
        r = g2.raw()
        r.reply()
        codes = [r.cmd("BOGUS")[0] for _ in range(4)]
        r.send(b"BOGUS\r\n")
        code, lines = r.reply()
        t.eq(codes, [500] * 4, "errors below the hard limit answered")
        t.eq(code, 500, "fifth error answered")
        code, lines = r.reply()
        t.ok(code == 421 and "too many errors" in lines[0],
             "then 421 too many errors", lines)
        t.ok(r.closed(), "and the connection is closed")
    finally:
        g2.cleanup()


def test_timeout():
    g2 = Gateway(extra={"smtp_timeout_command": "1s"})
    try:
        g2.start()
        r = g2.raw()
        r.reply()
        start = time.time()
        code, lines = r.reply()
        took = time.time() - start
        t.ok(code == 421 and lines[0].startswith("4.4.2"),
             "idle client gets 421 4.4.2", (code, lines))
        t.ok(0.5 < took < 10, "after about the configured timeout (%.1fs)"
             % took)
        t.ok(r.closed(), "connection closed after the timeout")
    finally:
        g2.cleanup()


def test_other_sessions_unaffected():
    # A misbehaving client does not disturb a good one in parallel.
    bad = plain_session()
    bad.send(b"\x00\xff" * 5000)
    good = gw.smtp(login=ALICE, password=PW)
    refused = good.sendmail(ALICE, [BOB], ("From: %s\r\n\r\nok\r\n" % ALICE)
                            .encode())
    t.eq(refused, {}, "a good session delivers while another sends garbage")
    good.quit()
    bad.close()
    s = socket.create_connection(("127.0.0.1", gw.port_subs))
    s.sendall(b"this is not TLS\r\n" * 10)
    s.close()
    good = gw.smtp(implicit=True, login=ALICE, password=PW)
    t.eq(good.noop()[0], 250, "implicit TLS port still serves after junk")
    good.quit()


try:
    run_tests(t, test_greeting_and_ehlo, test_before_tls,
              test_implicit_tls_port, test_auth, test_mail_rules,
              test_from_header_rules, test_size_limit, test_bare_lf_in_data,
              test_command_lines, test_starttls_injection,
              test_pipelined_transactions, test_error_limit, test_timeout,
              test_other_sessions_unaffected)
finally:
    gw.cleanup()
