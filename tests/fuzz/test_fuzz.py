"""The fuzz corpus (issue 15): >= 300 malformed inputs over every format we read and every
writer under a simulated full disk and bad destinations, run through the API and the CLI in
subprocesses with a memory limit and a timeout, batched so that the whole run stays short.

Fails on any traceback, hang, memory blow-up, silent acceptance of a must-reject input, or a
clobbered / left-behind file; the failure message lists every bad case."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fuzz.corpus import generate

MEMORY_LIMIT = 6 << 30  # bytes of address space per batch (torch alone maps ~1.5 GiB)
BATCH_TIMEOUT = 240  # seconds per batch
BATCHES = 4
REPO = Path(__file__).parents[2]


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run_batch(cases_file: Path, start: int, stop: int, out: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1", "CV_IO_MAX_IMAGE_PIXELS": str(1 << 28)}
    try:
        r = subprocess.run([sys.executable, "-m", "tests.fuzz.runner", str(cases_file),
                            str(start), str(stop), str(out)], capture_output=True, text=True,
                           timeout=BATCH_TIMEOUT, preexec_fn=_limits, env=env, cwd=REPO)
        stdout, rc, tail = r.stdout, r.returncode, r.stderr[-1500:]
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        rc, tail = "timeout", ""
    results, started = [], None
    for line in stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "start" in rec:
            started = rec["start"]
        else:
            results.append(rec)
            started = None
    if started is not None or rc != 0:
        results.append({"id": started or f"batch {start}:{stop}", "outcome":
                        "hang" if rc == "timeout" else "crash",
                        "detail": f"rc={rc} {tail}"})
    return results


def test_fuzz_corpus(tmp_path):
    t0 = time.perf_counter()
    cases = generate(tmp_path / "corpus")
    assert len(cases) >= 300
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    # interleave reads and writes so that batches take similar times
    bounds = [(i * len(cases) // BATCHES, (i + 1) * len(cases) // BATCHES)
              for i in range(BATCHES)]
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(lambda b: _run_batch(cases_file, b[0], b[1],
                                                   tmp_path / f"out{b[0]}"), bounds))
    results = [r for part in parts for r in part]
    by_id = {c["id"]: c for c in cases}
    bad = []
    for r in results:
        case = by_id.get(r["id"], {})
        if r["outcome"] in ("traceback", "clobbered", "hang", "crash"):
            bad.append(r)
        elif r["outcome"] == "accepted" and (case.get("must_reject") or case.get("kind") ==
                                             "write"):
            bad.append({**r, "outcome": "silently accepted"})
    seen = {r["id"] for r in results}
    missing = [c["id"] for c in cases if c["id"] not in seen]
    elapsed = time.perf_counter() - t0
    print(f"fuzz: {len(cases)} cases ({sum(c['kind'] == 'read' for c in cases)} reads, "
          f"{sum(bool(c.get('argv')) for c in cases)} also through the CLI, "
          f"{sum(c['kind'] == 'write' for c in cases)} writes) in {elapsed:.1f} s")
    report = "\n".join(f"{r['outcome']}: {r['id']}: {r['detail'][:300]}" for r in bad)
    assert not bad and not missing, f"{len(bad)} bad, {len(missing)} not run " \
        f"{missing[:5]}\n{report}"
