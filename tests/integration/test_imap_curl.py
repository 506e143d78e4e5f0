# SPDX-License-Identifier: MIT
"""curl as an IMAP client: the README example (fetch a message by UID over
implicit TLS, certificate verified) and a STARTTLS session with a custom
command, on mail delivered over SMTP.
"""

import subprocess

from mssgate_test import Gateway, Tap, run_tests

t = Tap()
gw = Gateway()


def curl(*args):
    p = subprocess.run(["curl", "-sS", "--cacert", gw.ca] + list(args),
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def test_curl_imap():
    gw.start()
    user = "alice@" + gw.domain
    pw = gw.add_user(user)
    msg = ("From: %s\r\nSubject: compte rendu\r\n\r\nbody text\r\n"
           % user).encode()
    t.eq(gw.deliver(user, pw, [user], msg), {}, "delivered over SMTP")
    rc, out, err = curl("-u", "%s:%s" % (user, pw),
                        "imaps://localhost:%d/INBOX;UID=1" % gw.port_imaps)
    t.eq(rc, 0, "curl imaps:// fetch exits 0", )
    t.ok(out.endswith(msg), "the message as delivered", out[-200:])
    rc, out, err = curl("--ssl-reqd", "-u", "%s:%s" % (user, pw),
                        "imap://localhost:%d/INBOX" % gw.port_imap,
                        "-X", "SEARCH SUBJECT \"compte\"")
    t.eq((rc, out.strip()), (0, b"* SEARCH 1"),
         "curl imap:// STARTTLS with a SEARCH command")
    rc, out, err = curl("-u", "%s:wrong" % user,
                        "imaps://localhost:%d/INBOX;UID=1" % gw.port_imaps)
    t.ok(rc != 0 and b"body text" not in out, "a wrong password gets nothing",
         err)


try:
    run_tests(t, test_curl_imap)
finally:
    gw.cleanup()
