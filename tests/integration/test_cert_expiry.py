# SPDX-License-Identifier: MIT
"""Certificates about to expire, against a running gateway.

A server certificate issued for 5 days: the daemon warns at start that
it expires within 7 days (naming its use and file), `mssgate cert list`
says "expiring", and GET /metrics (Prometheus text, for API clients with
the "metrics" scope; 401 without a token, 403 with another scope) gives
its expiry time and the whole days left (4 or 5: the issuer may round
the end of validity up). After a 400-day certificate
replaces it and the daemon is told to reload (SIGHUP), the metric says
399 or 400 and no new warning names it; the TLS session of a new client shows
the new certificate. An S/MIME signing certificate of 20 days joins the
scan and the 30-day warning.
"""

import json
import os
import re
import signal
import ssl
import subprocess
import time
import urllib.request
import urllib.error

from mssgate_test import Gateway, Tap, run_tests

t = Tap()


def get(g, path, token=None):
    ctx = ssl.create_default_context(cafile=g.ca)
    req = urllib.request.Request("https://localhost:%d%s" %
                                 (g.port_https, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, r.read().decode("utf-8"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8"), dict(e.headers)


def token(g, name, scope):
    p = g.cli("--json", "api-client", "add", name, "--scope", scope,
              check=True)
    return json.loads(p.stdout.decode().splitlines()[-1])["token"]


def days_left(text, use):
    m = re.search(r'^mssgate_certificate_days_left\{use="%s",[^}]*\} '
                  r'(-?\d+)$' % re.escape(use), text, re.M)
    return int(m.group(1)) if m else None


def serial_of(g):
    ctx = ssl.create_default_context(cafile=g.ca)
    import socket
    with socket.create_connection(("127.0.0.1", g.port_https), 10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as ts:
            der = ts.getpeercert(binary_form=True)
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                        "-serial", "-enddate"], input=der,
                       capture_output=True)
    return p.stdout.decode()


def test_expiry():
    with Gateway() as g:
        cert = g.settings()["tls_cert_file"]
        key = g.settings()["tls_key_file"]
        p = g.cli("cert", "ca", "init")
        t.eq(p.returncode, 0, "development CA made: %s" % p.stderr)
        p = g.cli("cert", "issue", "server", "soon", "--dns", "localhost",
                  "--days", "5", "--cert-out", cert, "--key-out", key)
        t.eq(p.returncode, 0, "a 5-day server certificate: %s" %
             p.stderr.decode("utf-8", "replace"))
        p = g.cli("user", "add", "dr.a@mssante.test", "--password-stdin",
                  input=b"Secret-password-1\n")
        p = g.cli("cert", "issue", "smime", "a-sign", "--email",
                  "dr.a@mssante.test", "--days", "20")
        t.eq(p.returncode, 0, "a 20-day signing certificate: %s" %
             p.stderr.decode("utf-8", "replace"))
        mark = len(g.log_text()) if os.path.exists(g.log) else 0
        g.start()
        log = g.log_text()[mark:]
        t.like(log, r"certificate expires within 7 days days=[45] "
               r"use=tls_cert_file name=server file=%s" % re.escape(cert),
               "the daemon warns at start: 4 or 5 days left, which file")
        t.like(log, r"certificate expires within 30 days days=(19|20) "
               r"use=smime name=a-sign", "and of the signing certificate")

        p = g.cli("--json", "cert", "list", check=True)
        rows = [json.loads(x) for x in p.stdout.decode().splitlines()]
        st = [r.get("status") for r in rows
              if r.get("name") in ("soon", "(tls_cert_file)")]
        t.ok(st and all(s == "expiring" for s in st),
             "cert list says expiring", rows)

        code, body, hdr = get(g, "/metrics")
        t.eq(code, 401, "metrics without a token: 401")
        t.like(hdr.get("WWW-Authenticate", ""), r"^Bearer",
               "with a Bearer challenge")
        code, body, _ = get(g, "/metrics", token(g, "dirclient",
                                                  "directory"))
        t.eq(code, 403, "a token without the metrics scope: 403")
        mt = token(g, "prom", "metrics")
        code, body, hdr = get(g, "/metrics", mt)
        t.eq(code, 200, "metrics with the metrics scope")
        t.like(hdr.get("Content-Type", ""), r"^text/plain; version=0\.0\.4",
               "in the Prometheus text format")
        # whole days, and the issuer may round the end of validity up
        t.ok(days_left(body, "tls_cert_file") in (4, 5),
             "days left of the server certificate", body)
        t.ok(days_left(body, "smime") in (19, 20),
             "of the signing certificate", body)
        m = re.search(r'^mssgate_certificate_not_after_seconds\{use='
                      r'"tls_cert_file"[^}]*\} (\d+)$', body, re.M)
        t.ok(m and 4 * 86400 < int(m.group(1)) - time.time() <= 6 * 86400,
             "its expiry time", body)

        # rotation: a new certificate, a reload
        p = g.cli("cert", "issue", "server", "later", "--dns", "localhost",
                  "--days", "400", "--cert-out", cert, "--key-out", key)
        t.eq(p.returncode, 0, "a 400-day certificate replaces it")
        mark = len(g.log_text())
        g.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while time.time() < deadline and \
                "daemon reloaded" not in g.log_text()[mark:]:
            time.sleep(0.1)
        log = g.log_text()[mark:]
        t.like(log, r"daemon reloaded", "the daemon reloaded")
        t.ok("use=tls_cert_file" not in log,
             "no warning for the new certificate", log)
        code, body, _ = get(g, "/metrics", mt)
        t.ok(days_left(body, "tls_cert_file") in (399, 400),
             "the metric follows the new certificate", body)
        t.like(serial_of(g), r"notAfter=", "a new session gets a "
               "certificate")


run_tests(t, test_expiry)
