"""How OpenMP's wait policy changes the instant engine's speed, alone and beside a busy program
(not a test; numbers go to RESULTS.md).

    python benchmarks/bench_wait_policy.py [--rounds 2] [--repeats 5] \
        [--policies PASSIVE,default,spin:10000]

PiggyDesk sets ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (``core.process_env``). This
runs ``bench_instant.py`` in fresh interpreters with each of ``--policies`` (PASSIVE;
``default``: OpenMP's own, threads spin a while before they sleep; ``spin:N``: the default
with ``GOMP_SPINCOUNT=N``), each on a quiet machine and beside one busy
process (a Python loop, standing in for a browser or a second program on a 2-core computer),
the four cases in turn, ``--rounds`` times, and prints each figure's median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURES = ("colorize_512px_auto", "colorize_512px_hint_edit", "colorize_512px_3_variants",
           "colorize_12mp_auto")


def run_case(policy: str, busy: bool, repeats: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if policy.startswith("spin:"):
        env["GOMP_SPINCOUNT"] = policy.split(":", 1)[1]
    elif policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            subprocess.run([sys.executable, str(HERE / "bench_instant.py"), "--repeats",
                            str(repeats), "--json", str(out)], env=env, check=True,
                           capture_output=True)
            result = json.loads(out.read_text())
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    return {name: result[name]["median_s"] for name in FIGURES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--policies", default="PASSIVE,default")
    args = parser.parse_args()
    policies = args.policies.split(",")
    cases = [(policy, busy) for busy in (False, True) for policy in policies]
    seen: dict[tuple, list[dict]] = {case: [] for case in cases}
    for _ in range(args.rounds):
        for case in cases:
            seen[case].append(run_case(*case, args.repeats))
    print(f"{'case':34s}" + "".join(f"{name:>28s}" for name in FIGURES))
    for (policy, busy), runs in seen.items():
        label = f"{policy}, {'one busy process' if busy else 'quiet'}"
        medians = [statistics.median(r[name] for r in runs) for name in FIGURES]
        print(f"{label:34s}" + "".join(f"{m:28.3f}" for m in medians))


if __name__ == "__main__":
    main()
