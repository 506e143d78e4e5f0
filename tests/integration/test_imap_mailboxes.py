# SPDX-License-Identifier: MIT
"""IMAP mailbox commands (RFC 3501 6.3; RFC 6154 SPECIAL-USE; RFC 3348
CHILDREN; RFC 5819 LIST-STATUS): the mailboxes of a new account, SELECT
and EXAMINE responses, CREATE, DELETE, RENAME (hierarchies and INBOX),
SUBSCRIBE, UNSUBSCRIBE, LSUB, LIST patterns and reference names, STATUS,
modified UTF-7 names, and a new UIDVALIDITY for a re-created mailbox.
"""

from mssgate_test import Tap
from imap_target import (MSSGATE, Lit, human_text, list_entries,
                         make_message, resp_code_value, run, skip,
                         start_target, status_items)

t = Tap()
T = start_target()

SPECIAL = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash",
           "Junk": "\\Junk"}


def fresh(name):
    user, pw = T.new_user(name)
    r = T.session(user, pw)
    # Dovecot creates INBOX and its special-use mailboxes on first use
    # (until then CREATE INBOX succeeds there); touch them first.
    for box in ["INBOX"] + list(SPECIAL):
        r.cmd("STATUS %s (MESSAGES)" % box)
    return user, r


def msg(user, subject):
    return make_message("a@example.org", user, subject)


def test_new_account():
    user, r = fresh("new")
    resp = r.cmd('LIST "" "*"')
    t.eq(resp.status, "OK", "LIST \"\" \"*\": OK")
    lst = list_entries(resp)
    t.eq(sorted(lst), sorted(["INBOX"] + list(SPECIAL)),
         "a new account has INBOX, Sent, Drafts, Trash, Junk")
    for name, attr in SPECIAL.items():
        t.ok(name in lst and attr in lst[name][0],
             "%s carries %s (SPECIAL-USE)" % (name, attr), lst.get(name))
    t.ok(all(d == "/" for _, d in lst.values()),
         "hierarchy delimiter is /", lst)
    t.ok(all("\\HasNoChildren" in a for a, _ in lst.values()),
         "CHILDREN: every mailbox has \\HasNoChildren", lst)
    t.ok(not any(set(SPECIAL.values()) & a for n, (a, _) in lst.items()
                 if n == "INBOX"), "INBOX has no special-use attribute")
    resp = r.cmd('LIST (SPECIAL-USE) "" "*"')
    lst = list_entries(resp)
    t.eq({n: sorted(a & set(SPECIAL.values())) for n, (a, _) in
          lst.items()}, {n: [a] for n, a in SPECIAL.items()},
         "LIST (SPECIAL-USE) lists exactly the four special mailboxes")
    resp = r.cmd('LIST "" "%" RETURN (SPECIAL-USE)')
    lst = list_entries(resp)
    t.ok(resp.ok and all(SPECIAL[n] in lst[n][0] for n in SPECIAL),
         "LIST RETURN (SPECIAL-USE) gives the attributes", resp)
    resp = r.cmd('LSUB "" "*"')
    lsub = list_entries(resp, "LSUB")
    t.ok(all(n in lsub for n in SPECIAL),
         "Sent, Drafts, Trash, Junk are subscribed", lsub)
    resp = r.cmd('LIST "" ""')
    t.eq(resp.lines(), ['* LIST (\\Noselect) "/" ""'],
         'LIST "" "": the delimiter and \\Noselect root')
    r.logout()


def test_select_examine():
    user, r = fresh("sel")
    T.append(user, msg(user, "one"))
    T.append(user, msg(user, "two"), flags=["\\Seen"])
    resp = r.cmd("SELECT INBOX")
    t.eq(resp.status, "OK", "SELECT INBOX: OK")
    t.eq(resp_code_value(resp, "READ-WRITE"), "",
         "SELECT: tagged OK [READ-WRITE]")
    flags = [l for l in resp.lines() if l.upper().startswith("* FLAGS")]
    t.ok(len(flags) == 1 and all(f in flags[0] for f in (
        "\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")),
        "SELECT: * FLAGS with the five system flags", flags)
    t.eq(resp.numbers("EXISTS"), [2], "SELECT: * 2 EXISTS")
    t.eq(resp.numbers("RECENT"), [2], "SELECT: * 2 RECENT")
    t.eq(resp_code_value(resp, "UIDNEXT"), "3", "SELECT: [UIDNEXT 3]")
    t.like(resp_code_value(resp, "UIDVALIDITY"), r"^[1-9]\d*$",
           "SELECT: [UIDVALIDITY n], n > 0")
    perm = resp_code_value(resp, "PERMANENTFLAGS")
    t.ok(perm is not None and "\\*" in perm and "\\Seen" in perm,
         "SELECT: [PERMANENTFLAGS (... \\*)]: keywords can be made", perm)
    t.eq(resp_code_value(resp, "UNSEEN"), "1", "SELECT: [UNSEEN 1]")
    resp = r.cmd("EXAMINE INBOX")
    t.eq(resp_code_value(resp, "READ-ONLY"), "",
         "EXAMINE: tagged OK [READ-ONLY]")
    t.eq(resp.numbers("EXISTS"), [2], "EXAMINE: * 2 EXISTS")
    t.eq(resp.numbers("RECENT"), [0],
         "EXAMINE after SELECT: * 0 RECENT (\\Recent went to the first "
         "session)")
    resp = r.cmd("SELECT inbox")
    t.ok(resp.ok and resp.numbers("EXISTS") == [2],
         "INBOX is case-insensitive: SELECT inbox", resp)
    resp = r.cmd("SELECT no-such-mailbox")
    t.eq(resp.status, "NO", "SELECT of a missing mailbox: NO")
    t.ok(human_text(resp), "SELECT of a missing mailbox: a text", resp)
    t.eq(r.cmd("FETCH 1 FLAGS").status, "BAD",
         "a failed SELECT leaves no mailbox selected: FETCH is BAD")
    resp = r.cmd("SELECT Sent")
    t.ok(resp.ok and resp.numbers("EXISTS") == [0], "SELECT Sent: empty",
         resp)
    r.logout()


def test_create():
    user, r = fresh("cre")
    resp = r.cmd("CREATE a/b/c")
    t.eq(resp.status, "OK", "CREATE a/b/c: OK")
    lst = list_entries(r.cmd('LIST "" "a*"'))
    t.eq(sorted(lst), ["a", "a/b", "a/b/c"],
         "superior names a and a/b appear in LIST")
    t.ok("\\HasChildren" in lst.get("a", ({""}, ""))[0] and
         "\\HasChildren" in lst.get("a/b", ({""}, ""))[0] and
         "\\HasNoChildren" in lst.get("a/b/c", ({""}, ""))[0],
         "CHILDREN attributes of a, a/b, a/b/c", lst)
    t.eq(r.cmd("SELECT a/b/c").status, "OK", "SELECT a/b/c: OK")
    t.eq(r.cmd("CREATE x/").status, "OK", "CREATE with a trailing "
         "delimiter: OK")
    lst = list_entries(r.cmd('LIST "" "x*"'))
    t.eq(sorted(lst), ["x"], "trailing delimiter dropped: mailbox x")
    t.eq(r.cmd("CREATE x/y").status, "OK", "CREATE x/y under it: OK")
    if MSSGATE:
        t.eq(r.cmd("SELECT x").status, "OK", "x is selectable (RFC 3501 "
             "6.3.3: the trailing delimiter is only a declaration)")
    else:
        skip(t, "x is selectable", "Dovecot (sdbox) makes x a \\Noselect "
             "directory")
    resp = r.cmd("CREATE a/b/c")
    t.eq(resp.status, "NO", "CREATE of an existing name: NO")
    t.ok(human_text(resp), "CREATE of an existing name: a text", resp)
    t.eq(r.cmd("CREATE INBOX").status, "NO", "CREATE INBOX: NO")
    t.eq(r.cmd("CREATE inbox").status, "NO", "CREATE inbox: NO")
    t.eq(r.cmd("CREATE Sent").status, "NO", "CREATE Sent (exists): NO")
    t.eq(r.cmd("CREATE").status, "BAD", "CREATE without a name: BAD")
    resp = r.cmd(['CREATE ', Lit("Lit box")])
    t.eq(resp.status, "OK", "CREATE with a literal name: OK")
    t.ok("Lit box" in list_entries(r.cmd('LIST "" "Lit*"')),
         "a name with a space is listed", resp)
    r.logout()


def test_delete():
    user, r = fresh("del")
    r.cmd("CREATE leaf")
    T.append(user, msg(user, "in leaf"), mailbox="leaf")
    t.eq(r.cmd("DELETE leaf").status, "OK", "DELETE leaf: OK")
    t.eq(list_entries(r.cmd('LIST "" "leaf"')), {},
         "deleted mailbox no longer listed")
    t.eq(r.cmd("SELECT leaf").status, "NO", "deleted mailbox: SELECT NO")
    resp = r.cmd("DELETE leaf")
    t.eq(resp.status, "NO", "DELETE of a missing mailbox: NO")
    resp = r.cmd("DELETE INBOX")
    t.eq(resp.status, "NO", "DELETE INBOX: NO")
    t.ok(human_text(resp), "DELETE INBOX: a text", resp)
    t.eq(r.cmd("STATUS INBOX (MESSAGES)").status, "OK", "INBOX still there")
    # RFC 3501 6.3.4: a mailbox with inferiors loses its messages and
    # becomes \Noselect; the inferiors stay; deleting it again is an error.
    r.cmd("CREATE d")
    r.cmd("CREATE d/e")
    T.append(user, msg(user, "in d"), mailbox="d")
    t.eq(r.cmd("DELETE d").status, "OK",
         "DELETE of a mailbox that has inferiors: OK")
    lst = list_entries(r.cmd('LIST "" "d*"'))
    t.ok("d/e" in lst, "the inferior d/e stays", lst)
    t.ok("\\Noselect" in lst.get("d", (set(), ""))[0],
         "d stays as \\Noselect", lst)
    t.eq(r.cmd("SELECT d").status, "NO", "\\Noselect d: SELECT NO")
    t.eq(r.cmd("DELETE d").status, "NO",
         "DELETE of a \\Noselect name with inferiors: NO")
    t.eq(r.cmd("DELETE d/e").status, "OK", "DELETE d/e: OK")
    t.eq(r.cmd("CREATE d").status, "OK", "d can be created again")
    st = status_items(r.cmd("STATUS d (MESSAGES)"))
    t.eq(st, {"MESSAGES": 0}, "re-created d is empty")
    # A selected mailbox deleted by its own session
    r.cmd("CREATE gone")
    r.select("gone")
    resp = r.cmd("DELETE gone")
    t.ok(resp.status in ("OK", "NO"),
         "DELETE of the selected mailbox: OK or NO", resp)
    t.ok(T.alive(), "server alive after deleting a selected mailbox")
    r.logout()


def test_rename():
    user, r = fresh("ren")
    for n in ("r", "r/s", "r/s/t"):
        r.cmd("CREATE " + n)
    T.append(user, msg(user, "deep"), mailbox="r/s/t")
    t.eq(r.cmd("RENAME r w").status, "OK", "RENAME r w: OK")
    lst = list_entries(r.cmd('LIST "" "*"'))
    t.ok(all(n in lst for n in ("w", "w/s", "w/s/t")) and
         not any(n.startswith("r") for n in lst),
         "RENAME moves the inferiors: w, w/s, w/s/t; no r any more", lst)
    st = status_items(r.cmd("STATUS w/s/t (MESSAGES)"))
    t.eq(st, {"MESSAGES": 1}, "the message moved with w/s/t")
    t.eq(r.cmd("RENAME w Sent").status, "NO",
         "RENAME to an existing name: NO")
    t.eq(r.cmd("RENAME nothing z").status, "NO",
         "RENAME of a missing mailbox: NO")
    t.eq(r.cmd("RENAME w INBOX").status, "NO", "RENAME to INBOX: NO")
    r.cmd("CREATE one")
    t.eq(r.cmd("RENAME one new/parent/one").status, "OK",
         "RENAME into a new hierarchy: OK")
    lst = list_entries(r.cmd('LIST "" "new*"'))
    t.ok("new/parent/one" in lst and "new" in lst,
         "superior names of the new name are listed", lst)
    # RFC 3501 6.3.5: renaming INBOX moves its messages to the new name
    # and leaves INBOX empty.
    T.append(user, msg(user, "first"))
    T.append(user, msg(user, "second"))
    resp = r.cmd("RENAME INBOX old-inbox")
    t.eq(resp.status, "OK", "RENAME INBOX old-inbox: OK")
    st = status_items(r.cmd("STATUS old-inbox (MESSAGES)"))
    t.eq(st, {"MESSAGES": 2}, "old-inbox has the two messages")
    r.cmd("SELECT old-inbox")
    resp = r.cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subj = sorted(v.get("BODY[HEADER.FIELDS (SUBJECT)]") or b"" for _, v in
                  resp.fetches())
    t.eq(subj, [b"Subject: first\r\n\r\n", b"Subject: second\r\n\r\n"],
         "old-inbox holds the INBOX messages")
    st = status_items(r.cmd("STATUS INBOX (MESSAGES)"))
    t.eq(st, {"MESSAGES": 0}, "INBOX exists and is empty after the "
         "rename")
    T.append(user, msg(user, "after rename"))
    st = status_items(r.cmd("STATUS INBOX (MESSAGES)"))
    t.eq(st, {"MESSAGES": 1}, "new mail goes to the new INBOX")
    r.logout()


def test_subscriptions():
    user, r = fresh("sub")
    r.cmd("CREATE p/q")
    r.cmd("CREATE s1")
    t.eq(r.cmd("SUBSCRIBE p/q").status, "OK", "SUBSCRIBE p/q: OK")
    t.eq(r.cmd("SUBSCRIBE s1").status, "OK", "SUBSCRIBE s1: OK")
    resp = r.cmd('LSUB "" "*"')
    lsub = list_entries(resp, "LSUB")
    t.ok("p/q" in lsub and "s1" in lsub and "p" not in lsub,
         'LSUB "" "*": p/q and s1, not p', lsub)
    lsub = list_entries(r.cmd('LSUB "" "%"'), "LSUB")
    t.ok("p" in lsub and "\\Noselect" in lsub["p"][0] and "p/q" not in lsub,
         'LSUB "" "%": p as \\Noselect (RFC 3501 6.3.9)', lsub)
    lsub = list_entries(r.cmd('LSUB "p/" "%"'), "LSUB")
    t.eq(sorted(lsub), ["p/q"], 'LSUB "p/" "%": p/q')
    t.eq(r.cmd("UNSUBSCRIBE p/q").status, "OK", "UNSUBSCRIBE p/q: OK")
    lsub = list_entries(r.cmd('LSUB "" "*"'), "LSUB")
    t.ok("p/q" not in lsub and "s1" in lsub, "p/q no longer in LSUB", lsub)
    r.logout()
    r = T.session(user)
    lsub = list_entries(r.cmd('LSUB "" "*"'), "LSUB")
    t.ok("s1" in lsub and "p/q" not in lsub,
         "subscriptions persist across sessions", lsub)
    t.eq(r.cmd("SUBSCRIBE").status, "BAD", "SUBSCRIBE without a name: BAD")
    r.logout()


def test_list_patterns():
    user, r = fresh("pat")
    for n in ("proj", "proj/a", "proj/a/b", "proj/c", "other"):
        r.cmd("CREATE " + n)
    lst = list_entries(r.cmd('LIST "" "%"'))
    t.eq(sorted(lst), sorted(["INBOX", "other", "proj"] + list(SPECIAL)),
         '"%" lists the top level only')
    t.ok("\\HasChildren" in lst["proj"][0] and
         "\\HasNoChildren" in lst["other"][0],
         "CHILDREN: proj \\HasChildren, other \\HasNoChildren", lst)
    t.eq(sorted(list_entries(r.cmd('LIST "" "proj/%"'))),
         ["proj/a", "proj/c"], '"proj/%": one level')
    t.eq(sorted(list_entries(r.cmd('LIST "" "proj/*"'))),
         ["proj/a", "proj/a/b", "proj/c"], '"proj/*": all levels')
    t.eq(sorted(list_entries(r.cmd('LIST "proj/" "%"'))),
         ["proj/a", "proj/c"], 'reference "proj/" with "%"')
    t.eq(sorted(list_entries(r.cmd('LIST "proj/" "*"'))),
         ["proj/a", "proj/a/b", "proj/c"], 'reference "proj/" with "*"')
    t.eq(sorted(list_entries(r.cmd('LIST "" "pr*c"'))), ["proj/c"],
         '"pr*c": * crosses the delimiter')
    t.eq(sorted(list_entries(r.cmd('LIST "" "p%"'))), ["proj"],
         '"p%" stops at the delimiter')
    t.eq(list_entries(r.cmd('LIST "" "PROJ"')), {},
         "names other than INBOX are case-sensitive")
    t.eq(sorted(list_entries(r.cmd('LIST "" "inbox"'))), ["INBOX"],
         '"inbox" matches INBOX')
    t.eq(list_entries(r.cmd('LIST "" "nothing*"')), {},
         "no match: no LIST response")
    lst = list_entries(r.cmd('LIST "" "proj/a"'))
    t.ok("\\HasChildren" in lst.get("proj/a", (set(), ""))[0],
         "proj/a \\HasChildren", lst)
    t.eq(r.cmd("LIST").status, "BAD", "LIST without arguments: BAD")
    r.logout()


def test_status_and_list_status():
    user, r = fresh("sta")
    r.cmd("CREATE ls")
    a1 = T.append(user, msg(user, "a"), mailbox="ls", flags=["\\Seen"])
    T.append(user, msg(user, "b"), mailbox="ls")
    a3 = T.append(user, msg(user, "c"), mailbox="ls")
    uv, uid3 = resp_code_value(a3, "APPENDUID").split()
    t.eq(resp_code_value(a1, "APPENDUID").split()[0], uv,
         "APPENDUID: same UIDVALIDITY for each append")
    resp = r.cmd("STATUS ls (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN "
                 "HIGHESTMODSEQ)")
    st = status_items(resp, "ls")
    t.eq(resp.status, "OK", "STATUS with six items: OK")
    t.eq({k: st.get(k) for k in ("MESSAGES", "RECENT", "UIDNEXT",
                                 "UIDVALIDITY", "UNSEEN")},
         {"MESSAGES": 3, "RECENT": 3, "UIDNEXT": int(uid3) + 1,
          "UIDVALIDITY": int(uv), "UNSEEN": 2},
         "STATUS values: 3 messages, 3 recent, UIDNEXT, UIDVALIDITY, "
         "2 unseen")
    t.ok(isinstance(st.get("HIGHESTMODSEQ"), int) and
         st["HIGHESTMODSEQ"] > 0, "STATUS HIGHESTMODSEQ > 0", st)
    r.select("ls")
    r.cmd("CLOSE")
    st = status_items(r.cmd("STATUS ls (RECENT MESSAGES)"))
    t.eq(st, {"RECENT": 0, "MESSAGES": 3},
         "after a session selected ls: RECENT 0")
    t.eq(r.cmd("STATUS nothing (MESSAGES)").status, "NO",
         "STATUS of a missing mailbox: NO")
    t.eq(r.cmd("STATUS ls (FOO)").status, "BAD",
         "STATUS with an unknown item: BAD")
    t.eq(r.cmd("STATUS ls").status, "BAD", "STATUS without items: BAD")
    resp = r.cmd('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
    t.eq(resp.status, "OK", "LIST-STATUS: OK")
    st = status_items(resp, "ls")
    t.eq(st, {"MESSAGES": 3, "UNSEEN": 2}, "LIST-STATUS: ls 3 and 2")
    t.eq(status_items(resp, "INBOX"), {"MESSAGES": 0, "UNSEEN": 0},
         "LIST-STATUS: INBOX 0 and 0")
    names = [l for l in resp.lines()]
    follows = all(
        names[i - 1].upper().startswith("* LIST") and
        names[i - 1].endswith(" " + names[i].split()[2])
        for i in range(len(names)) if names[i].startswith("* STATUS"))
    t.ok(follows, "each * STATUS follows the * LIST of its mailbox", names)
    t.eq(len([n for n in names if n.startswith("* STATUS")]), 6,
         "one * STATUS per selectable mailbox")
    r.logout()


def test_modified_utf7():
    user, r = fresh("utf")
    name = "Compte-rendus &AOk-chographie"
    resp = r.cmd('CREATE "%s"' % name)
    t.eq(resp.status, "OK", "CREATE a modified UTF-7 name: OK")
    lst = list_entries(r.cmd('LIST "" "Compte*"'))
    t.eq(sorted(lst), [name], "LIST returns the same modified UTF-7 name")
    T.append(user, msg(user, "echo"), mailbox=name)
    st = status_items(r.cmd('STATUS "%s" (MESSAGES)' % name))
    t.eq(st, {"MESSAGES": 1}, "APPEND and STATUS through the UTF-7 name")
    t.eq(r.cmd('SELECT "%s"' % name).status, "OK", "SELECT it: OK")
    hier = "R&AOk-unions/&AMk-quipe m&AOk-dicale"
    t.eq(r.cmd('CREATE "%s"' % hier).status, "OK",
         "CREATE a non-ASCII hierarchy: OK")
    lst = list_entries(r.cmd('LIST "" "R*"'))
    t.eq(sorted(lst), ["R&AOk-unions", hier],
         "non-ASCII parent and child listed")
    c = T.imap(user)
    typ, data = c.list('""', '"Compte*"')
    t.ok(typ == "OK" and data and data[0].endswith(b'"%s"' %
                                                   name.encode()),
         "imaplib sees the same name", data)
    c.logout()
    for bad, why in (("&Jjo", "unterminated base64"),
                     ("bad&name", "& not followed by -"),
                     ("&AGE-", "ASCII letter encoded in base64")):
        resp = r.cmd('CREATE "%s"' % bad)
        t.ok(resp.status in ("NO", "BAD"),
             "CREATE with invalid modified UTF-7 (%s): NO or BAD" % why,
             resp)
    resp = r.cmd(b'CREATE "caf\xc3\xa9"')
    t.ok(resp.status in ("NO", "BAD"),
         "CREATE with raw 8-bit bytes in the name: NO or BAD", resp)
    t.ok(human_text(resp), "raw 8-bit name: a text", resp)
    r.logout()


def test_uidvalidity_on_recreate():
    user, r = fresh("uv")
    r.cmd("CREATE v")
    a = T.append(user, msg(user, "v1"), mailbox="v")
    uv1, uid1 = (int(x) for x in resp_code_value(a, "APPENDUID").split())
    r.cmd("DELETE v")
    r.cmd("CREATE v")
    st = status_items(r.cmd("STATUS v (UIDVALIDITY MESSAGES)")) or {}
    t.ok(st.get("UIDVALIDITY", 0) > uv1,
         "re-created mailbox: larger UIDVALIDITY (RFC 3501 2.3.1.1)",
         (uv1, st))
    t.eq(st.get("MESSAGES"), 0, "re-created mailbox is empty")
    r2 = T.session(user)
    uv_before = status_items(r2.cmd("STATUS INBOX (UIDVALIDITY)"))
    r2.logout()
    r3 = T.session(user)
    t.eq(status_items(r3.cmd("STATUS INBOX (UIDVALIDITY)")), uv_before,
         "UIDVALIDITY stable across sessions")
    r3.logout()
    r.logout()


run(t, T, test_new_account, test_select_examine, test_create, test_delete,
    test_rename, test_subscriptions, test_list_patterns,
    test_status_and_list_status, test_modified_utf7,
    test_uidvalidity_on_recreate)
