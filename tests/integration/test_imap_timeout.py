# SPDX-License-Identifier: MIT
"""Autologout (RFC 3501 5.4): an authenticated session that says nothing
is logged out with * BYE after imap_timeout_idle (here the smallest value
the configuration takes, 60 s), while with the default (30 min) the same
silence is kept; a session in IDLE is not logged out at 60 s of silence
when the idle timeout is the default; NOOP resets the clock.

mssgate only (it checks mssgate settings); about 70 s, both daemons wait
side by side. On the reference target every check is a skip.
"""

import time

from mssgate_test import Tap, run_tests
from imap_target import MSSGATE, MssgateTarget, skip

t = Tap()
NAMES = ["short timeout: * BYE after about 60 s of silence",
         "short timeout: the connection is closed",
         "short timeout: a session that sent NOOP at 40 s is still there "
         "at 70 s",
         "default timeout: a silent session is still there after 70 s",
         "default timeout: a session in IDLE is still there after 70 s",
         "default timeout: DONE after 70 s of IDLE: OK"]


def test_autologout():
    if not MSSGATE:
        for n in NAMES:
            skip(t, n, "mssgate settings; Dovecot's autologout is fixed")
        return
    short = MssgateTarget(extra={"imap_timeout_idle": "60s"}).start()
    default = MssgateTarget().start()
    try:
        u1, p1 = short.new_user("to")
        u2, p2 = default.new_user("to")
        silent = short.session(u1, p1, select="INBOX")
        busy = short.session(u1, p1, select="INBOX")
        quiet = default.session(u2, p2, select="INBOX")
        idler = default.session(u2, p2, select="INBOX")
        tag = idler.send_cmd("IDLE")
        idler.wait_continuation(tag, 5)
        start = time.time()
        time.sleep(40)
        busy_ok = busy.cmd("NOOP").ok
        closed = silent.closed(timeout=35)
        dt = time.time() - start
        t.ok(b"* BYE" in silent.buf.upper(), NAMES[0], silent.buf)
        t.ok(closed and 55 <= dt <= 75, "%s (%.0f s)" % (NAMES[1], dt))
        left = 72 - (time.time() - start)
        if left > 0:
            time.sleep(left)
        t.ok(busy_ok and busy.cmd("NOOP").ok, NAMES[2])
        t.ok(quiet.cmd("NOOP").ok, NAMES[3])
        idler.send("DONE\r\n")
        resp = idler.wait_tagged(tag, 5)
        t.ok(resp.status in ("OK",), NAMES[4], resp)
        t.eq(idler.cmd("NOOP").status if resp.status == "OK" else
             resp.status, "OK", NAMES[5])
        for s in (silent, busy, quiet, idler):
            s.close()
    finally:
        for g in (short, default):
            g.gw.stop()
            g.stop()


run_tests(t, test_autologout)
