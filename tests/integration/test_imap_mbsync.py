# SPDX-License-Identifier: MIT
"""mbsync (isync) against mssgate: a full two-way synchronisation of an
account holding 1,000 messages in several folders (INBOX 400, Archives
250, Patients 200, Projets/2026 150; loaded by pipelined APPEND with
LITERAL+), into a local Maildir++ store, over implicit TLS verified
against the gateway's development CA, with AUTHENTICATE PLAIN.

1. First sync: every folder exists on both sides; the local maildirs hold
   exactly the server's messages (Message-IDs per folder, bodies byte for
   byte once mbsync's CRLF to LF conversion and its X-TUID header line
   are undone) and the same flags
   (maildir info letters S F R D T against \\Seen \\Flagged \\Answered
   \\Draft \\Deleted).
2. Changes on both sides, on disjoint messages. Server (imaplib): STORE
   +FLAGS \\Seen and \\Flagged, UID MOVE INBOX -> Archives, \\Deleted +
   UID EXPUNGE, \\Deleted without expunge, one APPEND, a new folder with
   messages. Local (maildir conventions): seen and flagged by renaming
   (new/ -> cur/, info ":2,FS..."), moves INBOX -> .Patients (the file is
   renamed without its ",U=" part, as mutt does), deletions (file
   removed), the trashed flag T, a new message, a new folder.
3. Second sync: the server (UID FETCH FLAGS and Message-IDs of every
   folder) and the maildirs (file names and headers) both hold exactly the
   state the changes of both sides lead to; moved messages keep their
   bytes.
4. Third sync transfers nothing: its protocol trace (mbsync -Dn) holds no
   APPEND, STORE, EXPUNGE, MOVE, COPY, CREATE or DELETE and no FETCH of a
   body, and neither side changed (server: UIDVALIDITY, UIDs and flags of
   every folder; local: every message file name).

mbsync must be installed (Debian package isync): without it the test
fails, it does not skip.
"""

import os
import re
import shutil
import socket
import subprocess
import time

from mssgate_test import Gateway, Tap, run_tests

t = Tap()
MBSYNC = shutil.which("mbsync")
USER = "sync@mssante.test"
FOLDERS = [("INBOX", 400), ("Archives", 250), ("Patients", 200),
           ("Projets/2026", 150)]
FLAG_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered",
                "S": "\\Seen", "T": "\\Deleted"}
LETTER_OF = {v: k for k, v in FLAG_LETTERS.items()}
SYNC_TIMEOUT = 120


# --- messages ----------------------------------------------------------------

def make_msg(n, folder):
    """A small realistic message; one in five carries a PDF attachment."""
    mid = "<sync.%d.%s@mbsync.test>" % (n, re.sub(r"\W", "", folder))
    head = ("From: Dr Test %d <dr%d@hopital.mssante.fr>\r\n"
            "To: %s\r\n"
            "Subject: Compte rendu %d (%s)\r\n"
            "Date: Mon, %02d Feb 2026 10:%02d:00 +0100\r\n"
            "Message-ID: %s\r\n"
            "MIME-Version: 1.0\r\n" % (n % 7, n % 7, USER, n, folder,
                                       1 + n % 27, n % 60, mid))
    text = "".join("Ligne %d du compte rendu %d.\r\n" % (i, n)
                   for i in range(3 + n % 20))
    if n % 5:
        body = ("Content-Type: text/plain; charset=utf-8\r\n\r\n" + text)
    else:
        import base64
        pdf = base64.b64encode(bytes((n * 7 + i * 13) & 255
                                     for i in range(600 + n % 900))).decode()
        pdf = "\r\n".join(pdf[i:i + 76] for i in range(0, len(pdf), 76))
        body = ("Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
                "--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                "%s--b%d\r\nContent-Type: application/pdf; name=\"cr.pdf\""
                "\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n"
                "--b%d--\r\n" % (n, n, text, n, pdf, n))
    return mid, (head + body).encode()


def initial_flags(n):
    f = set()
    if n % 3 == 0:
        f.add("\\Seen")
    if n % 17 == 0:
        f.add("\\Flagged")
    if n % 23 == 0:
        f.add("\\Answered")
    return f


def norm(data):
    """Bytes compared across the two sides: mbsync stores LF line ends and
    adds an X-TUID header line (its own tracking) to the messages it
    writes."""
    data = data.replace(b"\r\n", b"\n")
    head, sep, body = data.partition(b"\n\n")
    head = re.sub(rb"\nX-TUID: [^\n]*", b"", b"\n" + head)[1:]
    return head + sep + body


# --- a raw TLS IMAP connection for fast pipelined APPENDs --------------------

class Raw:
    def __init__(self, gw, password):
        s = socket.create_connection(("127.0.0.1", gw.port_imaps), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = gw.ssl_context().wrap_socket(s, server_hostname="localhost")
        self.f = self.s.makefile("rb")
        self.n = 0
        greet = self.f.readline()
        if not greet.startswith(b"* OK"):
            raise RuntimeError("greeting: %r" % greet)
        self.cmd('LOGIN "%s" "%s"' % (USER, password))

    def wait(self, tag):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("connection closed waiting for %s" % tag)
            if line.startswith(tag.encode() + b" "):
                if not line.startswith(tag.encode() + b" OK"):
                    raise RuntimeError("%s: %r" % (tag, line))
                return line

    def cmd(self, text):
        self.n += 1
        tag = "r%d" % self.n
        self.s.sendall(("%s %s\r\n" % (tag, text)).encode())
        return self.wait(tag)

    def append_many(self, items, batch=50):
        """items: (mailbox, flags, bytes); LITERAL+, batch commands in
        flight."""
        for i in range(0, len(items), batch):
            tags = []
            out = []
            for mb, flags, data in items[i:i + batch]:
                self.n += 1
                tag = "r%d" % self.n
                tags.append(tag)
                out.append(b'%s APPEND "%s" (%s) {%d+}\r\n' % (
                    tag.encode(), mb.encode(),
                    " ".join(sorted(flags)).encode(), len(data)))
                out.append(data + b"\r\n")
            self.s.sendall(b"".join(out))
            for tag in tags:
                self.wait(tag)

    def close(self):
        try:
            self.cmd("LOGOUT")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self.s.close()


# --- the two sides as {folder: {message-id: flags}} --------------------------

def server_state(gw, pw, bodies=False):
    """{folder: {mid: frozenset(flags)}}, and with bodies {mid: bytes}
    and {folder: (uidvalidity, ((uid, flags)...))}."""
    c = gw.imap(implicit=True, login=USER, password=pw)
    typ, data = c.list()
    folders = []
    for line in data:
        m = re.match(rb'\((.*?)\) (?:"."|NIL) (.*)$', line)
        if m and b"\\Noselect" not in m.group(1):
            folders.append(m.group(2).decode().strip('"'))
    state, raw, uids = {}, {}, {}
    for fo in folders:
        typ, data = c.select('"%s"' % fo, readonly=True)
        if typ != "OK":
            raise RuntimeError("EXAMINE %s: %r" % (fo, data))
        uv = c.untagged_responses.get("UIDVALIDITY", [b"?"])[-1]
        items = "(UID FLAGS BODY.PEEK[%s])" % (
            "" if bodies else "HEADER.FIELDS (MESSAGE-ID)")
        state[fo] = {}
        lst = []
        if int(data[0]) > 0:
            typ, data = c.uid("FETCH", "1:*", items)
            for item in data:
                if not isinstance(item, tuple):
                    continue
                meta, payload = item
                uid = int(re.search(rb"UID (\d+)", meta).group(1))
                flags = frozenset(
                    x.decode() for x in
                    re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).split()
                    if x != b"\\Recent")
                mid = re.search(rb"Message-ID:\s*(<[^>]+>)", payload,
                                re.I).group(1).decode()
                state[fo][mid] = flags
                lst.append((uid, tuple(sorted(flags))))
                if bodies:
                    raw[mid] = payload
        uids[fo] = (uv, tuple(sorted(lst)))
    c.logout()
    return state, raw, uids


def local_dir(root, folder):
    if folder == "INBOX":
        return root
    return os.path.join(root, "." + folder.replace("/", "."))


def local_folders(root):
    out = ["INBOX"]
    for e in sorted(os.listdir(root)):
        if e.startswith(".") and os.path.isdir(os.path.join(root, e, "cur")):
            out.append(e[1:].replace(".", "/"))
    return out


def msg_files(d):
    for sub in ("cur", "new"):
        p = os.path.join(d, sub)
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                yield sub, name, os.path.join(p, name)


def info_flags(name):
    if ":2," not in name:
        return frozenset()
    return frozenset(FLAG_LETTERS[ch] for ch in name.split(":2,", 1)[1]
                     if ch in FLAG_LETTERS)


def read_mid(path):
    with open(path, "rb") as f:
        head = f.read(8192).split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    m = re.search(rb"^Message-ID:\s*(<[^>]+>)", head, re.I | re.M)
    return m.group(1).decode() if m else None


def local_state(root, bodies=False):
    state, raw, names = {}, {}, []
    for fo in local_folders(root):
        state[fo] = {}
        for sub, name, path in msg_files(local_dir(root, fo)):
            mid = read_mid(path)
            state[fo][mid] = info_flags(name)
            names.append("%s/%s/%s" % (fo, sub, name))
            if bodies:
                with open(path, "rb") as f:
                    raw[mid] = f.read()
    return state, raw, sorted(names)


def set_flags(path, add=(), remove=()):
    """Rename a maildir message to carry the flags (new/ -> cur/)."""
    d, name = os.path.split(path)
    base, _, info = name.partition(":2,")
    letters = set(info) | {LETTER_OF[f] for f in add}
    letters -= {LETTER_OF[f] for f in remove}
    new = os.path.join(os.path.dirname(d), "cur",
                       "%s:2,%s" % (base, "".join(sorted(letters))))
    os.rename(path, new)
    return new


def diff(got, want):
    """A readable difference of two {folder: {mid: flags}}."""
    out = []
    for fo in sorted(set(got) | set(want)):
        g, w = got.get(fo), want.get(fo)
        if g is None or w is None:
            out.append("%s: folder %s" % (fo, "missing" if g is None else
                                           "unexpected"))
            continue
        for mid in sorted(set(g) | set(w)):
            if mid not in g:
                out.append("%s: missing %s" % (fo, mid))
            elif mid not in w:
                out.append("%s: unexpected %s" % (fo, mid))
            elif g[mid] != w[mid]:
                out.append("%s: %s flags %s, want %s" % (
                    fo, mid, sorted(g[mid]), sorted(w[mid])))
    return "\n".join(out[:40]) + ("\n... %d differences" % len(out)
                                  if len(out) > 40 else "")


# --- mbsync ------------------------------------------------------------------

def write_rc(gw, root):
    pw_file = os.path.join(gw.tmp, "imap-password")
    rc = os.path.join(gw.tmp, "mbsyncrc")
    with open(rc, "w") as f:
        f.write("""# private mbsync configuration of test_imap_mbsync
IMAPAccount gateway
# the development certificate names localhost (mbsync checks DNS names)
Host localhost
Port %d
User %s
PassCmd "cat %s"
SSLType IMAPS
SystemCertificates no
CertificateFile %s
AuthMechs PLAIN
Timeout 60

IMAPStore remote
Account gateway

MaildirStore local
Inbox %s
SubFolders Maildir++

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""" % (gw.port_imaps, USER, pw_file, gw.ca, root))
    return rc, pw_file


def mbsync(rc, home, debug=False):
    args = [MBSYNC, "-Dn" if debug else "-V", "-c", rc, "-a"]
    started = time.monotonic()
    p = subprocess.run(args, capture_output=True, timeout=SYNC_TIMEOUT,
                       env=dict(os.environ, HOME=home))
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"), time.monotonic() - started)


def commands_of(trace):
    """The IMAP commands mbsync sent, from its -Dn trace."""
    return [m.group(1) for m in re.finditer(r">>> \d+ ([^\r\n]*)", trace)]


# --- the test ----------------------------------------------------------------

def test_mbsync():
    if not t.ok(MBSYNC is not None,
                "mbsync is installed (Debian package isync)",
                "mbsync not found in PATH: apt-get install isync"):
        return
    gw = Gateway().start()
    pw = gw.add_user(USER)
    root = os.path.join(gw.tmp, "Maildir")
    os.makedirs(root)
    home = os.path.join(gw.tmp, "home")
    os.makedirs(home)
    rc, pw_file = write_rc(gw, root)
    with open(pw_file, "w") as f:
        f.write(pw + "\n")
    os.chmod(pw_file, 0o600)

    # the account: 1,000 messages in four folders
    want = {}
    originals = {}
    items = []
    n = 0
    for fo, count in FOLDERS:
        want[fo] = {}
        for _ in range(count):
            n += 1
            mid, data = make_msg(n, fo)
            flags = initial_flags(n)
            want[fo][mid] = frozenset(flags)
            originals[mid] = data
            items.append((fo, flags, data))
    raw = Raw(gw, pw)
    for fo, _ in FOLDERS:
        if fo != "INBOX":
            raw.cmd('CREATE "%s"' % fo)
    started = time.monotonic()
    raw.append_many(items)
    raw.close()
    t.diag("1,000 messages APPENDed in %.1f s" % (time.monotonic() - started))
    srv, srv_raw, _ = server_state(gw, pw, bodies=True)
    for fo, _ in FOLDERS:
        t.eq(srv.get(fo), want[fo], "server: %s holds the %d messages "
             "APPENDed, with their flags" % (fo, len(want[fo])))
    # the standard mailboxes (and any parent) are there too, empty
    for fo in srv:
        want.setdefault(fo, {})

    # ---- 1. first sync
    rc1, out, err, secs = mbsync(rc, home)
    t.diag("first sync: %.1f s" % secs)
    t.eq(rc1, 0, "first sync: mbsync exits 0")
    if rc1 != 0:
        t.diag((out + err)[-3000:])
    loc, loc_raw, _ = local_state(root, bodies=True)
    t.eq(sorted(loc), sorted(srv), "first sync: the same folders on both "
         "sides (%s)" % ", ".join(sorted(srv)))
    t.ok(loc == srv, "first sync: every local folder holds exactly the "
         "server's messages (Message-IDs) with the same flags",
         diff(loc, srv))
    total = sum(len(v) for v in loc.values())
    t.eq(total, 1000, "first sync: 1,000 messages in the local maildirs")
    bad = [mid for mid in srv_raw
           if norm(loc_raw.get(mid, b"")) != norm(srv_raw[mid])]
    t.eq(bad[:5], [], "first sync: every local message has the server's "
         "bytes (but CRLF -> LF and mbsync's X-TUID line)")
    bad = [mid for mid in srv_raw if srv_raw[mid] != originals.get(mid)]
    t.eq(bad[:5], [], "server: every message has the bytes APPENDed")
    t.ok("Error" not in err and "Warning" not in err,
         "first sync: no error or warning from mbsync", err[-2000:])

    # ---- 2. changes on both sides, on disjoint messages
    inbox = sorted(want["INBOX"])          # Message-IDs, stable order
    srv_seen = [m for m in inbox[0:60] if "\\Seen" not in want["INBOX"][m]]
    srv_flag = inbox[60:70]
    srv_move = inbox[70:100]               # -> Archives on the server
    srv_del = inbox[100:110]               # \Deleted + UID EXPUNGE
    loc_seen = [m for m in inbox[110:170] if "\\Seen" not in
                want["INBOX"][m]]
    loc_flag = inbox[170:180]
    loc_move = inbox[180:205]              # -> Patients locally
    loc_del = inbox[205:215]               # file removed
    patients = sorted(want["Patients"])
    srv_del_noexp = patients[0:5]          # \Deleted, not expunged
    archives = sorted(want["Archives"])
    loc_trash = archives[0:5]              # T flag locally

    # server side
    c = gw.imap(implicit=True, login=USER, password=pw)
    c.select("INBOX")
    typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS "
                      "(MESSAGE-ID)])")
    uid_of = {}
    for item in data:
        if isinstance(item, tuple):
            uid_of[re.search(rb"(<[^>]+>)", item[1]).group(1).decode()] = \
                int(re.search(rb"UID (\d+)", item[0]).group(1))

    def uids(mids):
        return ",".join(str(uid_of[m]) for m in mids)

    ok = True
    ok &= c.uid("STORE", uids(srv_seen), "+FLAGS", "(\\Seen)")[0] == "OK"
    ok &= c.uid("STORE", uids(srv_flag), "+FLAGS", "(\\Flagged)")[0] == "OK"
    ok &= c.uid("MOVE", uids(srv_move), "Archives")[0] == "OK"
    ok &= c.uid("STORE", uids(srv_del), "+FLAGS", "(\\Deleted)")[0] == "OK"
    ok &= c.uid("EXPUNGE", uids(srv_del))[0] == "OK"
    c.select("Patients")
    typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS "
                      "(MESSAGE-ID)])")
    for item in data:
        if isinstance(item, tuple):
            uid_of[re.search(rb"(<[^>]+>)", item[1]).group(1).decode()] = \
                int(re.search(rb"UID (\d+)", item[0]).group(1))
    ok &= c.uid("STORE", uids(srv_del_noexp), "+FLAGS",
                "(\\Deleted)")[0] == "OK"
    c.unselect()
    srv_new_mid, srv_new = make_msg(5001, "INBOX")
    ok &= c.append("INBOX", "(\\Flagged)", None, srv_new)[0] == "OK"
    ok &= c.create("Dossiers")[0] == "OK"
    dossiers = {}
    for i in range(3):
        mid, data = make_msg(6001 + i, "Dossiers")
        ok &= c.append("Dossiers", None, None, data)[0] == "OK"
        dossiers[mid] = frozenset()
        originals[mid] = data
    c.logout()
    t.ok(ok, "server changes made: STORE, UID MOVE, UID EXPUNGE, APPEND, "
         "CREATE")
    originals[srv_new_mid] = srv_new

    # local side
    path_of = {}
    for sub, name, path in msg_files(root):
        path_of[read_mid(path)] = path
    for m in loc_seen:
        path_of[m] = set_flags(path_of[m], add=["\\Seen"])
    for m in loc_flag:
        path_of[m] = set_flags(path_of[m], add=["\\Flagged"])
    pat_cur = os.path.join(local_dir(root, "Patients"), "cur")
    for m in loc_move:
        name = os.path.basename(path_of[m])
        base, _, info = name.partition(":2,")
        base = re.sub(r",U=\d+", "", base)
        os.rename(path_of[m], os.path.join(pat_cur, "%s.moved:2,%s" % (
            base, info)))
    for m in loc_del:
        os.remove(path_of[m])
    arch = local_dir(root, "Archives")
    for sub, name, path in msg_files(arch):
        if read_mid(path) in loc_trash:
            set_flags(path, add=["\\Deleted"])
    loc_new_mid, loc_new = make_msg(7001, "Archives")
    with open(os.path.join(arch, "new", "1790000000.test_1.localhost"),
              "wb") as f:
        f.write(loc_new.replace(b"\r\n", b"\n"))
    originals[loc_new_mid] = loc_new
    notes = os.path.join(root, ".Notes")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(notes, sub))
    notes_want = {}
    for i in range(2):
        mid, data = make_msg(8001 + i, "Notes")
        with open(os.path.join(notes, "cur", "1790000001.test_%d.localhost"
                               ":2,S" % i), "wb") as f:
            f.write(data.replace(b"\r\n", b"\n"))
        notes_want[mid] = frozenset(["\\Seen"])
        originals[mid] = data

    # the state both sides must reach
    w = {fo: dict(v) for fo, v in want.items()}
    for m in srv_seen + loc_seen:
        w["INBOX"][m] = w["INBOX"][m] | {"\\Seen"}
    for m in srv_flag + loc_flag:
        w["INBOX"][m] = w["INBOX"][m] | {"\\Flagged"}
    for m in srv_move:
        w["Archives"][m] = w["INBOX"].pop(m)
    for m in loc_move:
        w["Patients"][m] = w["INBOX"].pop(m)
    for m in srv_del + loc_del:
        del w["INBOX"][m]
    for m in srv_del_noexp:
        del w["Patients"][m]
    for m in loc_trash:
        del w["Archives"][m]
    w["INBOX"][srv_new_mid] = frozenset(["\\Flagged"])
    w["Archives"][loc_new_mid] = frozenset()
    w["Dossiers"] = dossiers
    w["Notes"] = notes_want

    # ---- 3. second sync
    rc2, out, err, secs = mbsync(rc, home)
    t.diag("second sync: %.1f s" % secs)
    t.eq(rc2, 0, "second sync: mbsync exits 0")
    if rc2 != 0:
        t.diag((out + err)[-3000:])
    srv, srv_raw, _ = server_state(gw, pw, bodies=True)
    loc, loc_raw, _ = local_state(root, bodies=True)
    for fo in srv:
        w.setdefault(fo, {})
    t.ok(srv == w, "second sync: the server holds the expected messages "
         "and flags in every folder", diff(srv, w))
    t.ok(loc == w, "second sync: the maildirs hold the expected messages "
         "and flags in every folder", diff(loc, w))
    t.ok(all(srv.get("Archives", {}).get(m) is not None and
             loc.get("Archives", {}).get(m) is not None for m in srv_move),
         "server MOVE INBOX -> Archives reached the maildir")
    t.ok(all(m in srv.get("Patients", {}) and
             m not in srv.get("INBOX", {}) for m in loc_move),
         "local move INBOX -> .Patients reached the server")
    t.ok(all("\\Seen" in loc["INBOX"].get(m, ()) for m in srv_seen) and
         all("\\Flagged" in loc["INBOX"].get(m, ()) for m in srv_flag),
         "server STORE \\Seen and \\Flagged reached the maildir (S, F)")
    t.ok(all("\\Seen" in srv["INBOX"].get(m, ()) for m in loc_seen) and
         all("\\Flagged" in srv["INBOX"].get(m, ()) for m in loc_flag),
         "maildir S and F reached the server (\\Seen, \\Flagged)")
    gone = srv_del + loc_del + srv_del_noexp + loc_trash
    t.ok(not any(m in fo_state for fo_state in list(srv.values()) +
                 list(loc.values()) for m in gone),
         "deletions of both sides (server EXPUNGE and \\Deleted, local "
         "unlink and T) are gone from both sides")
    t.ok(srv.get("Notes") == notes_want and loc.get("Dossiers") == dossiers,
         "new folders created on both sides (server Dossiers -> .Dossiers, "
         "local .Notes -> Notes)")
    bad = [m for m in srv_raw if norm(loc_raw.get(m, b"")) !=
           norm(srv_raw[m]) or norm(srv_raw[m]) != norm(originals[m])]
    t.eq(bad[:5], [], "second sync: every message has its original bytes "
         "on both sides (moved and new ones included)")
    t.ok("Error" not in err and "Warning" not in err,
         "second sync: no error or warning from mbsync", err[-2000:])

    # ---- 4. third sync: nothing to do
    _, _, srv_uids = server_state(gw, pw)
    _, _, names = local_state(root)
    rc3, out, err, secs = mbsync(rc, home, debug=True)
    t.diag("third sync: %.1f s" % secs)
    t.eq(rc3, 0, "third sync: mbsync exits 0")
    cmds = commands_of(out + err)
    writes = [x for x in cmds if re.match(
        r"(UID )?(APPEND|STORE|EXPUNGE|MOVE|COPY|CREATE|DELETE|RENAME)\b",
        x, re.I) or re.search(r"BODY(\.PEEK)?\[\]|RFC822\b(?!\.SIZE)", x,
                              re.I)]
    t.ok(cmds and not writes, "third sync: mbsync sends no APPEND, STORE, "
         "EXPUNGE, MOVE, COPY, CREATE or DELETE and fetches no body "
         "(%d commands, all reads)" % len(cmds), "\n".join(writes[:20]) or
         (out + err)[-2000:])
    _, _, srv_uids2 = server_state(gw, pw)
    _, _, names2 = local_state(root)
    t.ok(srv_uids2 == srv_uids, "third sync: the server's UIDVALIDITY, UIDs "
         "and flags did not change in any folder")
    t.eq([x for x in names2 if x not in names] +
         ["-" + x for x in names if x not in names2], [],
         "third sync: no local message file was added, removed or renamed")
    gw.cleanup()


run_tests(t, test_mbsync)
