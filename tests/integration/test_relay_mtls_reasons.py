# SPDX-License-Identifier: MIT
"""The relay port refuses a client certificate with the precise reason.

Another operator connects to the relay port (STARTTLS) with a client
certificate made by `openssl ca` under the gateway's trusted CA. A valid
one (clientAuth, a trust-space domain) gets its EHLO answered; each of
these is refused during the handshake, and the gateway's log names why,
as `mssgate cert verify` would:

- not yet valid: "certificate is not yet valid";
- expired: "certificate has expired";
- made for servers only (extended key usage serverAuth, no clientAuth):
  "unsuitable certificate purpose";
- key usage without digitalSignature (keyAgreement only, for an EC key:
  OpenSSL would take it, but the peer proves its key by signing):
  "unsuitable certificate purpose";
- issued by a CA the gateway does not trust: "unable to get local issuer
  certificate".

`mssgate cert verify --purpose tls-client` gives each reason on the same
files. A key that does not match its certificate never reaches the
gateway (the client's TLS library refuses it); the gateway's own key
mismatch stops it at start (test_startup_errors).
"""

import os
import re
import subprocess
import time

from mssgate_test import Gateway, Tap, run_tests

t = Tap()


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data,
                          capture_output=True)


def ca_config(work, name, ca_crt, ca_key):
    d = os.path.join(work, name + "-db")
    os.makedirs(d, exist_ok=True)
    for f, text in (("index.txt", ""), ("serial", "1000\n")):
        with open(os.path.join(d, f), "w") as fp:
            fp.write(text)
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as fp:
        fp.write("[ca]\ndefault_ca = this\n[this]\ndatabase = %s/index.txt"
                 "\nnew_certs_dir = %s\nserial = %s/serial\n"
                 "default_md = sha256\npolicy = any\ncopy_extensions = none"
                 "\nunique_subject = no\ncertificate = %s\nprivate_key = "
                 "%s\n[any]\ncommonName = supplied\norganizationName = "
                 "optional\ncountryName = optional\n"
                 % (d, d, d, ca_crt, ca_key))
    return cnf


def leaf(work, cnf, name, start=None, end=None, eku="clientAuth",
         ku="digitalSignature"):
    key = os.path.join(work, name + ".key")
    csr = os.path.join(work, name + ".csr")
    crt = os.path.join(work, name + ".crt")
    ext = os.path.join(work, name + ".ext")
    p = openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                csr, "-subj", "/C=FR/O=peer/CN=mx.peer.test")
    assert p.returncode == 0, p.stderr
    with open(ext, "w") as fp:
        fp.write("[leaf]\nbasicConstraints = critical, CA:FALSE\n"
                 "keyUsage = critical, %s\nextendedKeyUsage = %s\n"
                 "subjectAltName = DNS:mx.peer.test\n" % (ku, eku))
    args = ["ca", "-batch", "-notext", "-config", cnf, "-in", csr, "-out",
            crt, "-extfile", ext, "-extensions", "leaf", "-preserveDN"]
    args += ["-startdate", start, "-enddate", end] if start else \
        ["-days", "30"]
    p = openssl(*args)
    assert p.returncode == 0, p.stderr
    return crt, key


def connect(g, crt, key):
    """STARTTLS on the relay port with this client certificate; what the
    server answered to EHLO after the handshake, and s_client's output."""
    p = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         "127.0.0.1:%d" % g.port_relay, "-servername", "localhost",
         "-CAfile", g.ca, "-cert", crt, "-key", key, "-quiet",
         "-verify_return_error"],
        input=b"EHLO mx.peer.test\r\nQUIT\r\n", capture_output=True,
        timeout=30)
    return p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def test_reasons():
    with Gateway() as g:
        g.start()
        g.cli("trust", "add", "peer.test", check=True)
        work = g.tmp
        cnf = ca_config(work, "ca", g.ca, os.path.join(g.certs, "ca.key"))
        good = leaf(work, cnf, "good")
        out, err = connect(g, *good)
        t.like(out, r"(?m)^250", "a valid client certificate: EHLO answered")

        # another CA, not trusted
        fkey = os.path.join(work, "foreign.key")
        fcrt = os.path.join(work, "foreign.crt")
        p = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", fkey,
                    "-out", fcrt, "-days", "30", "-subj", "/CN=Foreign CA",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        t.eq(p.returncode, 0, "a CA the gateway does not trust")
        fcnf = ca_config(work, "foreign", fcrt, fkey)

        now = time.time()
        fmt = "%Y%m%d%H%M%SZ"
        cases = [
            ("not yet valid", leaf(work, cnf, "future",
             time.strftime(fmt, time.gmtime(now + 10 * 86400)),
             time.strftime(fmt, time.gmtime(now + 40 * 86400))),
             "certificate is not yet valid"),
            ("expired", leaf(work, cnf, "old",
             time.strftime(fmt, time.gmtime(now - 40 * 86400)),
             time.strftime(fmt, time.gmtime(now - 10 * 86400))),
             "certificate has expired"),
            ("for servers only", leaf(work, cnf, "serveronly",
             eku="serverAuth"), "unsuitable certificate purpose"),
            ("key usage keyAgreement only", leaf(work, cnf, "ka",
             ku="keyAgreement"), "unsuitable certificate purpose"),
            ("untrusted CA", leaf(work, fcnf, "foreign-leaf"),
             "unable to get local issuer certificate"),
        ]
        for name, (crt, key), reason in cases:
            mark = len(g.log_text())
            out, err = connect(g, crt, key)
            t.ok(not re.search(r"(?m)^250", out),
                 "%s: no EHLO answered" % name, out + err)
            deadline = time.time() + 10
            log = ""
            while time.time() < deadline:
                log = g.log_text()[mark:]
                if "smtp error" in log:
                    break
                time.sleep(0.1)
            m = re.search(r"smtp error reason=\"[^\"]*\" verify=\"([^\"]*)\"",
                          log)
            if reason is None:
                t.ok(m is not None, "%s: refused, the log says why: %s" %
                     (name, m.group(1) if m else "?"), log[-1500:])
            else:
                t.eq(m.group(1) if m else log[-1500:], reason,
                     "%s: the log gives the reason" % name)
            v = g.cli("cert", "verify", crt, "--purpose", "tls-client")
            t.ok(v.returncode != 0, "%s: cert verify refuses it too: %s" %
                 (name, (v.stdout + v.stderr).decode("utf-8",
                                                     "replace").strip()))
        v = g.cli("cert", "verify", good[0], "--purpose", "tls-client")
        t.eq(v.returncode, 0, "cert verify accepts the valid one")


run_tests(t, test_reasons)
