# SPDX-License-Identifier: MIT
"""SMTP submission with real clients: swaks and curl over STARTTLS (2587
role) and implicit TLS (2465 role) with AUTH PLAIN and LOGIN; the stored
message, read back with the CLI, is byte-identical to what was sent apart
from the trace header; pipelining, CHUNKING (BDAT), 8BITMIME, SMTPUTF8,
multi-recipient delivery sharing one stored body, and the headers the
gateway adds (Received with TLS and ESMTPSA, Date and Message-ID).
"""

import base64
import json
import os
import re
import subprocess

from mssgate_test import Gateway, Tap, run_tests, strip_trace, login_plain

t = Tap()
gw = Gateway()
gw.start()
ALICE = "alice@" + gw.domain
BOB = "bob@" + gw.domain
CAROL = "carol@" + gw.domain
PW = gw.add_user(ALICE, aliases=["a.martin@" + gw.domain])
gw.add_user(BOB)
gw.add_user(CAROL, aliases=["h\u00e9l\u00e8ne@" + gw.domain])


def message(subject, frm=ALICE, to=BOB, body=None):
    body = body or ("Bonjour,\r\n\r\nCompte rendu en piece jointe.\r\n"
                    ".A line starting with a dot\r\n..and two dots\r\n"
                    "\r\nCordialement\r\n")
    return ("From: Dr Alice Martin <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Date: Sun, 22 Nov 2026 10:00:00 +0100\r\n"
            "Message-ID: <%s@client.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n%s"
            % (frm, to, subject, re.sub(r"\W", "", subject), body)).encode()


def last_uid(user):
    msgs = gw.messages(user)
    return msgs[-1]["uid"] if msgs else 0


def check_stored(user, sent, name):
    uid = last_uid(user)
    stored = gw.message(user, uid)
    t.ok(stored.startswith(b"Received: "), name + ": trace header first",
         stored[:200])
    t.eq(strip_trace(stored), sent, name + ": stored bytes identical")
    return stored


def run(cmd, name, input=None):
    p = subprocess.run(cmd, capture_output=True, timeout=60, input=input)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    t.ok(p.returncode == 0, name + ": client exits 0", out)
    return out


def write(name, data):
    path = os.path.join(gw.tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def swaks_file(name, msg):
    # swaks always ends the data with CRLF . CRLF: give it the message
    # without its final CRLF so that what it sends is exactly msg.
    assert msg.endswith(b"\r\n")
    return write(name, msg[:-2])


def test_swaks_starttls_plain():
    msg = message("swaks starttls plain")
    out = run(["swaks", "--server", "127.0.0.1:%d" % gw.port_sub, "--tls",
               "--tls-verify", "--tls-ca-path", gw.ca,
               "--auth", "PLAIN", "--auth-user", ALICE,
               "--auth-password", PW, "--from", ALICE, "--to", BOB,
               "--data", swaks_file("m1.eml", msg)], "swaks STARTTLS PLAIN")
    t.like(out, r"250 2\.0\.0 Ok: queued as [0-9a-f]{16}",
           "swaks STARTTLS: 250 with queue id")
    stored = check_stored(BOB, msg, "swaks STARTTLS")
    t.like(stored.decode(), r"with ESMTPSA id [0-9a-f]{16}",
           "Received names ESMTPSA (RFC 3848)")
    t.like(stored.decode(), r"\(using TLSv1\.[23] with cipher [A-Z0-9_-]+ "
           r"\(\d+/\d+ bits\)\)", "Received notes TLS version and cipher")
    t.like(stored.decode(), r"for <%s>;" % re.escape(BOB),
           "Received names the single recipient")


def test_swaks_implicit_login():
    msg = message("swaks implicit login")
    out = run(["swaks", "--server", "127.0.0.1:%d" % gw.port_subs, "--tlsc",
               "--tls-verify", "--tls-ca-path", gw.ca,
               "--auth", "LOGIN", "--auth-user", ALICE,
               "--auth-password", PW, "--from", ALICE, "--to", BOB,
               "--data", swaks_file("m2.eml", msg)], "swaks implicit TLS LOGIN")
    t.like(out, r"235 2\.7\.0", "swaks implicit TLS: AUTH LOGIN accepted")
    check_stored(BOB, msg, "swaks implicit TLS")


def test_swaks_pipeline():
    msg = message("swaks pipeline")
    out = run(["swaks", "--server", "127.0.0.1:%d" % gw.port_sub, "--tls",
               "--tls-verify", "--tls-ca-path", gw.ca, "--pipeline",
               "--auth", "PLAIN", "--auth-user", ALICE,
               "--auth-password", PW, "--from", ALICE,
               "--to", "%s,%s" % (BOB, CAROL),
               "--data", swaks_file("m3.eml", msg)], "swaks --pipeline")
    t.like(out, r"250 2\.0\.0 Ok: queued as", "pipelined transaction 250")
    bob = gw.messages(BOB)[-1]
    carol = gw.messages(CAROL)[-1]
    t.eq(strip_trace(gw.message(CAROL, carol["uid"])), msg,
         "second recipient got the same bytes")
    t.eq(bob["blob"], carol["blob"], "one stored body for both recipients")
    stored = gw.message(BOB, bob["uid"]).decode()
    t.ok(" for <" not in stored.split("\r\n\r\n")[0],
         "Received has no 'for' clause with two recipients")


def test_curl_starttls():
    msg = message("curl starttls")
    run(["curl", "-sS", "--ssl-reqd", "--cacert", gw.ca,
         "smtp://localhost:%d" % gw.port_sub, "--user", "%s:%s" % (ALICE, PW),
         "--login-options", "AUTH=PLAIN",
         "--mail-from", ALICE, "--mail-rcpt", BOB,
         "--upload-file", write("m4.eml", msg)], "curl smtp:// STARTTLS")
    check_stored(BOB, msg, "curl STARTTLS")


def test_curl_implicit():
    msg = message("curl implicit")
    run(["curl", "-sS", "--cacert", gw.ca,
         "smtps://localhost:%d" % gw.port_subs,
         "--user", "%s:%s" % (ALICE, PW), "--login-options", "AUTH=LOGIN",
         "--mail-from", ALICE, "--mail-rcpt", BOB,
         "--upload-file", write("m5.eml", msg)], "curl smtps:// implicit TLS")
    check_stored(BOB, msg, "curl implicit TLS")


def test_missing_headers_added():
    body = ("From: %s\r\nTo: %s\r\nSubject: no date, no id\r\n\r\nhi\r\n"
            % (ALICE, BOB)).encode()
    c = gw.smtp(login=ALICE, password=PW)
    c.sendmail(ALICE, [BOB], body)
    c.quit()
    stored = gw.message(BOB, last_uid(BOB))
    head = stored.split(b"\r\n\r\n")[0].decode().replace("\r\n", "\n")
    t.like(head, r"(?m)^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d "
           r"[+-]\d{4}$", "Date added when missing")
    t.like(head, r"(?m)^Message-ID: <[0-9a-f]{16}\.[0-9a-f]{16}@localhost>$",
           "Message-ID added when missing")
    t.ok(stored.endswith(body), "original content kept after added headers")

    body = "To: %s\r\nSubject: no from\r\n\r\nhi\r\n" % BOB
    c = gw.smtp(login=ALICE, password=PW)
    c.sendmail(ALICE, [BOB], body.encode())
    c.quit()
    head = gw.message(BOB, last_uid(BOB)).split(b"\r\n\r\n")[0].decode()
    head = head.replace("\r\n", "\n")
    t.like(head, r"(?m)^From: <%s>$" % re.escape(ALICE),
           "From added from the envelope sender when missing")


def test_alias_sender_and_null_sender():
    alias = "a.martin@" + gw.domain
    c = gw.smtp(login=ALICE, password=PW)
    refused = c.sendmail(alias, [BOB], message("from alias", frm=alias))
    t.eq(refused, {}, "an alias of the user is an accepted sender")
    # MDNs (RFC 8098) go out with a null return path.
    code, _ = c.mail("<>")
    t.eq(code, 250, "MAIL FROM:<> accepted for an authenticated user")
    c.rset()
    c.quit()


def test_bdat_chunks():
    msg = message("bdat chunks")
    r = gw.raw()
    t.eq(r.reply()[0], 220, "greeting")
    r.cmd("EHLO client.test")
    r.starttls(gw.ssl_context())
    code, lines = r.cmd("EHLO client.test")
    t.ok("CHUNKING" in lines, "CHUNKING advertised", lines)
    t.eq(r.cmd("AUTH PLAIN " + login_plain(ALICE, PW))[0], 235, "AUTH")
    parts = [msg[:50], msg[50:51], msg[51:]]
    # MAIL, RCPT and the first chunk pipelined in one write (RFC 3030).
    r.send(("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nBDAT %d\r\n" %
            (ALICE, BOB, len(parts[0]))).encode() + parts[0])
    got = [r.reply()[0] for _ in range(3)]
    t.eq(got, [250, 250, 250], "pipelined MAIL, RCPT, BDAT chunk")
    r.send(b"BDAT %d\r\n" % len(parts[1]) + parts[1] +
           b"BDAT %d LAST\r\n" % len(parts[2]) + parts[2])
    t.eq(r.reply()[0], 250, "second chunk")
    code, lines = r.reply()
    t.eq(code, 250, "BDAT LAST committed")
    t.like(lines[0], r"2\.0\.0 Ok: queued as", "queue id on BDAT LAST")
    r.cmd("QUIT")
    check_stored(BOB, msg, "BDAT")


def test_8bitmime_and_smtputf8():
    body = ("Compte rendu : l'\u00e9chographie est normale.\r\n"
            "\u00c0 bient\u00f4t\r\n")
    msg = message("8bit body", body=body)
    c = gw.smtp(login=ALICE, password=PW)
    t.ok(c.has_extn("8bitmime") and c.has_extn("smtputf8"),
         "8BITMIME and SMTPUTF8 advertised")
    c.sendmail(ALICE, [BOB], msg, mail_options=["BODY=8BITMIME"])
    check_stored(BOB, msg, "8BITMIME")

    helene = "h\u00e9l\u00e8ne@" + gw.domain
    msg = message("utf8 rcpt", to=helene)
    refused = c.sendmail(ALICE, [helene], msg,
                         mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    t.eq(refused, {}, "UTF-8 recipient accepted with SMTPUTF8")
    check_stored(CAROL, msg, "SMTPUTF8 delivery to a UTF-8 alias")
    code, text = c.mail(ALICE)
    code, text = c.rcpt("<%s>" % helene)
    t.eq(code, 553, "UTF-8 recipient without SMTPUTF8 refused (553)")
    t.like(text.decode(), r"^5\.6\.7 ", "enhanced code 5.6.7")
    c.rset()
    c.quit()


def test_size_advertised():
    c = gw.smtp()
    t.eq(c.esmtp_features.get("size"), "26214400",
         "SIZE advertises the configured 25 MiB limit")
    t.ok("auth" in c.esmtp_features and "PLAIN" in c.esmtp_features["auth"],
         "AUTH PLAIN offered under TLS")
    c.quit()


def test_large_message():
    # 5 MB with long base64 lines: several blob chunks, exact round trip.
    data = base64.encodebytes(os.urandom(3_700_000)).replace(b"\n", b"\r\n")
    msg = message("large", body=data.decode())
    c = gw.smtp(implicit=True, login=ALICE, password=PW)
    c.sendmail(ALICE, [BOB], msg)
    c.quit()
    check_stored(BOB, msg, "5 MB message")


try:
    run_tests(t, test_swaks_starttls_plain, test_swaks_implicit_login,
              test_swaks_pipeline, test_curl_starttls, test_curl_implicit,
              test_missing_headers_added, test_alias_sender_and_null_sender,
              test_bdat_chunks, test_8bitmime_and_smtputf8,
              test_size_advertised, test_large_message)
finally:
    gw.cleanup()
