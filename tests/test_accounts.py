"""Accounts: create, sign-in check, roles, disabling, the first-start admin, hostile input refused with the
tables unchanged, the password hash never handed out; and the ``users`` CLI."""
from __future__ import annotations

import dataclasses

import pytest

from engine import accounts, audit
from engine.accounts import AccountError

PASSWORD = "correct horse battery"
HOSTILE = ["NSW1' OR 1=1--", "x@y.com'; DROP TABLE users; --", "<script>alert(1)</script>@x.com",
           "a" * 100_000 + "@x.com", "2026-13-45", "", "   ", "no-at-sign", "two@@x.com", "a b@x.com",
           {"email": "a@x.com"}, ["a@x.com"], None, 42]


@pytest.fixture
def store(module_store):
    """The module's store with no user, ended session or audit record: the tests count users and records."""
    for table in ("users", "ended_sessions", "audit_log"):
        module_store.command(f"TRUNCATE TABLE {table}")
    return module_store


def _counts(store) -> tuple[int, int]:
    """Rows in users (every version, not just the latest) and in audit_log."""
    return (int(store.scalar("SELECT count() FROM users")), int(store.scalar("SELECT count() FROM audit_log")))


def test_a_created_user_signs_in_with_their_password_only(store):
    made = accounts.create_user(store, "Ann@Example.com", "trader", PASSWORD)
    assert made.email == "ann@example.com", "emails are stored lower-case"
    assert accounts.verify_password(store, "ann@example.com", PASSWORD) == made
    assert accounts.verify_password(store, " ANN@example.COM ", PASSWORD) == made, "the email's case is ignored"
    assert accounts.verify_password(store, "ann@example.com", PASSWORD + "x") is None
    assert accounts.verify_password(store, "bob@example.com", PASSWORD) is None, "unknown email"


def test_look_ups_find_a_user_by_id_and_by_email(store):
    made = accounts.create_user(store, "ann@example.com", "analyst", PASSWORD)
    assert accounts.get_user(store, made.user_id) == made
    assert accounts.find_user(store, "ANN@example.com") == made
    assert accounts.get_user(store, "no-such-id") is None
    assert accounts.find_user(store, "nobody@example.com") is None


def test_a_user_carries_no_password_hash():
    assert [f.name for f in dataclasses.fields(accounts.User)] == ["user_id", "email", "role", "active",
                                                                   "created_at"]


def test_the_stored_hash_is_argon2id_and_never_shown(store):
    accounts.create_user(store, "ann@example.com", "trader", PASSWORD)
    stored = store.scalar("SELECT password_hash FROM users FINAL WHERE email = 'ann@example.com'")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    audit.record(store, "cli", audit.USER_CREATED, "ann@example.com as trader", "console")
    shown = repr(accounts.list_users(store)) + audit.recent(store).to_csv()
    assert stored not in shown, "the hash appears in what the admin page shows"
    assert "argon2" not in shown


def test_a_duplicate_email_is_refused_whatever_its_case(store):
    accounts.create_user(store, "ann@example.com", "trader", PASSWORD)
    before = _counts(store)
    with pytest.raises(AccountError, match="exists already"):
        accounts.create_user(store, "ANN@example.com", "analyst", PASSWORD)
    assert _counts(store) == before


def test_a_hostile_email_is_refused_and_nothing_changes(store):
    accounts.create_user(store, "ann@example.com", "admin", PASSWORD)
    accounts.create_user(store, "bob@example.com", "admin", PASSWORD)
    before = _counts(store)
    for email in HOSTILE:
        shown = repr(email)[:40]
        for change in (lambda e=email: accounts.create_user(store, e, "trader", PASSWORD),
                       lambda e=email: accounts.set_role(store, e, "trader"),
                       lambda e=email: accounts.set_password(store, e, PASSWORD),
                       lambda e=email: accounts.disable_user(store, e)):
            with pytest.raises(AccountError, match="Not a valid email address"):
                change()
        assert accounts.verify_password(store, email, PASSWORD) is None, shown
        assert accounts.find_user(store, email) is None, shown
        assert accounts.get_user(store, email) is None, shown
    assert _counts(store) == before
    assert [u.email for u in accounts.list_users(store)] == ["ann@example.com", "bob@example.com"]


def test_a_role_not_in_the_list_is_refused_and_nothing_changes(store):
    accounts.create_user(store, "ann@example.com", "trader", PASSWORD)
    before = _counts(store)
    for role in ["root", "Admin", "admin' OR 1=1--", "<script>", "x" * 100_000, "", None, ["admin"],
                 {"role": "admin"}]:
        with pytest.raises(AccountError, match="Role must be one of"):
            accounts.create_user(store, "bob@example.com", role, PASSWORD)
        with pytest.raises(AccountError, match="Role must be one of"):
            accounts.set_role(store, "ann@example.com", role)
    assert _counts(store) == before
    assert accounts.find_user(store, "ann@example.com").role == "trader"


def test_a_password_too_short_too_long_or_not_text_is_refused(store):
    for password, message in [("short", "at least 12"), ("", "at least 12"), (None, "at least 12"),
                              (123456789012345, "at least 12"), ("x" * 100_000, "at most 1024")]:
        with pytest.raises(AccountError, match=message):
            accounts.create_user(store, "ann@example.com", "trader", password)
    assert _counts(store) == (0, 0)


def test_an_oversized_or_non_text_password_never_signs_in(store):
    accounts.create_user(store, "ann@example.com", "trader", PASSWORD)
    for password in ("x" * 100_000, None, ["x"], {"p": PASSWORD}):
        assert accounts.verify_password(store, "ann@example.com", password) is None, repr(password)[:40]


def test_a_session_is_its_users_until_signed_out_or_disabled(store):
    made = accounts.create_user(store, "ann@example.com", "analyst", PASSWORD)
    found = accounts.session_user(store, made.user_id, "session-1")
    assert found == made  # the same user, its creation time tz-aware UTC as every other read gives it
    assert found.created_at.utcoffset() is not None and found.created_at.utcoffset().total_seconds() == 0
    accounts.end_session(store, made.user_id, "session-1")
    assert accounts.session_user(store, made.user_id, "session-1") is None, "a signed-out session is refused"
    assert accounts.session_user(store, made.user_id, "session-2") == made
    assert accounts.session_user(store, "no-such-id", "session-2") is None
    assert accounts.session_user(store, made.user_id, None) is None
    accounts.disable_user(store, "ann@example.com")
    assert accounts.session_user(store, made.user_id, "session-2") is None, "a disabled user's session is refused"


def test_a_role_change_is_read_back_at_once(store):
    made = accounts.create_user(store, "ann@example.com", "trader", PASSWORD)
    assert accounts.session_user(store, made.user_id, "session-1").role == "trader"  # now remembered
    changed = accounts.set_role(store, "ann@example.com", "analyst")
    assert accounts.session_user(store, made.user_id, "session-1").role == "analyst", "the next request sees it"
    assert changed.role == "analyst"
    assert accounts.find_user(store, "ann@example.com").role == "analyst"
    assert accounts.verify_password(store, "ann@example.com", PASSWORD).role == "analyst"


def test_a_disabled_user_cannot_sign_in_but_is_still_listed(store):
    made = accounts.create_user(store, "ann@example.com", "trader", PASSWORD)
    accounts.disable_user(store, "ann@example.com")
    assert accounts.verify_password(store, "ann@example.com", PASSWORD) is None
    assert accounts.get_user(store, made.user_id).active is False
    assert [(u.email, u.active) for u in accounts.list_users(store)] == [("ann@example.com", False)]


def test_a_new_password_replaces_the_old_one(store):
    accounts.create_user(store, "ann@example.com", "trader", PASSWORD)
    accounts.set_password(store, "ann@example.com", "another long passphrase")
    assert accounts.verify_password(store, "ann@example.com", PASSWORD) is None
    assert accounts.verify_password(store, "ann@example.com", "another long passphrase").email == "ann@example.com"


def test_changing_an_unknown_user_is_refused(store):
    for change in (lambda: accounts.set_role(store, "nobody@example.com", "admin"),
                   lambda: accounts.disable_user(store, "nobody@example.com"),
                   lambda: accounts.set_password(store, "nobody@example.com", PASSWORD)):
        with pytest.raises(AccountError, match="No user has that email"):
            change()
    assert _counts(store) == (0, 0)


def test_the_last_active_admin_can_be_neither_demoted_nor_disabled(store):
    accounts.create_user(store, "ann@example.com", "admin", PASSWORD)
    with pytest.raises(AccountError, match="last active admin"):
        accounts.set_role(store, "ann@example.com", "trader")
    with pytest.raises(AccountError, match="last active admin"):
        accounts.disable_user(store, "ann@example.com")
    accounts.create_user(store, "bob@example.com", "admin", PASSWORD)
    assert accounts.disable_user(store, "ann@example.com").active is False, "with a second admin it may go"
    with pytest.raises(AccountError, match="last active admin"):
        accounts.set_role(store, "bob@example.com", "analyst")


def test_the_first_admin_is_made_once_with_a_random_password(store):
    first = accounts.ensure_first_admin(store)
    assert first[0] == accounts.FIRST_ADMIN_EMAIL
    assert accounts.verify_password(store, *first).role == "admin"
    assert accounts.ensure_first_admin(store) is None, "not again once a user exists"
    assert len(accounts.list_users(store)) == 1


def test_no_first_admin_when_any_user_exists(store):
    accounts.create_user(store, "ann@example.com", "analyst", PASSWORD)
    assert accounts.ensure_first_admin(store) is None
    assert accounts.find_user(store, accounts.FIRST_ADMIN_EMAIL) is None


def test_generated_passwords_are_long_and_differ():
    made = {accounts.generate_password() for _ in range(50)}
    assert len(made) == 50
    assert min(len(p) for p in made) >= 20


# --- the users CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli(make_app):
    app = make_app()
    runner = app.server.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(args=list(args), input=input)

    invoke.store = app.server.extensions["c254"].store
    return invoke


def _first_start_password(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("first start:"))
    return line.split("password ", 1)[1].split(" ", 1)[0]


def test_store_init_prints_the_first_admin_password_once(cli):
    first = cli("store", "init")
    assert first.exit_code == 0, first.output
    password = _first_start_password(first.output)
    assert accounts.verify_password(cli.store, "admin@localhost", password).role == "admin"
    again = cli("store", "init")
    assert again.exit_code == 0, again.output
    assert "first start" not in again.output
    assert password not in again.output


def test_store_init_makes_no_admin_when_users_exist(cli):
    assert cli("users", "create", "ann@example.com", "--role", "admin", input=PASSWORD + "\n").exit_code == 0
    result = cli("store", "init")
    assert "first start" not in result.output
    assert accounts.find_user(cli.store, "admin@localhost") is None


def test_users_create_reads_the_password_from_stdin(cli):
    result = cli("users", "create", "Ann@Example.com", "--role", "analyst", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created ann@example.com (analyst)"  # the logs go to stderr
    assert accounts.verify_password(cli.store, "ann@example.com", PASSWORD).role == "analyst"


def test_users_create_with_empty_stdin_generates_and_prints_a_password(cli):
    result = cli("users", "create", "ann@example.com", "--role", "trader")
    assert result.exit_code == 0, result.output
    password = result.output.strip().rsplit("password ", 1)[1]
    assert accounts.verify_password(cli.store, "ann@example.com", password).role == "trader"


def test_users_commands_refuse_bad_input_clearly_and_change_nothing(cli):
    cli("store", "init")
    before = _counts(cli.store)
    for args, stdin, code, message in [
        (("users", "create", "ann@example.com", "--role", "root"), None, 2, "'root' is not one of"),
        (("users", "create", "ann@example.com"), None, 2, "Missing option '--role'"),
        (("users", "create", "not-an-email", "--role", "trader"), None, 1, "Not a valid email address."),
        (("users", "create", "x'; DROP TABLE users--@a.b", "--role", "trader"), None, 1, "Not a valid email address."),
        (("users", "create", "ann@example.com", "--role", "trader"), "short\n", 1, "at least 12 characters"),
        (("users", "create", "admin@localhost", "--role", "trader"), None, 1, "exists already"),
        (("users", "set-role", "nobody@example.com", "admin"), None, 1, "No user has that email address."),
        (("users", "set-role", "nobody@example.com", "root"), None, 2, "'root' is not one of"),
        (("users", "set-role", "admin@localhost", "trader"), None, 1, "last active admin"),
        (("users", "disable", "nobody@example.com"), None, 1, "No user has that email address."),
    ]:
        result = cli(*args, input=stdin)
        assert result.exit_code == code, f"{args}: {result.output}"
        assert message in result.output, f"{args}: {result.output}"
    assert _counts(cli.store) == before


def test_users_set_role_disable_and_list(cli):
    cli("users", "create", "ann@example.com", "--role", "trader", input=PASSWORD + "\n")
    assert cli("users", "set-role", "ann@example.com", "partner").output.strip() == "ann@example.com is partner"
    assert cli("users", "disable", "ANN@example.com").output.strip() == "ann@example.com disabled"
    listed = cli("users", "list").output.split()
    assert listed[:3] == ["ann@example.com", "partner", "disabled"]
    assert accounts.verify_password(cli.store, "ann@example.com", PASSWORD) is None


def test_users_set_password_generates_one_when_stdin_is_empty(cli):
    first = _first_start_password(cli("store", "init").output)
    result = cli("users", "set-password", "admin@localhost")
    assert result.exit_code == 0, result.output
    password = result.output.strip().rsplit(": ", 1)[1]
    assert accounts.verify_password(cli.store, "admin@localhost", password).role == "admin"
    assert accounts.verify_password(cli.store, "admin@localhost", first) is None


def test_every_users_command_that_changes_something_is_audited_as_cli(cli):
    cli("store", "init")
    cli("users", "create", "ann@example.com", "--role", "trader", input=PASSWORD + "\n")
    cli("users", "set-role", "ann@example.com", "analyst")
    cli("users", "set-role", "ann@example.com", "analyst")  # no change: no record
    cli("users", "set-password", "ann@example.com")
    cli("users", "disable", "ann@example.com")
    cli("users", "disable", "ann@example.com")  # already disabled: no record
    cli("users", "list")
    log = audit.recent(cli.store)
    assert list(log["action"]) == [audit.USER_DISABLED, audit.PASSWORD_SET, audit.ROLE_CHANGED, audit.USER_CREATED,
                                   audit.USER_CREATED]
    assert list(log["actor"]) == ["cli"] * 4 + ["first start"]
    assert set(log["address"]) == {"console"}
    assert log["detail"].iloc[2] == "ann@example.com: trader → analyst"
    assert PASSWORD not in log.to_csv(), "no password in the audit log"
