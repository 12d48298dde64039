"""Login throttling (issue 10, medium): 40 wrong passwords in a row used to be followed by a working login. With
django-axes, after LOGIN_FAILURE_LIMIT failures for a user name from one address even the right password is
refused until the cool-off; another user, or the same user from another address, is not affected."""

import pytest
from django.test import Client


def attempt(path, username, password, ip="10.0.0.1"):
    client = Client(REMOTE_ADDR=ip)
    response = client.post(path, {"username": username, "password": password})
    return response, client


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_repeated_failures_lock_the_user_name_from_that_address(alice, bob, settings, path):
    alice.is_staff = bob.is_staff = True  # the admin site only lets staff in
    alice.save()
    bob.save()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response, _ = attempt(path, "alice", "wrong password")
        assert response.status_code == 200  # the form again, with its error
    assert attempt(path, "alice", "wrong password")[0].status_code == 429  # the last allowed failure locks
    response, client = attempt(path, "alice", "correct horse battery")
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    response, client = attempt(path, "bob", "correct horse battery")
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(bob.pk)
    response, client = attempt(path, "alice", "correct horse battery", ip="10.0.0.2")
    assert response.status_code == 302


def test_a_success_before_the_limit_resets_the_count(alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt("/login/", "alice", "wrong password")
    assert attempt("/login/", "alice", "correct horse battery")[0].status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt("/login/", "alice", "wrong password")
    assert attempt("/login/", "alice", "correct horse battery")[0].status_code == 302
