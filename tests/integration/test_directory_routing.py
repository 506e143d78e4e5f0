# SPDX-License-Identifier: MIT
"""Routing with the professional directory, against a running gateway.

With smtp_recipient_directory = yes, a recipient of another operator (a
trust-space domain) is accepted at RCPT only when an imported extract
lists its address: an unlisted one gets "550 5.1.1 ... not in the MSSante
directory", a domain outside the trust space still gets 5.7.1, and local
recipients are untouched. The check follows the directory live: an
address that a re-import adds is accepted in the next transaction of the
same SMTP session, one it removes is refused. With the setting off (the
default), the directory is not consulted.
"""

import os
import smtplib
import tempfile

from mssgate_test import Gateway, Tap, run_tests

t = Tap()

HEADER = ("Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|"
          "Identification nationale PP|Type identifiant structure|"
          "Identification Structure|Service de rattachement|"
          "Civilit\u00e9 d'exercice|Nom d'exercice|Pr\u00e9nom d'exercice|"
          "Cat\u00e9gorie profession|Libell\u00e9 de cat\u00e9gorie "
          "profession|Code Profession|Libell\u00e9 Profession|"
          "Code savoir-faire|Libell\u00e9 savoir-faire|"
          "D\u00e9mat\u00e9rialisation|Raison Sociale structure BAL|"
          "Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|"
          "L3COMPLEMENTDISTRIBUTION|L4NUMEROVOIE|L4COMPLEMENTNUMEROVOIE|"
          "NL4TYPEVOIE|L4LIBELLEVOIE|L5LIEUDITMENTION|L6LIGNEACHEMINEMENT|"
          "Code postal|D\u00e9partement|Pays|")


def line(addr, family, given, rpps):
    f = [""] * 31
    f[0] = "PER"
    f[1] = addr
    f[2] = "8"
    f[3] = rpps
    f[4] = "8" + rpps
    f[8] = "DR"
    f[9] = family
    f[10] = given
    f[13] = "10"
    f[14] = "M\u00e9decin"
    f[28] = "75001"
    return "|".join(f) + "|"


def extract(path, people):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER + "\n")
        for p in people:
            fh.write(line(*p) + "\n")


A = ("listed@remote.test", "Dupont", "H\u00e9l\u00e8ne", "10000000001")
B = ("later@remote.test", "Martin", "Zo\u00e9", "10000000002")


def rcpt_code(c, rcpt):
    c.mail("dr.a@mssante.test")
    code, msg = c.rcpt(rcpt)
    c.rset()
    return code, msg.decode("utf-8", "replace")


def test_strict():
    tmp = tempfile.mkdtemp(prefix="mssgate-dirroute-")
    with Gateway(extra={"smtp_recipient_directory": "yes"}) as g:
        pw = g.add_user("dr.a@mssante.test")
        g.add_user("dr.b@mssante.test")
        g.cli("trust", "add", "remote.test", "--route", "127.0.0.1:9",
              check=True)
        v1 = os.path.join(tmp, "v1.txt")
        extract(v1, [A])
        p = g.cli("dir", "import", v1)
        t.eq(p.returncode, 0, "the extract imports: %s" %
             p.stderr.decode("utf-8", "replace").strip())
        g.start()
        c = g.smtp(login="dr.a@mssante.test", password=pw)
        code, msg = rcpt_code(c, "listed@remote.test")
        t.eq(code, 250, "a listed address of another operator is accepted")
        code, msg = rcpt_code(c, "LISTED@Remote.Test")
        t.eq(code, 250, "the check ignores case")
        code, msg = rcpt_code(c, "unlisted@remote.test")
        t.eq(code, 550, "an unlisted address is refused")
        t.like(msg, r"5\.1\.1 .*not in the MSSante directory",
               "with 5.1.1 and the reason")
        code, msg = rcpt_code(c, "x@elsewhere.test")
        t.eq(code, 550, "a domain outside the trust space: still refused")
        t.like(msg, r"5\.7\.1 .*trust space", "with 5.7.1")
        code, msg = rcpt_code(c, "dr.b@mssante.test")
        t.eq(code, 250, "local recipients are not concerned")
        code, msg = rcpt_code(c, "later@remote.test")
        t.eq(code, 550, "not yet listed")

        # the next day's extract: B arrives, A leaves
        v2 = os.path.join(tmp, "v2.txt")
        extract(v2, [B])
        p = g.cli("dir", "import", v2)
        t.eq(p.returncode, 0, "the new extract imports")
        t.like(p.stdout.decode("utf-8", "replace"),
               r"1 added, 0 changed, 1 removed, 0 unchanged",
               "it says what changed")
        code, msg = rcpt_code(c, "later@remote.test")
        t.eq(code, 250, "an address just imported is accepted in the same "
             "session")
        code, msg = rcpt_code(c, "listed@remote.test")
        t.eq(code, 550, "an address just removed is refused")
        c.quit()


def test_default_off():
    with Gateway() as g:
        pw = g.add_user("dr.a@mssante.test")
        g.cli("trust", "add", "remote.test", "--route", "127.0.0.1:9",
              check=True)
        g.start()
        c = g.smtp(login="dr.a@mssante.test", password=pw)
        code, msg = rcpt_code(c, "anyone@remote.test")
        t.eq(code, 250, "by default the directory is not consulted")
        c.quit()


run_tests(t, test_strict, test_default_off)
