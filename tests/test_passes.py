"""The two passes of `make test`: what the second (PostgreSQL + Redis) leaves to the first is
only what would run exactly the same in it (tests/conftest.py, SAME_IN_BOTH_PASSES)."""

import re
from pathlib import Path

from .conftest import SAME_IN_BOTH_PASSES

TESTS = Path(__file__).resolve().parent
# What would make a module depend on the pass: the database pytest-django set up for it, or the
# pass's servers handed to its own.
PASS_DEPENDENT = re.compile(
    r"mark\.django_db|DATABASE_URL|REDIS_URL|postgres_from_env|redis_from_env|start_postgres"
)


def test_every_module_left_to_the_first_pass_exists_and_uses_nothing_of_the_second():
    for name in sorted(SAME_IN_BOTH_PASSES):
        source = (TESTS / f"{name}.py").read_text()
        found = PASS_DEPENDENT.findall(source)
        # tests/test_chromium.py takes DATABASE_URL and REDIS_URL *out* of its servers' environment.
        allowed = {"DATABASE_URL", "REDIS_URL"} if name == "test_chromium" else set()
        assert set(found) <= allowed, f"{name} uses {found}: it depends on the pass"
