# SPDX-License-Identifier: MIT
"""IMAP session basics (RFC 3501 6.1, 6.2; RFC 2595; RFC 4959; RFC 2971;
RFC 5161; RFC 2342): greeting, CAPABILITY before and after STARTTLS and
after login, LOGINDISABLED, LOGIN and AUTHENTICATE PLAIN with and without
an initial response, wrong passwords, STARTTLS rules and plaintext
injection, NOOP, LOGOUT, ID, ENABLE, NAMESPACE, the implicit-TLS port,
and the imaplib client on both ports.

IMAP_TARGET=dovecot runs the same checks against a private Dovecot.
"""

import base64
import imaplib
import ssl

from mssgate_test import Tap
from imap_target import (MSSGATE, Lit, has_capa, human_text, plain_ir,
                         quote, run, skip, start_target)

t = Tap()
T = start_target()
USER, PW = T.new_user("sess")

EXTENSIONS = ("IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "ID",
              "ENABLE", "LITERAL+", "SPECIAL-USE", "CHILDREN", "UNSELECT",
              "CONDSTORE", "QRESYNC", "LIST-STATUS", "ESEARCH")


def test_greeting_and_capability_before_tls():
    r = T.raw(tls=False)
    t.like(r.greeting, r"^\* OK ", "STARTTLS port: untagged OK greeting")
    resp = r.cmd("CAPABILITY")
    t.eq(resp.status, "OK", "CAPABILITY before TLS: OK")
    t.eq(len(resp.find("CAPABILITY")), 1, "exactly one * CAPABILITY")
    for name in ("IMAP4rev1", "STARTTLS", "LOGINDISABLED"):
        t.ok(has_capa(resp, name), "before TLS: %s advertised" % name, resp)
    t.ok(not has_capa(resp, "AUTH=PLAIN"),
         "before TLS: AUTH=PLAIN not offered (RFC 3501 6.2.2, 11.1)", resp)
    t.eq(r.cmd("NOOP").status, "OK", "NOOP in not-authenticated state")
    resp = r.cmd("LOGIN %s %s" % (quote(USER), quote(PW)))
    t.eq(resp.status, "NO", "LOGIN before STARTTLS: NO")
    t.ok(human_text(resp), "LOGIN before STARTTLS: a text says why", resp)
    resp = r.cmd("AUTHENTICATE PLAIN " + plain_ir(USER, PW))
    t.ok(resp.status in ("NO", "BAD"),
         "AUTHENTICATE PLAIN before STARTTLS refused", resp)
    t.eq(r.cmd("NOOP").status, "OK",
         "session still usable after the refusals")
    r.logout()


def test_starttls_and_capability_after():
    r = T.raw(tls=False)
    resp = r.cmd("STARTTLS")
    t.eq(resp.status, "OK", "STARTTLS: OK")
    r.sock = T.ssl_context().wrap_socket(r.sock, server_hostname="localhost")
    resp = r.cmd("CAPABILITY")
    t.ok(not has_capa(resp, "STARTTLS") and
         not has_capa(resp, "LOGINDISABLED"),
         "after TLS: neither STARTTLS nor LOGINDISABLED", resp)
    t.ok(has_capa(resp, "AUTH=PLAIN") and has_capa(resp, "SASL-IR"),
         "after TLS: AUTH=PLAIN and SASL-IR", resp)
    resp = r.cmd("STARTTLS")
    t.ok(resp.status in ("BAD", "NO"), "second STARTTLS refused", resp)
    t.ok(human_text(resp), "second STARTTLS: a text says why", resp)
    resp = r.cmd("LOGIN %s %s" % (quote(USER), quote(PW)))
    t.eq(resp.status, "OK", "LOGIN after STARTTLS: OK")
    resp = r.cmd("CAPABILITY")
    missing = [e for e in EXTENSIONS if not has_capa(resp, e)]
    t.eq(missing, [], "after login every extension is advertised")
    t.ok(not has_capa(resp, "LOGINDISABLED") and
         not has_capa(resp, "STARTTLS"),
         "after login: no STARTTLS, no LOGINDISABLED", resp)
    resp = r.cmd("STARTTLS")
    t.eq(resp.status, "BAD", "STARTTLS in authenticated state: BAD")
    resp = r.cmd("LOGIN %s %s" % (quote(USER), quote(PW)))
    t.eq(resp.status, "BAD", "LOGIN in authenticated state: BAD")
    resp = r.cmd("AUTHENTICATE PLAIN " + plain_ir(USER, PW))
    t.eq(resp.status, "BAD", "AUTHENTICATE in authenticated state: BAD")
    r.logout()


def test_starttls_injection():
    # Commands sent in clear after STARTTLS on the same packet must not be
    # run inside the TLS session (CVE-2011-0411 class).
    r = T.raw(tls=False)
    r.send(b"A1 STARTTLS\r\nA2 LOGIN %s %s\r\n" %
           (quote(USER).encode(), quote(PW).encode()))
    first = r.read_response()
    t.like(first.decode(), r"^A1 (OK|BAD|NO)",
           "pipelined STARTTLS answered first")
    answered = []
    if first.startswith(b"A1 OK"):
        # Either the server drops a client that injected plaintext, or it
        # discards the injected bytes and runs TLS.
        r.buf = b""
        try:
            r.sock = T.ssl_context().wrap_socket(
                r.sock, server_hostname="localhost")
            answered = [x for x in r.read_untagged(0.5)
                        if x.startswith(b"A2")]
            state = r.cmd("SELECT INBOX").status
        except (ssl.SSLError, OSError):
            state = "dropped"
    else:
        state = "refused"
    t.eq(answered, [], "the injected plaintext LOGIN is not answered")
    t.ok(state in ("BAD", "dropped", "refused", "EOF"),
         "no authenticated state from injected plaintext (%s)" % state)
    r.close()


def test_login_variants():
    r = T.raw()
    resp = r.cmd("LOGIN %s %s" % (quote(USER), quote("wrong-password")))
    t.eq(resp.status, "NO", "wrong password: NO")
    t.ok(human_text(resp), "wrong password: a text", resp)
    resp = r.cmd("LOGIN %s %s" % (quote("nobody@" + T.domain), quote(PW)))
    t.eq(resp.status, "NO", "unknown user: NO")
    resp = r.cmd("LOGIN onlyoneargument")
    t.eq(resp.status, "BAD", "LOGIN with one argument: BAD")
    # user and password as synchronizing literals
    resp = r.cmd(["LOGIN ", Lit(USER), " ", Lit(PW)])
    t.eq(resp.status, "OK", "LOGIN with literals: OK")
    t.eq(r.cmd("NOOP").status, "OK", "NOOP in authenticated state")
    r.logout()
    # atoms, as imaplib sends them, and the non-synchronizing form
    r = T.raw()
    resp = r.cmd(["LOGIN ", Lit(USER, plus=True), " ",
                  Lit(PW, plus=True)])
    t.eq(resp.status, "OK", "LOGIN with LITERAL+ literals: OK")
    r.logout()


def test_authenticate_plain():
    r = T.raw()
    resp = r.cmd("AUTHENTICATE PLAIN " + plain_ir(USER, "bad"))
    t.eq(resp.status, "NO", "AUTHENTICATE PLAIN wrong password: NO")
    t.ok(human_text(resp), "AUTHENTICATE wrong password: a text", resp)
    resp = r.cmd("AUTHENTICATE FOOBAR-MECH")
    t.eq(resp.status, "NO", "unknown mechanism: NO (RFC 3501 6.2.2)")
    # without an initial response: empty challenge, then the response
    tag = r.send_cmd("AUTHENTICATE PLAIN")
    resp = r.wait_continuation(tag)
    t.ok(resp is None and r.last_continuation.rstrip() in (b"+", b"+ "),
         "AUTHENTICATE PLAIN: empty '+' challenge", resp)
    r.send("*\r\n")
    resp = r.wait_tagged(tag)
    t.eq(resp.status, "BAD", "client cancels with '*': BAD (RFC 3501)")
    tag = r.send_cmd("AUTHENTICATE PLAIN")
    r.wait_continuation(tag)
    r.send("%%%not-base64%%%\r\n")
    resp = r.wait_tagged(tag)
    t.ok(resp.status in ("BAD", "NO"),
         "undecodable base64 response refused", resp)
    authz = base64.b64encode(("other@%s\0%s\0%s" % (T.domain, USER, PW))
                             .encode()).decode()
    resp = r.cmd("AUTHENTICATE PLAIN " + authz)
    t.eq(resp.status, "NO", "authorization identity of another user: NO")
    tag = r.send_cmd("AUTHENTICATE PLAIN")
    r.wait_continuation(tag)
    r.send(plain_ir(USER, PW) + "\r\n")
    resp = r.wait_tagged(tag)
    t.eq(resp.status, "OK", "AUTHENTICATE PLAIN after the challenge: OK")
    r.logout()
    r = T.raw()
    resp = r.cmd("AUTHENTICATE PLAIN " + plain_ir(USER, PW))
    t.eq(resp.status, "OK", "AUTHENTICATE PLAIN with SASL-IR: OK")
    resp = r.cmd("SELECT INBOX")
    t.eq(resp.status, "OK", "authenticated: SELECT INBOX works")
    r.logout()
    r = T.raw()
    resp = r.cmd("AUTHENTICATE PLAIN " + plain_ir(USER, PW, authz=USER))
    t.eq(resp.status, "OK", "authorization identity equal to the user: OK")
    r.logout()


def test_logout():
    r = T.raw(tls=False)
    resp = r.cmd("LOGOUT")
    t.eq(resp.status, "OK", "LOGOUT before login: tagged OK")
    t.eq(len(resp.find("BYE")), 1, "LOGOUT: one untagged BYE first")
    t.ok(r.closed(), "LOGOUT: the server closes the connection")
    r.close()
    r = T.session(USER, PW, select="INBOX")
    resp = r.cmd("LOGOUT")
    t.ok(resp.status == "OK" and resp.lines()[-1].upper().startswith(
        "* BYE"), "LOGOUT when selected: BYE then OK", resp)
    t.ok(r.closed(), "connection closed after LOGOUT")
    r.close()


def test_id_enable_namespace():
    r = T.raw(tls=False)
    resp = r.cmd('ID ("name" "mssgate-tests" "version" "1")')
    t.eq(resp.status, "OK", "ID before login: OK")
    t.eq(len(resp.find("ID ")), 1, "ID: one untagged * ID")
    resp = r.cmd("ENABLE CONDSTORE")
    if MSSGATE:
        t.eq(resp.status, "BAD", "ENABLE before authentication: BAD "
             "(RFC 5161 3.1: authenticated state only)")
    else:
        skip(t, "ENABLE before authentication: BAD",
             "Dovecot answers OK to ENABLE before login")
    r.close()
    r = T.session(USER, PW)
    resp = r.cmd("ID NIL")
    t.ok(resp.status == "OK" and len(resp.find("ID ")) == 1,
         "ID NIL: OK and one * ID", resp)
    resp = r.cmd("NAMESPACE")
    t.eq(resp.find("NAMESPACE"), ['* NAMESPACE (("" "/")) NIL NIL'],
         'NAMESPACE: personal "" with "/", no other or shared')
    t.eq(resp.status, "OK", "NAMESPACE: OK")
    resp = r.cmd("ENABLE X-NO-SUCH-EXTENSION")
    t.ok(resp.status == "OK" and
         [l.strip() for l in resp.find("ENABLED")] in ([], ["* ENABLED"]),
         "ENABLE of an unknown extension: OK, nothing enabled", resp)
    resp = r.cmd("ENABLE CONDSTORE")
    t.eq(resp.find("ENABLED"), ["* ENABLED CONDSTORE"],
         "ENABLE CONDSTORE: * ENABLED CONDSTORE")
    resp = r.cmd("ENABLE QRESYNC")
    t.ok(resp.status == "OK" and
         any("QRESYNC" in l.upper() for l in resp.find("ENABLED")),
         "ENABLE QRESYNC: * ENABLED QRESYNC", resp)
    r.select("INBOX")
    resp = r.cmd("ENABLE CONDSTORE")
    t.ok(resp.status in ("OK", "BAD"),
         "ENABLE in selected state: OK or BAD (RFC 5161 lets servers "
         "not check)", resp)
    r.logout()


def test_implicit_tls():
    r = T.raw(implicit=True)
    t.like(r.greeting, r"^\* OK ", "implicit TLS: greeting after handshake")
    resp = r.cmd("CAPABILITY")
    t.ok(has_capa(resp, "AUTH=PLAIN") and not has_capa(resp, "STARTTLS")
         and not has_capa(resp, "LOGINDISABLED"),
         "implicit TLS: AUTH=PLAIN, no STARTTLS, no LOGINDISABLED", resp)
    t.eq(r.cmd("STARTTLS").status, "BAD",
         "STARTTLS on the implicit-TLS port: BAD")
    t.eq(r.cmd("LOGIN %s %s" % (quote(USER), quote(PW))).status, "OK",
         "implicit TLS: LOGIN OK")
    r.logout()
    # A client that speaks clear text to the TLS port gets nothing
    # usable, and the port still serves afterwards.
    import socket
    s = socket.create_connection((T.host, T.port_imaps), timeout=5)
    s.sendall(b"A1 CAPABILITY\r\n")
    s.settimeout(5)
    try:
        data = s.recv(4096)
    except (socket.timeout, OSError):
        data = b""
    s.close()
    t.ok(b"A1 OK" not in data, "clear text on the TLS port is not served")
    t.ok(T.alive(), "server alive after clear text on the TLS port")


def test_imaplib_clients():
    c = T.imap(USER, PW)
    typ, data = c.select("INBOX")
    t.eq(typ, "OK", "imaplib over STARTTLS: login and SELECT")
    t.eq(c.noop()[0], "OK", "imaplib NOOP")
    typ, data = c.logout()
    t.eq(typ, "BYE", "imaplib LOGOUT sees BYE")
    c = T.imap(USER, PW, implicit=True)
    typ, data = c.list()
    t.eq(typ, "OK", "imaplib over implicit TLS: LIST")
    c.logout()
    c = T.imap()
    try:
        c.login(USER, "not-the-password")
        t.ok(False, "imaplib login with a wrong password raises")
    except imaplib.IMAP4.error as e:
        t.ok(True, "imaplib login with a wrong password raises (%s)" % e)
    c.logout()


run(t, T, test_greeting_and_capability_before_tls,
    test_starttls_and_capability_after, test_starttls_injection,
    test_login_variants, test_authenticate_plain, test_logout,
    test_id_enable_namespace, test_implicit_tls, test_imaplib_clients)
