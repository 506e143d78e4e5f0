# SPDX-License-Identifier: MIT
"""The IMAP server under test, and byte-exact IMAP clients.

The IMAP integration tests run against one of two targets:

- "mssgate" (the default): a private mssgated started by mssgate_test's
  Gateway; users are made with the real CLI, new mail arrives over SMTP.
- "dovecot" (IMAP_TARGET=dovecot): a private Dovecot from Debian
  (dovecot-imapd, installed with apt when missing) on free loopback ports,
  with its own configuration, mailboxes and run folder in a temporary
  folder, stopped and removed afterwards. It is the reference that shows
  the tests themselves are right. New mail is APPENDed from another
  connection. Its mailboxes are in sdbox, Dovecot's own format, which
  follows RFC 3501 where Maildir++ does not (RENAME INBOX, DELETE of a
  mailbox with children); DOVECOT_MAIL_LOCATION=maildir:~/Maildir tries
  the other.

Dovecot takes a connection whose client and server addresses are equal
as secure (plaintext LOGIN allowed, no LOGINDISABLED), so the private
Dovecot listens on 127.0.0.2 and is reached from 127.0.0.1: still only
loopback, and the STARTTLS rules are the real ones.

RawIMAP speaks IMAP on a socket, byte by byte, for everything imaplib
cannot express (literals, pipelining, IDLE, error paths); parse() turns a
response into Python values: atoms are str (int when all digits), quoted
strings and literals bytes, NIL None, parenthesised lists lists.
"""

import atexit
import base64
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

TARGET = os.environ.get("IMAP_TARGET", "mssgate").strip().lower() or "mssgate"
MSSGATE = TARGET == "mssgate"
DOVECOT = TARGET == "dovecot"
if not (MSSGATE or DOVECOT):
    raise SystemExit("IMAP_TARGET must be mssgate or dovecot, not %r" % TARGET)

PASSWORD = "Secret-password-1"


# --- TAP helpers -----------------------------------------------------------

def skip(t, name, reason):
    """One passed-as-skipped TAP result. Only on the reference target: a
    check that is specific to mssgate never skips on mssgate."""
    if MSSGATE:
        raise AssertionError("skip on the mssgate target: %s" % name)
    t.n += 1
    print("ok %d - %s # SKIP %s" % (t.n, name, reason), flush=True)


def mssgate_only(t, name, reason="mssgate-specific"):
    """True when the check runs; on the reference target prints a skip."""
    if MSSGATE:
        return True
    skip(t, name, reason)
    return False


def human_text(resp):
    """True when a tagged or BYE response carries a readable text."""
    txt = re.sub(r"^\[[^\]]*\]\s*", "", resp.text or "")
    return bool(re.search(r"[A-Za-z]{2,}", txt))


# --- response parsing ------------------------------------------------------

class ParseError(Exception):
    pass


def _parse_list(data, i, depth):
    out = []
    n = len(data)
    while i < n:
        c = data[i]
        if c == 0x20:
            i += 1
        elif c == 0x28:  # (
            sub, i = _parse_list(data, i + 1, depth + 1)
            out.append(sub)
        elif c == 0x29:  # )
            if depth == 0:
                raise ParseError("unbalanced ) at %d in %r" % (i, data[:200]))
            return out, i + 1
        elif c == 0x22:  # "
            j = i + 1
            s = bytearray()
            while True:
                if j >= n:
                    raise ParseError("unterminated string in %r" % data[:200])
                d = data[j]
                if d == 0x5c:
                    s.append(data[j + 1])
                    j += 2
                elif d == 0x22:
                    break
                else:
                    s.append(d)
                    j += 1
            out.append(bytes(s))
            i = j + 1
        elif c == 0x7b:  # {n}\r\n literal
            j = data.index(b"}", i)
            size = int(data[i + 1:j].rstrip(b"+"))
            start = j + 3
            out.append(bytes(data[start:start + size]))
            i = start + size
        elif c in (0x0d, 0x0a):
            i += 1
        else:
            j = i
            while j < n and data[j] not in b" ()\r\n":
                if data[j] == 0x5b:  # [ ... ] inside an atom: BODY[...]
                    k = data.index(b"]", j)
                    j = k + 1
                else:
                    j += 1
            atom = data[i:j].decode("utf-8", "replace")
            if atom == "NIL":
                out.append(None)
            elif atom.isdigit():
                out.append(int(atom))
            else:
                out.append(atom)
            i = j
    if depth:
        raise ParseError("unbalanced ( in %r" % data[:200])
    return out, i


def parse(data):
    """Tokens of one response (bytes), lists nested."""
    if isinstance(data, str):
        data = data.encode()
    return _parse_list(data, 0, 0)[0]


def fetch_items(resp_bytes):
    """(seq, {ITEM: value}) of one '* n FETCH (...)' response, or None."""
    m = re.match(rb"\* (\d+) FETCH \(", resp_bytes)
    if not m:
        return None
    toks = parse(resp_bytes[m.end() - 1:])
    lst = toks[0]
    d = {}
    for k in range(0, len(lst) - 1, 2):
        d[str(lst[k]).upper()] = lst[k + 1]
    return int(m.group(1)), d


def expand_set(s):
    """Numbers of a sequence set such as '2,4:6' (no '*')."""
    out = []
    if s is None or s == "":
        return out
    for part in str(s).split(","):
        if ":" in part:
            a, b = part.split(":")
            a, b = int(a), int(b)
            if a > b:
                a, b = b, a
            out.extend(range(a, b + 1))
        else:
            out.append(int(part))
    return out


def flagset(v):
    """A FLAGS value as a set of str."""
    return set(str(x) for x in (v or []))


# --- raw client ------------------------------------------------------------

class Lit:
    """A literal inside a command: synchronizing unless plus=True."""

    def __init__(self, data, plus=False):
        self.data = data.encode() if isinstance(data, str) else data
        self.plus = plus


class Resp:
    """The outcome of one command: the tagged status (OK, NO, BAD; BYE
    when the server said BYE and closed; EOF when it closed silently;
    TIMEOUT), its text, and the untagged responses before it."""

    def __init__(self, tag, status, text, untagged, line=b""):
        self.tag = tag
        self.status = status
        self.text = text
        self.untagged = untagged
        self.line = line
        m = re.match(r"\[([^\]]*)\]", text or "")
        self.code = m.group(1) if m else None

    @property
    def ok(self):
        return self.status == "OK"

    def lines(self):
        return [u.decode("utf-8", "replace") for u in self.untagged]

    def find(self, prefix):
        """Untagged responses (str) starting with '* ' + prefix, case
        insensitive."""
        p = ("* " + prefix).upper()
        return [l for l in self.lines() if l.upper().startswith(p)]

    def fetches(self):
        """[(seq, {ITEM: value})] of the untagged FETCH responses."""
        out = []
        for u in self.untagged:
            f = fetch_items(u)
            if f:
                out.append(f)
        return out

    def fetch_map(self):
        """{seq: merged items} of the untagged FETCH responses."""
        d = {}
        for seq, items in self.fetches():
            d.setdefault(seq, {}).update(items)
        return d

    def numbers(self, word):
        """n of every '* n WORD' (EXISTS, RECENT, EXPUNGE)."""
        out = []
        for l in self.lines():
            m = re.match(r"\* (\d+) %s\b" % word, l, re.I)
            if m:
                out.append(int(m.group(1)))
        return out

    def search(self):
        """The numbers of the '* SEARCH' responses (MODSEQ part aside)."""
        nums = []
        for l in self.find("SEARCH"):
            body = re.sub(r"\(MODSEQ \d+\)", "", l[8:])
            nums += [int(x) for x in body.split()]
        return nums

    def __repr__(self):
        return "<%s %s %s | %s>" % (self.tag, self.status, self.text,
                                    " / ".join(self.lines())[:3000])


class RawIMAP:
    """One IMAP connection, byte-exact. The greeting is in .greeting."""

    def __init__(self, host, port, ctx=None, timeout=15,
                 read_greeting=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.n = 0
        self.greeting = None
        self.pending = []  # untagged responses read but not yet returned
        if read_greeting:
            self.greeting = self.read_response().decode("utf-8", "replace")

    # - low level -

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            raise socket.timeout("timed out; have %r" % self.buf[-300:])
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed; have %r" % self.buf[-300:])
        self.buf += chunk

    def read_line(self, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, size, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        while len(self.buf) < size:
            self._fill(deadline)
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def read_response(self, timeout=None):
        """One whole response (bytes), literals included (the '{n}\\r\\n'
        stays in front of each literal's bytes)."""
        deadline = time.time() + (timeout or self.timeout)
        out = b""
        while True:
            line = self.read_line(max(0.001, deadline - time.time()))
            out += line
            m = re.search(rb"\{(\d+)\}$", line)
            if not m:
                return out
            size = int(m.group(1))
            out += b"\r\n" + self.read_exact(size,
                                             max(0.001,
                                                 deadline - time.time()))

    def next_tag(self):
        self.n += 1
        return "A%03d" % self.n

    # - commands -

    def send_cmd(self, parts, tag=None):
        """Send a command made of str/bytes and Lit parts without reading
        the tagged response; synchronizing literals wait for '+'. Returns
        the tag, or a Resp when the server answered before a '+'."""
        tag = tag or self.next_tag()
        if isinstance(parts, (str, bytes)):
            parts = [parts]
        out = tag.encode() + b" "
        for p in parts:
            if isinstance(p, Lit):
                out += b"{%d%s}\r\n" % (len(p.data), b"+" if p.plus else b"")
                if not p.plus:
                    self.send(out)
                    out = b""
                    r = self.wait_continuation(tag)
                    if r is not None:
                        return r
                out += p.data
            else:
                out += p.encode() if isinstance(p, str) else p
        self.send(out + b"\r\n")
        return tag

    def wait_continuation(self, tag, timeout=None):
        """Read to the next '+' (returns None) or to the tagged response
        for tag (returns that Resp)."""
        deadline = time.time() + (timeout or self.timeout)
        while True:
            try:
                r = self.read_response(max(0.001, deadline - time.time()))
            except EOFError:
                return self._closed(tag)
            except socket.timeout:
                return Resp(tag, "TIMEOUT", "no continuation", self.pending)
            if r.startswith(b"+"):
                self.last_continuation = r
                return None
            if r.startswith(tag.encode() + b" "):
                return self._tagged(tag, r)
            self.pending.append(r)

    def _tagged(self, tag, r):
        rest = r[len(tag) + 1:].decode("utf-8", "replace")
        status, _, text = rest.partition(" ")
        resp = Resp(tag, status.upper(), text, self.pending, r)
        self.pending = []
        return resp

    def _closed(self, tag):
        byes = [p for p in self.pending if p.upper().startswith(b"* BYE")]
        if byes:
            text = byes[-1][6:].decode("utf-8", "replace")
            resp = Resp(tag, "BYE", text, self.pending)
        else:
            resp = Resp(tag, "EOF", "", self.pending)
        self.pending = []
        return resp

    def wait_tagged(self, tag, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        while True:
            try:
                r = self.read_response(max(0.001, deadline - time.time()))
            except EOFError:
                return self._closed(tag)
            except (socket.timeout, ssl.SSLError, OSError):
                resp = Resp(tag, "TIMEOUT", "no tagged response",
                            self.pending)
                self.pending = []
                return resp
            if r.startswith(tag.encode() + b" "):
                return self._tagged(tag, r)
            self.pending.append(r)

    def cmd(self, parts, timeout=None):
        """Send a command and read to its tagged response. A connection
        the server closed gives status BYE (after * BYE) or EOF."""
        try:
            tag = self.send_cmd(parts)
        except (OSError, ssl.SSLError):
            try:
                while True:
                    self.pending.append(self.read_response(1))
            except Exception:  # noqa: BLE001 - closed: keep what came
                pass
            return self._closed("A%03d" % self.n)
        if isinstance(tag, Resp):
            return tag
        return self.wait_tagged(tag, timeout)

    def read_untagged(self, timeout):
        """Untagged responses that arrive within timeout (bytes list)."""
        out = []
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                return out
            try:
                out.append(self.read_response(left))
            except (socket.timeout, EOFError):
                return out

    def wait_for(self, pattern, timeout):
        """Read responses until one matches the regex (bytes); returns
        (match, [responses read]) or (None, [...]) on timeout/close."""
        seen = []
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                return None, seen
            try:
                r = self.read_response(left)
            except (socket.timeout, EOFError, OSError):
                return None, seen
            seen.append(r)
            m = re.search(pattern, r)
            if m:
                return m, seen

    def starttls(self, ctx):
        r = self.cmd("STARTTLS")
        if r.status != "OK":
            raise RuntimeError("STARTTLS refused: %r" % r)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return r

    def login(self, user, password):
        r = self.cmd("LOGIN %s %s" % (quote(user), quote(password)))
        if r.status != "OK":
            raise RuntimeError("LOGIN failed: %r" % r)
        return r

    def select(self, mailbox="INBOX", examine=False, extra=""):
        r = self.cmd("%s %s%s" % ("EXAMINE" if examine else "SELECT",
                                  quote(mailbox), extra))
        if r.status != "OK":
            raise RuntimeError("SELECT %s failed: %r" % (mailbox, r))
        return r

    def closed(self, timeout=5):
        """True when the server closes the connection within timeout
        (whatever it sends first is kept in .buf)."""
        deadline = time.time() + timeout
        try:
            while True:
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def logout(self):
        try:
            self.cmd("LOGOUT", timeout=5)
        except Exception:  # noqa: BLE001 - best effort
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def quote(s):
    if isinstance(s, bytes):
        s = s.decode("utf-8")
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def plain_ir(user, password, authz=""):
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, password))
                            .encode()).decode()


def make_message(sender, to, subject, body="Bonjour.\r\n", extra=(),
                 date="Tue, 14 Jan 2025 10:00:00 +0100", msgid=None):
    """A small RFC 5322 message (bytes, CRLF line ends)."""
    hdr = ["From: <%s>" % sender, "To: <%s>" % to, "Subject: %s" % subject,
           "Date: %s" % date,
           "Message-ID: <%s@test.example>" % (msgid or "%x.%x" % (
               int(time.time() * 1e6), os.getpid())),
           "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    hdr += list(extra)
    text = "\r\n".join(hdr) + "\r\n\r\n"
    if isinstance(body, str):
        body = body.encode()
    return text.encode() + body


# --- targets ---------------------------------------------------------------

def _free_port(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Target:
    """What the tests need from a server: ports, TLS trust, users, mail."""

    kind = None
    host = "127.0.0.1"

    def __init__(self):
        self._users = 0
        self.port_imap = None
        self.port_imaps = None

    # - clients -

    def raw(self, implicit=False, tls=True, timeout=15):
        """A RawIMAP connection, greeting read; over TLS (STARTTLS, or the
        implicit-TLS port) unless tls=False."""
        if implicit:
            return RawIMAP(self.host, self.port_imaps, self.ssl_context(),
                           timeout=timeout)
        r = RawIMAP(self.host, self.port_imap, timeout=timeout)
        if tls:
            r.starttls(self.ssl_context())
        return r

    def session(self, user, password=PASSWORD, select=None, implicit=False,
                timeout=15):
        """A logged-in RawIMAP, with mailbox selected when given."""
        r = self.raw(implicit=implicit, timeout=timeout)
        r.login(user, password)
        if select:
            r.select(select)
        return r

    def imap(self, user=None, password=PASSWORD, implicit=False):
        """An imaplib client (STARTTLS or implicit TLS), logged in when
        user is given."""
        import imaplib
        if implicit:
            c = imaplib.IMAP4_SSL(self.host, self.port_imaps,
                                  ssl_context=self.ssl_context(), timeout=30)
        else:
            c = imaplib.IMAP4(self.host, self.port_imap, timeout=30)
            c.starttls(ssl_context=self.ssl_context())
        if user is not None:
            c.login(user, password)
        return c

    def alive(self):
        """True when a new connection gets an OK greeting and answers
        CAPABILITY."""
        try:
            r = self.raw(tls=False, timeout=10)
            ok = r.greeting.startswith("* OK") and \
                r.cmd("CAPABILITY").status == "OK"
            r.logout()
            return ok
        except Exception:  # noqa: BLE001 - not alive
            return False

    # - users and mail -

    def new_user(self, name="u"):
        """A fresh account (address, password) with an empty INBOX."""
        self._users += 1
        addr = "%s%d-%d@%s" % (name, self._users, os.getpid(), self.domain)
        self._add_user(addr, PASSWORD)
        return addr, PASSWORD

    def append(self, user, msg, mailbox="INBOX", flags=None, date=None,
               password=PASSWORD):
        """APPEND over a fresh connection; returns the Resp (APPENDUID
        in .code)."""
        r = self.session(user, password)
        try:
            parts = ["APPEND %s " % quote(mailbox)]
            if flags is not None:
                parts.append("(%s) " % " ".join(flags))
            if date is not None:
                parts.append('"%s" ' % date)
            parts.append(Lit(msg))
            resp = r.cmd(parts)
            if resp.status != "OK":
                raise RuntimeError("APPEND failed: %r" % resp)
            return resp
        finally:
            r.logout()

    def deliver(self, user, subject="New mail", body="Bonjour.\r\n"):
        """New mail for user's INBOX the way the target gets mail."""
        raise NotImplementedError

    def ssl_context(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError


class MssgateTarget(Target):
    kind = "mssgate"

    def __init__(self, extra=None):
        super().__init__()
        from mssgate_test import Gateway
        self.gw = Gateway(extra=extra)
        self.domain = self.gw.domain
        self.port_imap = self.gw.port_imap
        self.port_imaps = self.gw.port_imaps
        self.sender = None
        self._smtp = None

    def start(self):
        self.gw.start()
        # start() may have moved to new ports (one was taken meanwhile)
        self.port_imap = self.gw.port_imap
        self.port_imaps = self.gw.port_imaps
        return self

    def ssl_context(self):
        return self.gw.ssl_context()

    def _add_user(self, addr, password):
        self.gw.add_user(addr, password)

    def smtp_sender(self):
        if self.sender is None:
            self.sender = "sender-%d@%s" % (os.getpid(), self.domain)
            self.gw.add_user(self.sender, PASSWORD)
        return self.sender

    def smtp(self):
        """A logged-in smtplib client for the sender account."""
        return self.gw.smtp(login=self.smtp_sender(), password=PASSWORD)

    def deliver(self, user, subject="New mail", body="Bonjour.\r\n"):
        sender = self.smtp_sender()
        msg = make_message(sender, user, subject, body)
        refused = self.gw.deliver(sender, PASSWORD, [user], msg)
        if refused:
            raise RuntimeError("delivery refused: %r" % refused)

    def stop(self):
        self.gw.cleanup()


DOVECOT_CONF = r"""
# Private Dovecot for the mssgate IMAP tests.
instance_name = {name}
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = imap
listen = {host}
ssl = required
ssl_cert = <{tmp}/server.crt
ssl_key = <{tmp}/server.key
disable_plaintext_auth = yes
auth_mechanisms = plain
auth_failure_delay = 0
{users}
first_valid_uid = {uid}
mail_max_userip_connections = 1000
mail_location = {mail_location}
mail_fsync = never
mail_plugins = quota
imap_max_line_length = 64k
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {tmp}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
  mailbox Sent {{
    special_use = \Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \Junk
    auto = subscribe
  }}
}}
plugin {{
  quota = maildir:User quota
  quota_rule = *:storage=100G
  quota_max_mail_size = 25M
}}
# No growing delay after failed logins from the same address: the tests
# fail logins on purpose.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port_imap}
  }}
  inet_listener imaps {{
    address = {host}
    port = {port_imaps}
    ssl = yes
  }}
}}
"""


class DovecotTarget(Target):
    kind = "dovecot"
    host = "127.0.0.2"

    def __init__(self, extra=None):
        super().__init__()
        self.domain = "mssante.test"
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix="imapt-dovecot-")
        os.chmod(self.tmp, 0o755)
        atexit.register(self.stop)

    def _ensure_installed(self):
        if shutil.which("dovecot") and os.path.exists(
                "/usr/lib/dovecot/imap"):
            return
        if os.geteuid() != 0:
            raise RuntimeError("dovecot-imapd is not installed")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "dovecot-imapd"],
                       env=env, check=False, capture_output=True)
        if not shutil.which("dovecot"):
            subprocess.run(["apt-get", "update", "-q"], env=env,
                           capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q",
                            "dovecot-imapd"], env=env, check=True,
                           capture_output=True)
        # The package starts a system-wide Dovecot on 143/993; the tests
        # do not need it.
        subprocess.run(["systemctl", "disable", "--now", "dovecot"],
                       capture_output=True, check=False)

    def start(self):
        import pwd
        self._ensure_installed()
        t = self.tmp
        for d in ("run", "state", "mail"):
            os.makedirs(os.path.join(t, d), exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", t + "/server.key",
                        "-out", t + "/server.crt", "-days", "2",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1,"
                        "IP:127.0.0.2"],
                       check=True, capture_output=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("mail")
            uid, gid = pw.pw_uid, pw.pw_gid
            users = ""
        else:
            uid, gid = os.getuid(), os.getgid()
            me = pwd.getpwuid(uid).pw_name
            users = ("default_internal_user = %s\ndefault_login_user = %s\n"
                     % (me, me))
        os.chown(os.path.join(t, "mail"), uid, gid)
        self._write_users(os.path.join(t, "passwd"))
        os.chmod(os.path.join(t, "passwd"), 0o644)
        self.port_imap = _free_port(self.host)
        self.port_imaps = _free_port(self.host)
        self.conf = os.path.join(t, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(
                name="imapt-%d-%d" % (os.getpid(), self.port_imap), tmp=t,
                host=self.host, uid=uid, gid=gid, users=users,
                mail_location=os.environ.get("DOVECOT_MAIL_LOCATION",
                                             "sdbox:~/sdbox"),
                port_imap=self.port_imap, port_imaps=self.port_imaps))
        self.out = open(os.path.join(t, "dovecot.out"), "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=self.out, stderr=self.out,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: %s" % self.log_text())
            try:
                socket.create_connection((self.host, self.port_imaps),
                                         timeout=1).close()
                socket.create_connection((self.host, self.port_imap),
                                         timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot not listening: %s" % self.log_text())

    def log_text(self):
        out = ""
        for n in ("dovecot.out", "dovecot.log"):
            try:
                with open(os.path.join(self.tmp, n), "rb") as f:
                    out += f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                pass
        return out

    def ssl_context(self):
        return ssl.create_default_context(
            cafile=os.path.join(self.tmp, "server.crt"))

    POOL = 400

    def _write_users(self, path):
        """Dovecot does not reliably see users added to a passwd-file
        while it runs, so a pool of accounts is written before it starts
        and new_user() hands them out."""
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import crypt  # deprecated in 3.11, gone in 3.13
            scheme = "SHA512-CRYPT"
            h = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_SHA512))
        except ImportError:
            scheme, h = "PLAIN", PASSWORD
        with open(path, "w") as f:
            for n in range(self.POOL):
                f.write("u%04d@%s:{%s}%s::::::\n" % (n, self.domain, scheme,
                                                     h))

    def new_user(self, name="u"):
        if self._users >= self.POOL:
            raise RuntimeError("no more Dovecot test accounts")
        addr = "u%04d@%s" % (self._users, self.domain)
        self._users += 1
        return addr, PASSWORD

    def deliver(self, user, subject="New mail", body="Bonjour.\r\n"):
        self.append(user, make_message("sender@" + self.domain, user,
                                       subject, body))

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            self.proc = None
            self.out.close()
            # Its children (imap, auth...) end with the master; wait for
            # the mail processes to let go of the folders.
            time.sleep(0.2)
        if self.tmp and not os.environ.get("MSSGATE_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def start_target(mssgate_extra=None):
    """The target selected by IMAP_TARGET, started."""
    if DOVECOT:
        return DovecotTarget().start()
    return MssgateTarget(extra=mssgate_extra).start()


def has_capa(resp_or_line, name):
    """True when a CAPABILITY response (Resp or str) lists name."""
    if isinstance(resp_or_line, Resp):
        lines = resp_or_line.find("CAPABILITY")
        text = " ".join(lines)
    else:
        text = resp_or_line
    return name.upper() in [w.upper() for w in
                            re.split(r"[\s\[\]]+", text)]


def run(t, target, *fns):
    """run_tests over fns, then stop the target (a mssgated is stopped
    with SIGTERM so that its exit and log are checked)."""
    from mssgate_test import run_tests

    def stop_target():
        if isinstance(target, MssgateTarget):
            target.gw.stop()
        target.stop()

    run_tests(t, *(list(fns) + [stop_target]))


def list_entries(resp, kind="LIST"):
    """{name: (set of attributes, delimiter)} of the * LIST (or * LSUB)
    responses; names as sent (modified UTF-7)."""
    out = {}
    for u in resp.untagged:
        m = re.match(rb"\* %s " % kind.encode(), u, re.I)
        if not m:
            continue
        toks = parse(u[m.end():])
        name = toks[2]
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        delim = toks[1].decode() if isinstance(toks[1], bytes) else toks[1]
        out[str(name)] = (set(str(a) for a in toks[0]), delim)
    return out


def status_items(resp, mailbox=None):
    """{ITEM: int} of the * STATUS response (for mailbox when given)."""
    for u in resp.untagged:
        m = re.match(rb"\* STATUS ", u, re.I)
        if not m:
            continue
        toks = parse(u[m.end():])
        name = toks[0]
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if mailbox is not None and str(name) != mailbox:
            continue
        lst = toks[1]
        return {str(lst[i]).upper(): lst[i + 1]
                for i in range(0, len(lst) - 1, 2)}
    return None


def resp_code_value(resp, name):
    """The arguments of a response code such as [UIDVALIDITY n] found in
    the tagged text or an untagged OK (str), or None."""
    texts = [resp.text or ""] + resp.lines()
    for txt in texts:
        m = re.search(r"\[%s(?: ([^\]]*))?\]" % re.escape(name), txt, re.I)
        if m:
            return m.group(1) if m.group(1) is not None else ""
    return None
