# SPDX-License-Identifier: MIT
"""S/MIME encryption by policy, against a running gateway.

dr.b's directory record names his encryption certificate (cert_ref, a
certificate of the registry); dr.c has none. With smime_encrypt =
when-known, dr.a's mail to dr.b is stored as application/pkcs7-mime
enveloped-data that `openssl cms -decrypt` opens with dr.b's key, and
whose content is dr.a's signed message (signed first, then encrypted:
`openssl cms -verify` accepts it); mail to dr.c, or to dr.b and dr.c
together, stays readable as it was sent. With smime_encrypt = required,
mail to dr.c is refused with 554 5.7.1 naming the recipient, and mail to
dr.b still goes, encrypted. A bad value of the setting stops the daemon
with the key named.
"""

import json
import os
import smtplib
import subprocess
import tempfile
from email import message_from_bytes

from mssgate_test import Gateway, Tap, run_tests

t = Tap()

PW = "Secret-password-1"
TEXT = "Compte rendu de consultation, texte confidentiel.\r\n"


def send(g, rcpts, subject):
    c = g.smtp(login="dr.a@mssante.test", password=PW)
    msg = ("From: dr.a@mssante.test\r\nTo: %s\r\nSubject: %s\r\n\r\n%s"
           % (", ".join(rcpts), subject, TEXT))
    try:
        c.sendmail("dr.a@mssante.test", rcpts, msg.encode())
        return None
    except smtplib.SMTPRecipientsRefused as e:
        return e.recipients
    except smtplib.SMTPDataError as e:
        return (e.smtp_code, e.smtp_error.decode("utf-8", "replace"))
    finally:
        c.quit()


def last(g, user):
    ms = g.messages(user)
    return g.message(user, ms[-1]["uid"]) if ms else None


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data,
                          capture_output=True)


def setup(g, tmp):
    for u in ("dr.a", "dr.b", "dr.c"):
        g.add_user("%s@mssante.test" % u, PW)
    g.cli("cert", "ca", "init", check=True)
    g.cli("cert", "issue", "smime", "a-sign", "--email",
          "dr.a@mssante.test", check=True)
    g.cli("cert", "issue", "smime", "b-enc", "--email",
          "dr.b@mssante.test", check=True)
    rec = {"key": "local:dr.b", "family": "Bernard", "given": "Zo\u00e9",
           "mailboxes": [{"address": "dr.b@mssante.test", "type": "PER"}],
           "cert_ref": "b-enc"}
    path = os.path.join(tmp, "b.json")
    with open(path, "w") as f:
        json.dump(rec, f)
    p = g.cli("dir", "set", path)
    t.eq(p.returncode, 0, "dr.b's record names his certificate: %s" %
         p.stderr.decode("utf-8", "replace"))


def test_when_known():
    tmp = tempfile.mkdtemp(prefix="mssgate-enc-")
    with Gateway(extra={"smime_encrypt": "when-known"}) as g:
        setup(g, tmp)
        g.start()
        t.eq(send(g, ["dr.b@mssante.test"], "to b"), None, "sent to dr.b")
        raw = last(g, "dr.b@mssante.test")
        m = message_from_bytes(raw)
        t.eq(m.get_content_type(), "application/pkcs7-mime",
             "dr.b's copy is encrypted")
        t.like(m.get("Content-Type", ""), r"smime-type=enveloped-data",
               "enveloped-data")
        t.eq(m["Subject"], "to b", "the subject stays outside")
        t.ok(TEXT.strip().encode() not in raw, "the text is not readable "
             "in the store's copy")
        path = os.path.join(tmp, "enc.eml")
        with open(path, "wb") as f:
            f.write(raw)
        certs = g.certs
        p = openssl("cms", "-decrypt", "-in", path, "-recip",
                    os.path.join(certs, "b-enc.crt"), "-inkey",
                    os.path.join(certs, "b-enc.key"))
        t.eq(p.returncode, 0, "openssl cms -decrypt with dr.b's key: %s" %
             p.stderr.decode("utf-8", "replace"))
        inner = p.stdout
        t.like(inner.decode("utf-8", "replace"), r"multipart/signed",
               "inside: dr.a's signed message")
        sp = os.path.join(tmp, "inner.eml")
        with open(sp, "wb") as f:
            f.write(b"From: dr.a@mssante.test\r\n" + inner)
        v = openssl("cms", "-verify", "-in", sp, "-CAfile", g.ca,
                    "-purpose", "smimesign")
        t.eq(v.returncode, 0, "and its signature verifies: %s" %
             v.stderr.decode("utf-8", "replace"))
        t.ok(TEXT.strip().encode() in v.stdout, "the text is intact")

        t.eq(send(g, ["dr.c@mssante.test"], "to c"), None, "sent to dr.c")
        raw = last(g, "dr.c@mssante.test")
        t.ok(raw is not None and b"pkcs7-mime" not in raw and
             b"multipart/signed" in raw,
             "dr.c (no certificate): signed, not encrypted", raw)
        t.eq(send(g, ["dr.b@mssante.test", "dr.c@mssante.test"], "both"),
             None, "sent to both")
        raw = last(g, "dr.b@mssante.test")
        t.ok(b"Subject: both" in raw and b"pkcs7-mime" not in raw,
             "one recipient without a certificate: not encrypted for any",
             raw[:400])
        t.like(g.log_text(), r"smime not encrypted reason=\"no encryption "
               r"certificate in the directory for <dr\.c@mssante\.test>\"",
               "the log says why")


def test_required():
    tmp = tempfile.mkdtemp(prefix="mssgate-enc-")
    with Gateway(extra={"smime_encrypt": "required"}) as g:
        setup(g, tmp)
        g.start()
        r = send(g, ["dr.c@mssante.test"], "to c")
        t.ok(isinstance(r, tuple) and r[0] == 554 and
             "5.7.1" in r[1] and "dr.c@mssante.test" in r[1],
             "required: mail to dr.c is refused with 554 5.7.1", r)
        t.eq(g.messages("dr.c@mssante.test"), [], "and not delivered")
        t.eq(send(g, ["dr.b@mssante.test"], "to b"), None,
             "mail to dr.b goes")
        raw = last(g, "dr.b@mssante.test")
        t.ok(b"enveloped-data" in raw, "encrypted")


def test_bad_value():
    with Gateway(extra={"smime_encrypt": "sometimes"}) as g:
        p = subprocess.run([os.environ.get("MSSGATED", "mssgated"), "-c",
                            g.conf, "-t"], capture_output=True)
        t.ok(p.returncode != 0, "a bad smime_encrypt is refused")
        t.like(p.stderr.decode("utf-8", "replace"),
               r"smime_encrypt.*'sometimes' is not off, when-known or "
               r"required", "naming the key and the values")


run_tests(t, test_when_known, test_required, test_bad_value)
