"""bench/group_mention.py: the @room notification step is one INSERT … SELECT whatever the room's
size (its statement count does not grow), makes a notification per other member, and the
committed figures are for a room of 1,000 on both engines."""

import json
from pathlib import Path

import pytest

from bench import group_mention

pytestmark = pytest.mark.timeout(300)

COMMITTED = Path(group_mention.RESULTS) / "results.json"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, dict]:
    found = {}
    for members in (20, 200):
        out = tmp_path_factory.mktemp(f"group-mention-{members}")
        group_mention.main(
            ["--members", str(members), "--repeat", "2", "--engines", "sqlite", "--out", str(out)]
        )
        found[members] = json.loads((out / "results.json").read_text())
        assert (
            (out / "results.md")
            .read_text()
            .startswith(f"# The notification step of @room in a room of {members}")
        )
    return found


def test_the_group_step_is_one_insert_and_its_statements_do_not_grow_with_the_room(runs):
    small, big = (runs[size]["engines"]["sqlite"]["kinds"]["@room"] for size in (20, 200))
    assert small["notification_inserts"] == big["notification_inserts"] == 1
    assert small["statements"] == big["statements"]
    assert (small["notifications"], big["notifications"]) == (19, 199)
    assert big["frame_bytes"] > small["frame_bytes"] > 0


def test_a_plain_message_has_no_notification_step(runs):
    plain = runs[200]["engines"]["sqlite"]["kinds"]["before"]
    assert plain["notifications"] == 0 and plain["notification_inserts"] == 0 and plain["statements"] == 1


def test_the_committed_figures_are_for_a_room_of_1000_on_both_engines():
    results = json.loads(COMMITTED.read_text())
    assert results["members"] == 1000
    assert set(results["engines"]) == {"sqlite", "postgres"}
    for engine in results["engines"].values():
        group = engine["kinds"]["@room"]
        assert group["notification_inserts"] == 1 and group["notifications"] == 999
