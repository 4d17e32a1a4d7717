#!/usr/bin/env python3
"""`trimvl eval` killed with SIGKILL at several moments, then run again with the same command, must
end with exactly the samples an uninterrupted run has: every journal line whole and parseable, no
key twice, the same answers, and a results file that counts them all.

    eval_kill_resume.py TRIMVL WORKDIR -- <trimvl eval arguments without --output-dir>
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time


def journal_lines(out_dir):
    total = 0
    for path in glob.glob(os.path.join(out_dir, "*", "*_samples_*.jsonl")):
        with open(path, "rb") as f:
            total += f.read().count(b"\n")
    return total


def read_journals(out_dir):
    """{(file name without the date, key): record}; fails on a torn or duplicate line."""
    records = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "*", "*_samples_*.jsonl"))):
        name = os.path.basename(path).split("_samples_", 1)[1]
        with open(path, "rb") as f:
            data = f.read()
        assert data.endswith(b"\n") or not data, f"{path}: last line is torn"
        for number, line in enumerate(data.splitlines(), 1):
            record = json.loads(line)  # raises on a torn line
            key = (name, record["key"])
            assert key not in records, f"{path}: line {number}: key {record['key']} twice"
            records[key] = record
    return records


def results(out_dir):
    files = glob.glob(os.path.join(out_dir, "*", "*_results.json"))
    assert len(files) == 1, f"{out_dir}: expected one results file, found {files}"
    with open(files[0]) as f:
        return json.load(f)


def run(command, out_dir):
    subprocess.run(command + ["--output-dir", out_dir], check=True, stdout=subprocess.DEVNULL)


def main():
    trimvl, work = sys.argv[1], sys.argv[2]
    args = sys.argv[sys.argv.index("--") + 1:]
    command = [trimvl, "eval", "--no-progress"] + args
    shutil.rmtree(work, ignore_errors=True)
    reference, resumed = os.path.join(work, "reference"), os.path.join(work, "resumed")
    run(command, reference)
    want = read_journals(reference)
    total = len(want)
    assert total >= 6, f"the reference run wrote only {total} samples"

    # Kill after the first journal line, in the middle, and near the end, each time at once after the
    # line count reached the mark (so the next request, or its write, is under way).
    for mark in (1, total // 2, total - 1):
        process = subprocess.Popen(command + ["--output-dir", resumed], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        while process.poll() is None and journal_lines(resumed) < mark:
            time.sleep(0.01)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        got = read_journals(resumed)  # whole lines, no duplicates, after every kill
        print(f"killed at {len(got)} of {total} samples (mark {mark})")
    run(command, resumed)

    got = read_journals(resumed)
    assert set(got) == set(want), f"samples differ: missing {set(want) - set(got)}, extra {set(got) - set(want)}"
    for key, record in want.items():
        assert got[key]["resps"] == record["resps"], f"{key}: {got[key]['resps']} != {record['resps']}"
    r = results(resumed)
    counted = sum(v["effective"] for v in r["n-samples"].values())
    assert counted == total, f"results count {counted} samples, the journals hold {total}"
    assert r["results"].keys() == results(reference)["results"].keys()
    print(f"ok: {total} samples after 3 kills, identical to an uninterrupted run")


if __name__ == "__main__":
    main()
