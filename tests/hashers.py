"""A cheap password hasher for the tests' users (Django's PBKDF2 costs ~0.4 s per user; most tests create two).

Same algorithm name as Django's, fewer iterations: the hash records its iteration count, so servers and workers
the tests start (production settings) still verify these passwords."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1_000
