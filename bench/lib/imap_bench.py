#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers of bench/imap (see bench/README.md):

  imap_bench.py corpus DIR USERS INBOX FOLDERS FOLDER_MSGS SEED
      writes the mail corpus both servers are loaded with: per user
      DIR/uK/mailboxes (names, INBOX first) and DIR/uK/NAME.mbx (records
      "<length> <APPEND arguments>\\n" followed by the message bytes),
      DIR/append.mbx (messages for the APPEND mix), DIR/queries (the
      SEARCH criteria of the search mixes, "class criteria" per line),
      DIR/expected.json (per user and mailbox: message count, bytes,
      Message-IDs; per user: the expected answer count of every query on
      INBOX) and prints one summary line.

  imap_bench.py verify DIR PORT CAFILE PASSWORD LABEL USER...
      checks one server after the load, over implicit TLS with imaplib:
      message counts of every mailbox, the Message-IDs of every mailbox
      (in APPEND order), the bytes of sampled messages against the corpus,
      and the answer of every query of DIR/queries on each INBOX against
      the counts computed from the corpus. Prints what it checked; exit
      status 1 on a count or byte difference, 2 when only search answers
      differ (printed, the bench goes on).

  imap_bench.py scan PORT CAFILE PASSWORD USER...
      a client's first look at each INBOX: SELECT, then UID FETCH 1:* of
      flags, size, internal date, ENVELOPE and four header fields; prints
      "messages=N seconds=S" (the time of SELECT + FETCH, logins excluded).

  imap_bench.py count PORT CAFILE PASSWORD USER...
      one line "MAILBOX=N ..." with the messages of every mailbox (STATUS),
      summed over the users.

  imap_bench.py mem PID [tree]
      memory of one process (PID), or with "tree" of PID and all its
      descendants: one line "procs=N rss_kb=.. pss_kb=.. pss_anon_kb=..
      pss_file_kb=.. pss_shmem_kb=.." from /proc/*/smaps_rollup, then
      "comm procs pss_kb" lines per command name (tree only).

Everything is deterministic for a given seed: both servers get the same
bytes, and reruns the same corpus.
"""

import base64
import email.header
import imaplib
import json
import os
import random
import re
import ssl
import sys

DOMAIN_OURS = "imap.mssante.test"

# --- corpus -----------------------------------------------------------------

# Correspondents: (display name, address, weight). A few names carry
# accents (RFC 2047 encoded-words in From).
PEOPLE = [
    ("Dr Jean Dupont", "jean.dupont@chu-lyon.mssante.fr", 6),
    ("Dr Hélène Lefèvre", "helene.lefevre@chu-bordeaux.mssante.fr", 5),
    ("Laboratoire Biomed Sud", "resultats@biomed-sud.mssante.fr", 9),
    ("Dr Karim Benali", "k.benali@cabinet-benali.mssante.fr", 4),
    ("Secrétariat Cardiologie", "cardio.secretariat@ch-nantes.mssante.fr", 5),
    ("Dr Sophie Martin", "sophie.martin@medecin.mssante.fr", 4),
    ("Imagerie du Parc", "compte-rendu@imagerie-parc.mssante.fr", 6),
    ("Dr François Moreau", "f.moreau@chu-lille.mssante.fr", 3),
    ("Pharmacie Centrale", "pharmacie.centrale@pharmacien.mssante.fr", 3),
    ("Dr Amélie Roux", "amelie.roux@ch-pau.mssante.fr", 3),
    ("SAMU 69", "regulation@samu69.mssante.fr", 2),
    ("Dr Pierre Garnier", "p.garnier@clinique-sud.mssante.fr", 3),
    ("Cabinet Infirmier Les Tilleuls", "ide.tilleuls@infirmier.mssante.fr", 3),
    ("Dr Nadia Haddad", "nadia.haddad@aphp.mssante.fr", 3),
    ("Dr Lucas Petit", "lucas.petit@ch-annecy.mssante.fr", 2),
    ("Centre de Dialyse Rhône", "dialyse@crd-rhone.mssante.fr", 2),
    ("Dr Claire Fontaine", "claire.fontaine@chu-nice.mssante.fr", 2),
    ("Dr Thomas Girard", "t.girard@medecin.mssante.fr", 2),
    ("EHPAD Les Glycines", "infirmerie@ehpad-glycines.mssante.fr", 2),
    ("Dr Julie Mercier", "julie.mercier@ch-vienne.mssante.fr", 2),
]

PATIENTS = ["M. Bernard Lucien", "Mme Durand Odette", "M. Petit Ahmed",
            "Mme Lambert Chloé", "M. Faure René", "Mme Rousseau Inès",
            "M. Blanc Gérard", "Mme Guerin Yvette", "M. Muller Hugo",
            "Mme Henry Anaïs", "M. Chevalier Marc", "Mme Robin Léa"]

SUBJECTS = [
    "Compte rendu de consultation - {p}",
    "Résultats biologiques - {p}",
    "URGENT : résultats biologie {p}",
    "Compte rendu d'hospitalisation {p}",
    "Courrier de sortie - {p}",
    "Demande d'avis cardiologique - {p}",
    "Ordonnance de renouvellement - {p}",
    "Compte rendu d'imagerie (scanner) - {p}",
    "Lettre de liaison - {p}",
    "Re: suivi post-opératoire {p}",
    "Bilan biologie du jour - {p}",
    "Fwd: compte rendu opératoire {p}",
    "Convocation consultation anesthésie {p}",
    "Demande de rendez-vous - {p}",
    "Résultats anatomopathologie {p}",
]

SENTENCES = [
    "Je vous remercie de m'avoir adressé votre patient pour avis.",
    "Le bilan biologique montre une fonction rénale stable.",
    "La tension artérielle est contrôlée sous traitement.",
    "Pas de modification thérapeutique à ce jour.",
    "Je vous propose de revoir le patient dans trois mois.",
    "L'examen clinique est sans particularité.",
    "Le scanner thoracique ne retrouve pas de lésion suspecte.",
    "Poursuite du traitement par inhibiteur de la pompe à protons.",
    "La patiente signale une asthénie depuis deux semaines.",
    "Nous avons réalisé un électrocardiogramme de contrôle.",
    "Le taux d'hémoglobine glyquée est à 7,2 %.",
    "Antécédents : diabète de type 2, hypertension artérielle.",
    "Allergie connue à la pénicilline.",
    "Je reste à votre disposition pour tout renseignement.",
    "Bien confraternellement.",
    "Les suites opératoires sont simples.",
    "Le patient est autonome pour les actes de la vie quotidienne.",
    "Une échographie abdominale est programmée.",
    "Kinésithérapie respiratoire deux fois par semaine.",
    "Surveillance de la créatininémie à une semaine.",
]

# Words searched with SEARCH BODY / TEXT: placed in the top-level text
# parts (plain and HTML) of some messages only, never in headers, in
# attachments or in forwarded messages, so that every server computes the
# same answer. Each is its own line: no quoted-printable soft break ever
# splits it.
BODY_WORDS = {
    "hyperkaliemie": ("Une hyperkaliemie modérée a été constatée, "
                      "à contrôler.", 0.03),
    "anticoagulant": ("Le traitement anticoagulant est maintenu à la "
                      "même dose.", 0.05),
    "holter": ("Un holter ECG de 24 heures est demandé.", 0.02),
}

QUERIES = [
    ("header", 'FROM "dupont"'),
    ("header", 'FROM "biomed-sud"'),
    ("header", 'SUBJECT "urgent"'),
    ("header", 'SUBJECT "consultation"'),
    ("body", 'BODY "hyperkaliemie"'),
    ("body", 'BODY "holter"'),
    ("body", 'TEXT "anticoagulant"'),
    ("flags", "UNSEEN"),
    ("flags", "FLAGGED"),
    ("flags", "OR FLAGGED ANSWERED"),
]

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def enc_word(s):
    """An RFC 2047 Q encoded-word when s is not ASCII."""
    try:
        s.encode("ascii")
        return s
    except UnicodeEncodeError:
        return email.header.Header(s, "utf-8").encode()


def qp_line(line):
    """Quoted-printable of one short line (no soft breaks needed: the
    lines are kept short enough)."""
    out = []
    for b in line.encode("utf-8"):
        if b == 0x3d or b > 126 or (b < 32 and b != 9):
            out.append("=%02X" % b)
        else:
            out.append(chr(b))
    s = "".join(out)
    if s.endswith(" ") or s.endswith("\t"):
        s = s[:-1] + "=%02X" % ord(s[-1])
    return s


def wrap(text, width=60):
    words = text.split(" ")
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = (cur + " " + w) if cur else w
    if cur:
        lines.append(cur)
    return lines


def b64_lines(data):
    s = base64.b64encode(data).decode()
    return [s[i:i + 76] for i in range(0, len(s), 76)]


def fake_pdf(rng, size):
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >>\n"
    return head + rng.randbytes(max(0, size - len(head)))


def fake_jpeg(rng, size):
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    return head + rng.randbytes(max(0, size - len(head)))


class Gen:
    def __init__(self, seed, user_index, user_addr):
        self.rng = random.Random("%s/%d" % (seed, user_index))
        self.k = user_index
        self.addr = user_addr
        self.weights = [p[2] for p in PEOPLE]
        self.boundary_n = 0

    def boundary(self):
        self.boundary_n += 1
        return "=_mssbench_%d_%06d_%08x" % (self.k, self.boundary_n,
                                             self.rng.getrandbits(32))

    def text_lines(self, n_sentences, words):
        """Decoded text lines (str) of a letter; the search words each on
        their own line."""
        rng = self.rng
        lines = ["Cher confrère,", ""]
        para = []
        for _ in range(n_sentences):
            para.append(rng.choice(SENTENCES))
            if len(para) >= 3:
                lines.extend(wrap(" ".join(para)))
                lines.append("")
                para = []
        if para:
            lines.extend(wrap(" ".join(para)))
            lines.append("")
        for w in words:
            pos = rng.randrange(2, len(lines) + 1)
            lines.insert(pos, BODY_WORDS[w][0])
        lines += ["", "Dr " + self.addr.split("@")[0], "--",
                  "Message envoyé par messagerie sécurisée de santé"]
        return lines

    def part_plain(self, lines):
        enc = self.rng.random() < 0.7
        hdr = ["Content-Type: text/plain; charset=utf-8; format=flowed",
               "Content-Transfer-Encoding: " +
               ("quoted-printable" if enc else "8bit"), ""]
        body = [qp_line(l) for l in lines] if enc else lines
        return hdr + body

    def part_html(self, lines):
        html = ["<html><head><meta charset=\"utf-8\"></head><body>"]
        for l in lines:
            html.append("<p>%s</p>" % (l.replace("&", "&amp;")
                                       .replace("<", "&lt;")
                                       if l else "&nbsp;"))
        html.append("</body></html>")
        return (["Content-Type: text/html; charset=utf-8",
                 "Content-Transfer-Encoding: quoted-printable", ""] +
                [qp_line(l) for l in html])

    def part_attachment(self, kind, size, name):
        if kind == "pdf":
            data = fake_pdf(self.rng, size)
            ctype = "application/pdf"
        elif kind == "jpg":
            data = fake_jpeg(self.rng, size)
            ctype = "image/jpeg"
        else:
            # an HL7 CDA document (structured, compressible text)
            body = []
            while sum(len(x) for x in body) < size:
                body.append("<observation classCode=\"OBS\" moodCode="
                            "\"EVN\"><code code=\"%d-%d\" codeSystem=\"2.16"
                            ".840.1.113883.6.1\"/><value xsi:type=\"PQ\" "
                            "value=\"%d.%d\" unit=\"mmol/L\"/></observation>"
                            % (self.rng.randrange(1000, 99999),
                               self.rng.randrange(10), self.rng.randrange(1,
                                                                          9),
                               self.rng.randrange(10)))
            data = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\n" +
                    "\n".join(body) + "\n</ClinicalDocument>\n").encode()
            ctype = "text/xml; charset=utf-8"
        return (["Content-Type: %s; name=\"%s\"" % (ctype, name),
                 "Content-Disposition: attachment; filename=\"%s\"" % name,
                 "Content-Transfer-Encoding: base64", ""] + b64_lines(data))

    def forwarded(self, i):
        """A short message/rfc822 part (no search words inside)."""
        rng = self.rng
        name, addr, _ = rng.choice(PEOPLE)
        return (["Content-Type: message/rfc822",
                 "Content-Disposition: inline", "",
                 "From: %s <%s>" % (enc_word(name), addr),
                 "To: %s" % self.addr,
                 "Subject: " + enc_word("Compte rendu opératoire"),
                 "Date: Mon, 05 Jan 2026 09:00:00 +0100",
                 "Message-ID: <fwd.%d.%d@bench.mssante.test>" % (self.k, i),
                 "MIME-Version: 1.0",
                 "Content-Type: text/plain; charset=utf-8",
                 "Content-Transfer-Encoding: 8bit", ""] +
                wrap(" ".join(rng.choice(SENTENCES) for _ in range(4))))

    def message(self, mailbox, i, when):
        """(bytes, flags list, internal date str, meta dict)."""
        rng = self.rng
        target = rng.randrange(2048, 20481)
        name, addr, _ = rng.choices(PEOPLE, self.weights)[0]
        patient = rng.choice(PATIENTS)
        subject = rng.choice(SUBJECTS).format(p=patient)
        words = [w for w, (_, p) in BODY_WORDS.items() if rng.random() < p]
        mid = "<%d.%s.%d.%08x@bench.mssante.test>" % (
            self.k, re.sub(r"[^A-Za-z0-9]", "", mailbox), i,
            rng.getrandbits(32))
        tz = "+0100" if when[1] < 3 or when[1] > 9 else "+0200"
        date_hdr = "%s, %02d %s 2026 %02d:%02d:%02d %s" % (
            DAYS[when[4]], when[2], MONTHS[when[1]], when[3] // 3600,
            when[3] // 60 % 60, when[3] % 60, tz)
        internal = "%02d-%s-2026 %02d:%02d:%02d %s" % (
            when[2], MONTHS[when[1]], when[3] // 3600, when[3] // 60 % 60,
            when[3] % 60, tz)
        hdr = [
            "Return-Path: <%s>" % addr,
            "Received: from mx.%s (mx.%s [192.0.2.%d]) by mx.mssante.test "
            "with ESMTPS id %08X for <%s>; %s" % (
                addr.split("@")[1], addr.split("@")[1], rng.randrange(1, 254),
                rng.getrandbits(32), self.addr, date_hdr),
            "From: %s <%s>" % (enc_word(name), addr),
            "To: %s" % self.addr,
        ]
        if rng.random() < 0.3:
            cn, ca, _ = rng.choice(PEOPLE)
            hdr.append("Cc: %s <%s>" % (enc_word(cn), ca))
        hdr += [
            "Subject: %s" % enc_word(subject),
            "Date: %s" % date_hdr,
            "Message-ID: %s" % mid,
            "MIME-Version: 1.0",
            "X-Mailer: Bench-MSS 1.0",
        ]
        if subject.startswith("Re:"):
            hdr.append("In-Reply-To: <prev.%d.%d@bench.mssante.test>" %
                       (self.k, i))
        kind = rng.random()
        n_sent = rng.randrange(3, 10)
        lines = self.text_lines(n_sent, words)
        text = "\r\n".join(lines)
        # room left for attachments, roughly (base64 grows by 4/3)
        approx = 900 + len(text.encode()) * (2 if kind > 0.25 else 1)
        room = max(200, (target - approx) * 3 // 4)
        if kind < 0.25:
            # text only, padded with more sentences up to the target size
            while len("\r\n".join(lines).encode()) + 900 < target:
                lines[-4:-4] = wrap(" ".join(rng.choice(SENTENCES)
                                             for _ in range(3))) + [""]
            body = self.part_plain(lines)
            ctype_lines = body[:2]
            out = hdr + ctype_lines + [""] + body[3:]
        else:
            parts = []
            b1 = self.boundary()
            if kind < 0.45:
                # multipart/alternative, padded
                while len("\r\n".join(lines).encode()) * 3 + 1200 < target:
                    lines[-4:-4] = wrap(" ".join(rng.choice(SENTENCES)
                                                 for _ in range(3))) + [""]
                out = hdr + ["Content-Type: multipart/alternative; "
                             "boundary=\"%s\"" % b1, "",
                             "This is a multi-part message in MIME format."]
                for p in (self.part_plain(lines), self.part_html(lines)):
                    out += ["--" + b1] + p
                out += ["--%s--" % b1, ""]
            else:
                out = hdr + ["Content-Type: multipart/mixed; "
                             "boundary=\"%s\"" % b1, "",
                             "This is a multi-part message in MIME format."]
                if kind < 0.85:
                    parts.append(self.part_plain(lines))
                else:
                    b2 = self.boundary()
                    alt = ["Content-Type: multipart/alternative; "
                           "boundary=\"%s\"" % b2, ""]
                    for p in (self.part_plain(lines), self.part_html(lines)):
                        alt += ["--" + b2] + p
                    alt += ["--%s--" % b2]
                    parts.append(alt)
                r = rng.random()
                if r < 0.55:
                    parts.append(self.part_attachment(
                        "pdf", room, "CR_%d.pdf" % i))
                elif r < 0.75:
                    parts.append(self.part_attachment(
                        "xml", room, "CDA_%d.xml" % i))
                elif r < 0.92:
                    parts.append(self.part_attachment(
                        "pdf", room * 2 // 3, "ordonnance_%d.pdf" % i))
                    parts.append(self.part_attachment(
                        "jpg", room // 3, "photo_%d.jpg" % i))
                else:
                    parts.append(self.forwarded(i))
                    parts.append(self.part_attachment(
                        "pdf", max(200, room - 1500), "annexe_%d.pdf" % i))
                for p in parts:
                    out += ["--" + b1] + p
                out += ["--%s--" % b1, ""]
        data = "\r\n".join(out).encode("utf-8")
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        # flags: older mail mostly read
        flags = []
        if rng.random() < 0.8:
            flags.append("\\Seen")
        if rng.random() < 0.06:
            flags.append("\\Flagged")
        if rng.random() < 0.15:
            flags.append("\\Answered")
        if rng.random() < 0.04:
            flags.append("$Forwarded")
        meta = {"from": "%s <%s>" % (name, addr), "subject": subject,
                "words": words, "flags": flags, "mid": mid}
        return data, flags, internal, meta


def dates(rng, n):
    """n increasing (year, month0, day, seconds-of-day, weekday) in 2026,
    from January to October."""
    import datetime
    start = datetime.datetime(2026, 1, 2)
    span = (datetime.datetime(2026, 10, 30) - start).total_seconds()
    secs = sorted(rng.random() * span for _ in range(n))
    out = []
    for s in secs:
        d = start + datetime.timedelta(seconds=s)
        # office hours: 07:00 to 19:59, far from midnight in any zone
        sod = 7 * 3600 + int(s) % (13 * 3600)
        out.append((2026, d.month - 1, d.day, sod, d.weekday()))
    return out


def matches(meta, crit):
    """Expected answer of one query for one message (from the corpus)."""
    low = lambda s: s.lower()  # noqa: E731
    m = re.match(r'(FROM|SUBJECT|BODY|TEXT) "(.*)"$', crit)
    if m:
        key, val = m.group(1), m.group(2).lower()
        if key == "FROM":
            return val in low(meta["from"])
        if key == "SUBJECT":
            return val in low(meta["subject"])
        return val in meta["words"]
    f = meta["flags"]
    if crit == "UNSEEN":
        return "\\Seen" not in f
    if crit == "FLAGGED":
        return "\\Flagged" in f
    if crit == "OR FLAGGED ANSWERED":
        return "\\Flagged" in f or "\\Answered" in f
    raise ValueError(crit)


def cmd_corpus(argv):
    d, users, inbox, folders, folder_msgs, seed = argv
    users, inbox, folders, folder_msgs = (int(users), int(inbox),
                                          int(folders), int(folder_msgs))
    names = ["INBOX"] + ["Archives", "Patients", "Laboratoire", "Confreres",
                         "Projets", "Administratif", "Divers"][:folders]
    if folders > 7:
        names += ["Dossier%d" % i for i in range(8, folders + 1)]
    os.makedirs(d, exist_ok=True)
    expected = {"users": {}, "queries": QUERIES}
    total = tbytes = 0
    sizes = []
    for k in range(1, users + 1):
        addr = "bench-u%d@%s" % (k, DOMAIN_OURS)
        g = Gen(seed, k, addr)
        ud = os.path.join(d, "u%d" % k)
        os.makedirs(ud, exist_ok=True)
        uexp = {"mailboxes": {}, "queries": {}}
        with open(os.path.join(ud, "mailboxes"), "w") as f:
            f.write("\n".join(names + ["Bench-Append"]) + "\n")
        for mb in names:
            n = inbox if mb == "INBOX" else folder_msgs
            metas = []
            nbytes = 0
            with open(os.path.join(ud, mb + ".mbx"), "wb") as f:
                for i, when in enumerate(dates(g.rng, n), 1):
                    data, flags, internal, meta = g.message(mb, i, when)
                    args = "(%s) \"%s\"" % (" ".join(flags), internal)
                    f.write(b"%d %s\n" % (len(data), args.encode()))
                    f.write(data)
                    metas.append(meta)
                    nbytes += len(data)
                    sizes.append(len(data))
            total += n
            tbytes += nbytes
            uexp["mailboxes"][mb] = {"count": n, "bytes": nbytes,
                                     "mids": [m["mid"] for m in metas]}
            if mb == "INBOX":
                for _, crit in QUERIES:
                    uexp["queries"][crit] = sum(1 for m in metas
                                                if matches(m, crit))
        open(os.path.join(ud, "Bench-Append.mbx"), "wb").close()
        uexp["mailboxes"]["Bench-Append"] = {"count": 0, "bytes": 0,
                                             "mids": []}
        expected["users"][addr] = uexp
    # messages for the APPEND mix (not searched, not verified)
    g = Gen(seed, 0, "bench-u1@" + DOMAIN_OURS)
    with open(os.path.join(d, "append.mbx"), "wb") as f:
        for i, when in enumerate(dates(g.rng, 64), 1):
            data, flags, internal, _ = g.message("append", i, when)
            args = "(\\Seen) \"%s\"" % internal
            f.write(b"%d %s\n" % (len(data), args.encode()))
            f.write(data)
    with open(os.path.join(d, "queries"), "w") as f:
        for cls, crit in QUERIES:
            f.write("%s %s\n" % (cls, crit))
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f)
    sizes.sort()
    print("corpus: users=%d mailboxes=%d messages=%d bytes=%d "
          "size_min=%d size_p50=%d size_max=%d" % (
              users, len(names), total, tbytes, sizes[0],
              sizes[len(sizes) // 2], sizes[-1]))


def read_mbx(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        j = data.index(b"\n", i)
        n = int(data[i:j].split(b" ", 1)[0])
        out.append(data[j + 1:j + 1 + n])
        i = j + 1 + n
    return out


# --- verification ------------------------------------------------------------

def cmd_verify(argv):
    d, port, cafile, password, label = argv[:5]
    users = argv[5:]
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    ctx = ssl.create_default_context(cafile=cafile)
    hard = soft = 0
    checked_msgs = checked_bytes = 0
    search_lines = []
    rng = random.Random(1)
    for k, user in enumerate(users, 1):
        uexp = exp["users"][user]
        c = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx,
                              timeout=120)
        c.login(user, password)
        for mb, e in uexp["mailboxes"].items():
            typ, data = c.select('"%s"' % mb, readonly=True)
            n = int(data[0]) if typ == "OK" else -1
            if n != e["count"]:
                print("%s: %s %s: %d messages, expected %d" % (
                    label, user, mb, n, e["count"]))
                hard += 1
                continue
            if n == 0:
                continue
            typ, data = c.fetch(
                "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            mids = []
            for item in data:
                if isinstance(item, tuple):
                    m = re.search(rb"<[^>]+>", item[1])
                    mids.append(m.group(0).decode() if m else None)
            if mids != e["mids"]:
                bad = next((i for i, (a, b) in enumerate(zip(mids, e["mids"]))
                            if a != b), min(len(mids), len(e["mids"])))
                print("%s: %s %s: Message-IDs differ from the corpus at "
                      "message %d (got %d ids)" % (label, user, mb, bad + 1,
                                                   len(mids)))
                hard += 1
            # the exact bytes of a sample
            corpus = read_mbx(os.path.join(d, "u%d" % k, mb + ".mbx"))
            sample = sorted(set([1, n] + [rng.randrange(1, n + 1)
                                          for _ in range(10)]))
            for seq in sample:
                typ, data = c.fetch(str(seq), "(BODY.PEEK[])")
                body = data[0][1] if typ == "OK" and isinstance(
                    data[0], tuple) else None
                checked_msgs += 1
                if body != corpus[seq - 1]:
                    print("%s: %s %s message %d: bytes differ from the "
                          "corpus (%s bytes, expected %d)" % (
                              label, user, mb, seq,
                              len(body) if body is not None else "no",
                              len(corpus[seq - 1])))
                    hard += 1
                else:
                    checked_bytes += len(body)
        c.select("INBOX", readonly=True)
        for crit, want in uexp["queries"].items():
            typ, data = c.search(None, crit)
            got = len(data[0].split()) if typ == "OK" else -1
            if got != want:
                soft += 1
                search_lines.append("%s: %s INBOX SEARCH %s: %d hits, the "
                                    "corpus has %d" % (label, user, crit,
                                                       got, want))
        c.logout()
    for line in search_lines:
        print(line)
    nq = sum(len(exp["users"][u]["queries"]) for u in users)
    print("%s: %s; Message-IDs of every mailbox in order; bytes of %d "
          "sampled messages (%d KiB) %s; %d/%d SEARCH answers = corpus" % (
              label, "message counts of %d mailboxes %s" % (
                  sum(len(exp["users"][u]["mailboxes"]) for u in users),
                  "ok" if hard == 0 else "NOT ok"),
              checked_msgs, checked_bytes // 1024,
              "identical" if hard == 0 else "checked",
              nq - soft, nq))
    sys.exit(1 if hard else (2 if soft else 0))


def cmd_scan(argv):
    """scan PORT CAFILE PASSWORD USER...: what a client's first look at
    each INBOX costs: SELECT (read-write: on Dovecot the first one after
    new mail moves it from new/ to cur/ and updates the indexes), then
    UID FETCH 1:* (UID FLAGS RFC822.SIZE
    INTERNALDATE ENVELOPE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)]);
    one line "messages=N seconds=S"."""
    import time
    port, cafile, password = argv[:3]
    ctx = ssl.create_default_context(cafile=cafile)
    n = 0
    spent = 0.0
    for user in argv[3:]:
        c = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx,
                              timeout=300)
        c.login(user, password)
        t0 = time.monotonic()
        c.select("INBOX")       # read-write, as a client does
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE "
                          "INTERNALDATE ENVELOPE BODY.PEEK[HEADER.FIELDS "
                          "(FROM TO SUBJECT DATE)])")
        spent += time.monotonic() - t0
        if typ != "OK":
            raise SystemExit("%s: FETCH failed: %r" % (user, data))
        n += sum(1 for x in data if isinstance(x, tuple))
        c.logout()
    print("messages=%d seconds=%.2f" % (n, spent))


def cmd_count(argv):
    """count PORT CAFILE PASSWORD USER...: one line "MAILBOX=N ..." with
    the number of messages of every mailbox, summed over the users."""
    port, cafile, password = argv[:3]
    ctx = ssl.create_default_context(cafile=cafile)
    tot = {}
    for user in argv[3:]:
        c = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx,
                              timeout=120)
        c.login(user, password)
        typ, data = c.list()
        names = []
        for line in data:
            m = re.match(rb'\(.*?\) (?:"."|NIL) (.*)$', line)
            if m:
                names.append(m.group(1).decode().strip('"'))
        for mb in names:
            typ, data = c.status('"%s"' % mb, "(MESSAGES)")
            m = re.search(rb"MESSAGES (\d+)", data[0])
            tot[mb] = tot.get(mb, 0) + int(m.group(1))
        c.logout()
    print(" ".join("%s=%d" % kv for kv in sorted(tot.items())))


# --- memory ------------------------------------------------------------------

def rollup(pid):
    vals = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":"):
                    try:
                        vals[parts[0][:-1]] = int(parts[1])
                    except ValueError:
                        pass
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return vals


def children_map():
    kids = {}
    comm = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                s = f.read()
        except OSError:
            continue
        r = s.rindex(")")
        ppid = int(s[r + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(e))
        comm[int(e)] = s[s.index("(") + 1:r]
    return kids, comm


def cmd_mem(argv):
    pid = int(argv[0])
    tree = len(argv) > 1 and argv[1] == "tree"
    pids = [pid]
    kids, comm = children_map()
    if tree:
        i = 0
        while i < len(pids):
            pids.extend(kids.get(pids[i], []))
            i += 1
    tot = {"Rss": 0, "Pss": 0, "Pss_Anon": 0, "Pss_File": 0,
           "Pss_Shmem": 0}
    per = {}
    n = 0
    for p in pids:
        v = rollup(p)
        if v is None:
            continue
        n += 1
        for k in tot:
            tot[k] += v.get(k, 0)
        c = comm.get(p, "?")
        a = per.setdefault(c, [0, 0])
        a[0] += 1
        a[1] += v.get("Pss", 0)
    print("procs=%d rss_kb=%d pss_kb=%d pss_anon_kb=%d pss_file_kb=%d "
          "pss_shmem_kb=%d" % (n, tot["Rss"], tot["Pss"], tot["Pss_Anon"],
                               tot["Pss_File"], tot["Pss_Shmem"]))
    if tree:
        for c, (k, pss) in sorted(per.items(), key=lambda x: -x[1][1]):
            print("%s %d %d" % (c.replace(" ", "_"), k, pss))


if __name__ == "__main__":
    cmds = {"corpus": cmd_corpus, "verify": cmd_verify, "scan": cmd_scan,
            "count": cmd_count, "mem": cmd_mem}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write(__doc__)
        sys.exit(2)
    cmds[sys.argv[1]](sys.argv[2:])
