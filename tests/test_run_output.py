"""What `laas run` prints of the shards it set aside: a run over Debian's copyright files
(783 shards, 750 set aside for contact details and repeated license texts) printed a line
per shard, pushing its verdict and next steps out of sight; now the first 20, and a count."""

from __future__ import annotations

from types import SimpleNamespace

from laas.commands.common import out
from laas.commands.versions import print_set_aside


def test_set_aside_shards_are_listed_up_to_twenty_then_counted() -> None:
    aside = [SimpleNamespace(status="quarantined", key=f"pkg{i:03d}/copyright",
                             reason="3 of 17 rows fail: over max_dropped_rows 10%")
             for i in range(750)]
    dropped = {f"kept{i}/copyright": "1 of 14 rows dropped" for i in range(3)}
    with out.capture() as captured:
        print_set_aside(SimpleNamespace(set_aside=aside, rows_dropped=dropped))
    lines = captured.get().splitlines()
    assert lines[:20] == [f"  quarantined pkg{i:03d}/copyright: 3 of 17 rows fail: over "
                          "max_dropped_rows 10%" for i in range(20)]
    assert lines[20] == "  … and 730 more shard(s) set aside (--json lists them)"
    assert lines[21:] == [f"  rows dropped kept{i}/copyright: 1 of 14 rows dropped"
                          for i in range(3)]
