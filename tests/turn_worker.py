"""A member of a turn file for the tests of bench/jobs/sweep/interleave.py: it joins, then
for each of its turns logs "<name><i> start", works 50 ms (no other member may
start meanwhile) and logs "<name><i> end".

    python tests/turn_worker.py TURN_FILE LOG NAME TURNS [EXPECTED [SLOT [SIDE]]]"""

import sys
import time
from pathlib import Path

from bench.jobs.sweep.interleave import Turns


def main(turn_file: str, log: str, name: str, turns: str, expected: str = "2", slot: str = "", side: str = "") -> None:
    member = Turns(Path(turn_file), wait_for_peer_s=60, expected=int(expected), slot=int(slot) if slot else None,
                   side=side or None)
    member.join()
    for i in range(int(turns)):
        member.take()
        with open(log, "a") as f:
            f.write(f"{name}{i} start\n")
        time.sleep(0.05)
        with open(log, "a") as f:
            f.write(f"{name}{i} end\n")
    member.leave()


if __name__ == "__main__":
    main(*sys.argv[1:])
