"""Fault injection on the paid path: kills, torn files, two writers, failed jobs, lost responses, tampering.

Every test asserts what a hardware user is promised: the features equal an
uninterrupted run's with the same seed, no call is submitted twice, and the
QPU seconds submitted never exceed the ceiling. Kills are real SIGKILLs of a
child process (tests/ibm_fault_driver.py); the rest is injected in-process.
"""
import copy
import gc
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qiskit_ibm_runtime", reason="backend 'ibm' needs qiskit-ibm-runtime (pip install 'qrnn[ibm]')")
pytest.importorskip("qiskit_aer", reason="rehearsal on fake devices needs qiskit-aer")

from qiskit_ibm_runtime.exceptions import (  # noqa: E402
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobMaxTimeoutError,
)

from qrnn import QLSTM, QRNN, recommended_reservoir  # noqa: E402
from qrnn.backends import IBMBackend, JobFailedError, StoreLockedError  # noqa: E402
from tests import ibm_fault_driver as driver  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def expected():
    """Features of the uninterrupted driver run (no store: the same seeds, derived from the calls)."""
    return driver.reservoir(driver.backend(None)).transform(driver.inputs())


def run_driver(store, point="none", call=1, log=None, ceiling=None):
    log = log or store.parent / "submissions.log"
    out = store.parent / "features.npy"
    args = [sys.executable, str(ROOT / "tests" / "ibm_fault_driver.py"), str(store), point, str(call), str(log),
            str(out)] + ([] if ceiling is None else [str(ceiling)])
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc, (np.load(out) if proc.returncode == 0 else None)


def submitted_tags(log: Path) -> list[str]:
    return [json.loads(line)["tag"] for line in log.read_text().splitlines()] if log.exists() else []


def resume_in_process(store, log):
    """Finish the run in this process, logging what it submits as the driver does."""
    gc.collect()
    ibm = driver.backend(store)
    driver.log_submissions(ibm, log)
    feats = driver.reservoir(ibm).transform(driver.inputs())
    return ibm, feats


FAST_POINTS = ("after-submit", "mid-result-write")


@pytest.mark.parametrize("point", [pytest.param(p, marks=() if p in FAST_POINTS else pytest.mark.slow)
                                   for p in driver.POINTS])
def test_sigkill_at_every_point_of_a_call(point, tmp_path, expected):
    store, log = tmp_path / "store", tmp_path / "submissions.log"
    proc, _ = run_driver(store, point, call=3, log=log)
    assert proc.returncode == -9, proc.stderr[-2000:]  # it really died at that point
    ibm, feats = resume_in_process(store, log)
    np.testing.assert_array_equal(feats, expected)
    tags = submitted_tags(log)
    assert len(tags) == len(set(tags)) == 2 * driver.T  # every call submitted exactly once
    hows = [c["how"] for c in ibm.calls]
    assert hows.count("replayed") == 2 + (point in ("after-done",))
    if point == "after-submit":  # the job was accepted: found by its tag, not paid again
        assert hows[2] == "found"
    # A third run pays nothing and reads the same features.
    del ibm
    ibm, again = resume_in_process(store, log)
    np.testing.assert_array_equal(again, expected)
    assert {c["how"] for c in ibm.calls} == {"replayed"} and len(submitted_tags(log)) == 2 * driver.T


@pytest.mark.slow
def test_a_kill_in_every_call_in_turn_loses_nothing(tmp_path, expected):
    """Each new process dies at the first call it works on, at the next point in turn, until the run is done."""
    store, log = tmp_path / "store", tmp_path / "submissions.log"
    kills = 0
    for i in range(3 * len(driver.POINTS)):
        proc, feats = run_driver(store, driver.POINTS[i % len(driver.POINTS)], call=1, log=log)
        if proc.returncode == 0:  # nothing was left for this point to hit
            break
        assert proc.returncode == -9, proc.stderr[-2000:]
        kills += 1
    else:
        proc, feats = run_driver(store, log=log)
    assert kills >= len(driver.POINTS) and proc.returncode == 0, proc.stderr[-2000:]
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_array_equal(feats, expected)
    tags = submitted_tags(log)
    assert len(tags) == len(set(tags)) == 2 * driver.T


def test_ceiling_holds_across_processes_and_reruns(tmp_path, expected):
    store, log = tmp_path / "store", tmp_path / "submissions.log"
    model = driver.backend(None)
    costs = [model._qpu_seconds(1, 4 * driver.B), model._qpu_seconds(1, 2 * driver.B)] * driver.T  # QLSTM rounds
    ceiling = 0.5 * sum(costs)
    allowed = max(k for k in range(len(costs) + 1) if sum(costs[:k]) <= ceiling)
    for _ in range(4):  # the first run stops at the ceiling; the spend read back from the store stops every rerun
        proc, _ = run_driver(store, log=log, ceiling=ceiling)
        assert proc.returncode == 1 and "max_qpu_seconds" in proc.stderr
    spent = sum(json.loads(line)["qpu_seconds"] for line in log.read_text().splitlines())
    assert spent <= ceiling and len(submitted_tags(log)) == allowed
    gc.collect()
    ibm = driver.backend(store, ceiling)
    assert ibm.qpu_seconds_spent == pytest.approx(spent)
    with pytest.raises(ValueError, match="already spent"):
        ibm.check_budget(driver.reservoir(ibm), driver.inputs())


def test_ceiling_holds_across_copies_and_clones(rng):
    from sklearn.base import clone

    from qrnn import ReservoirRegressor

    X, y = rng.normal(size=(6, 3, 1)), rng.normal(size=6)
    ibm = IBMBackend("fake_manila", shots=100, seed=0, max_qpu_seconds=10.0)
    est = ReservoirRegressor(QRNN(1, 2, seed=0, backend=ibm))
    spent_each, refused = [], 0
    for copy_ in (est, clone(est), copy.deepcopy(est), pickle.loads(pickle.dumps(est))):
        try:
            copy_.fit(X, y)
        except RuntimeError as exc:
            assert "max_qpu_seconds=10 would be exceeded" in str(exc)
            refused += 1
        spent_each.append(copy_.reservoir.backend.qpu_seconds_spent)
    # every copy shares the one counter: a fit costs 3 calls, so the second fit is refused after one more
    call = ibm._qpu_seconds(1, len(X))
    assert spent_each[0] == pytest.approx(3 * call) and spent_each[1:] == [pytest.approx(4 * call)] * 3
    assert 4 * call <= 10.0 < 5 * call
    assert refused == 3


def test_a_ceiling_without_a_store_is_not_split_between_processes(tmp_path, rng):
    """Pickled into another process (joblib, Ray) or forked, a store-less counter cannot be shared: refused."""
    x = rng.normal(size=(2, 2, 1))
    res = QRNN(1, 2, seed=0, backend=IBMBackend("fake_manila", shots=100, seed=0, max_qpu_seconds=10.0))
    (tmp_path / "res.pkl").write_bytes(pickle.dumps(res))
    code = ("import pickle, sys, numpy as np; res = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "res.transform(np.ones((2, 2, 1)))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "res.pkl")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1 and "cannot be shared with this process" in proc.stderr and "store=" in proc.stderr
    res.transform(x)  # in its own process it runs
    pid = os.fork()
    if pid == 0:  # a forked child may not spend the parent's ceiling behind its back
        try:
            res.transform(x + 1)
        except RuntimeError as exc:
            os._exit(3 if "cannot be shared" in str(exc) else 4)
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3


def test_a_forked_process_cannot_write_its_parents_store(tmp_path, rng):
    ibm = IBMBackend("fake_manila", shots=100, seed=0, store=tmp_path / "s")
    res = QRNN(1, 2, seed=0, backend=ibm)
    res.transform(rng.normal(size=(2, 2, 1)))
    pid = os.fork()
    if pid == 0:
        try:
            res.transform(np.ones((2, 2, 1)))
        except StoreLockedError as exc:
            os._exit(3 if "was forked from it" in str(exc) else 4)
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3


def slow_collect(ibm, seconds):
    runner = ibm._runner_for()
    original = runner.collect

    def collect(job):
        time.sleep(seconds)
        return original(job)

    runner.collect = collect


def counting_submit(ibm):
    runner, submits = ibm._runner_for(), []
    original = runner.submit
    runner.submit = lambda *args: submits.append(args) or original(*args)
    return submits


def test_ctrl_c_stops_an_ensemble_from_submitting(tmp_path, rng):
    import signal
    import threading

    from qrnn import Ensemble

    ibm = IBMBackend("fake_manila", shots=100, seed=0, store=tmp_path / "s")
    ens = Ensemble([QRNN(1, 2, seed=0, backend=ibm), QRNN(1, 2, seed=1, backend=ibm)])
    slow_collect(ibm, 0.3)
    submits = counting_submit(ibm)
    # Ctrl-C as a terminal delivers it. A process started in the background by a non-interactive shell
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: install it here.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            ens.transform(rng.normal(size=(2, 10, 1)))
    finally:
        signal.signal(signal.SIGINT, previous)
    at_interrupt = len(submits)
    time.sleep(1.0)
    assert at_interrupt <= 3 and len(submits) == at_interrupt  # nothing more after Ctrl-C


def test_an_estimate_never_turns_a_real_run_into_a_plan(tmp_path, rng):
    import threading

    x = rng.normal(size=(3, 4, 1))
    ibm = IBMBackend("fake_manila", noise=False, seed=0)
    res = QLSTM(1, 3, seed=0, backend=ibm)
    slow_collect(ibm, 0.05)
    out = {}
    runner = threading.Thread(target=lambda: out.setdefault("feats", res.transform(x)))
    runner.start()
    cost = ibm.estimate(QLSTM(1, 3, seed=5), x)  # planned in this thread while the run goes on in the other
    runner.join()
    assert cost["calls"] == 2 * 4
    np.testing.assert_allclose(out["feats"], QLSTM(1, 3, seed=0).transform(x), rtol=0, atol=1e-10)


def test_backends_with_other_settings_on_one_store_are_refused_before_paying(tmp_path, rng):
    from qrnn import Ensemble

    x = rng.normal(size=(2, 3, 1))
    free = IBMBackend("fake_manila", shots=100, seed=0, store=tmp_path / "s")
    capped = IBMBackend("fake_manila", shots=100, seed=0, store=tmp_path / "s", max_qpu_seconds=5.0)
    ens = Ensemble([QRNN(1, 2, seed=0, backend=free), QRNN(1, 2, seed=1, backend=capped)])
    with pytest.raises(ValueError, match="must use one backend configuration"):
        ens.transform(x)  # the capped member's call would be made under the free one's settings
    assert capped.calls == free.calls == [] and capped.ledger.records() == []
    same = Ensemble([QRNN(1, 2, seed=0, backend=free), QRNN(1, 2, seed=1, backend=copy.deepcopy(free))])
    assert same.members[0]._lockstep_key() is same.members[1]._lockstep_key()


def test_a_store_of_the_previous_format_keeps_its_spend_and_replays(tmp_path, expected):
    """Stores written before format 2 had no "submitting" records: their calls are priced from their size."""
    store = tmp_path / "store"
    ibm = driver.backend(store)
    driver.reservoir(ibm).transform(driver.inputs())
    spent = ibm.qpu_seconds_spent
    del ibm
    gc.collect()
    header = json.loads((store / "header.json").read_text())  # rewrite it as format 1 wrote it
    (store / "header.json").write_text(json.dumps({"config": header["config"], "groups": header["groups"]}))
    records = [json.loads(line) for line in (store / "ledger.jsonl").read_text().splitlines()]
    (store / "ledger.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records if r["status"] != "submitting"))
    for f in store.glob("*.npz"):
        with np.load(f) as d:
            old = {"evs": d["evs_0"], "stds": d["stds_0"], "values": d["values_0"]}
        np.savez(f, **old)
    ibm = driver.backend(store, max_qpu_seconds=spent)
    assert ibm.qpu_seconds_spent == pytest.approx(spent)
    np.testing.assert_array_equal(driver.reservoir(ibm).transform(driver.inputs()), expected)
    assert {c["how"] for c in ibm.calls} == {"replayed"}
    (store / "header.json").write_text(json.dumps({**header, "format": 99}))
    del ibm
    gc.collect()
    with pytest.raises(ValueError, match="has format 99, which this qrnn"):
        driver.backend(store)


def test_two_processes_on_one_store(tmp_path):
    store = tmp_path / "store"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from tests import ibm_fault_driver as d; b = d.backend(sys.argv[1]); "
        "print('ready', flush=True); time.sleep(float(sys.argv[2]))"), str(store), "3"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match=rf"in use by process {holder.pid} on host .*wait=True"):
            driver.backend(store)
        with pytest.raises(StoreLockedError, match="after waiting 0.2 s"):
            IBMBackend("fake_manila", shots=driver.SHOTS, seed=driver.SEED, store=store, wait=0.2)
        t0 = time.monotonic()
        ibm = IBMBackend("fake_manila", shots=driver.SHOTS, seed=driver.SEED, store=store, wait=True)
        assert time.monotonic() - t0 > 1.0  # it waited for the holder to let go (it holds the store 3 s)
        holder.wait(timeout=30)
        assert ibm.ledger.path == store
    finally:
        holder.kill()
        holder.wait()


def test_temporary_files_of_two_writers_never_collide(tmp_path):
    from qrnn._files import atomic_write as _atomic_write

    target = tmp_path / "k.npz"

    def outer(fh):  # a second writer of the same file runs while the first one writes
        fh.write(b"first")
        _atomic_write(target, lambda inner: inner.write(b"second"))

    _atomic_write(target, outer)
    assert target.read_bytes() == b"first" and not list(tmp_path.glob("*.tmp"))


def failing_collect(ibm, calls, exc):
    runner = ibm._runner_for()
    original, count = runner.collect, [0]

    def collect(job):
        count[0] += 1
        if count[0] in calls:
            raise exc("job failed on the device (injected)")
        return original(job)

    runner.collect = collect


@pytest.mark.parametrize("exc", [RuntimeJobFailureError, RuntimeInvalidStateError, RuntimeJobMaxTimeoutError],
                         ids=["failed", "cancelled", "max-time"])
def test_failed_job_is_recorded_and_resubmitted_next_run(exc, tmp_path, expected):
    store = tmp_path / "store"
    ibm = driver.backend(store)
    failing_collect(ibm, {3}, exc)
    with pytest.raises(JobFailedError, match=r"failed on 'fake_manila'.*recorded in the store.*resubmits it"):
        driver.reservoir(ibm).transform(driver.inputs())
    failed = [r for r in ibm.ledger.records() if r["status"] == "failed"]
    assert len(failed) == 1 and exc.__name__ in failed[0]["error"]
    spent_before = ibm.qpu_seconds_spent
    del ibm
    gc.collect()
    ibm = driver.backend(store)
    feats = driver.reservoir(ibm).transform(driver.inputs())
    np.testing.assert_array_equal(feats, expected)
    assert [c["how"] for c in ibm.calls][:3] == ["replayed", "replayed", "resubmitted"]
    # the resubmission is paid again and counted: 2T calls, one of them twice
    submitting = [r for r in ibm.ledger.records() if r["status"] == "submitting"]
    assert len(submitting) == 2 * driver.T + 1 and spent_before == pytest.approx(
        sum(r["qpu_seconds"] for r in submitting[:3]))
    assert ibm.qpu_seconds_spent == pytest.approx(sum(r["qpu_seconds"] for r in submitting))


def test_failed_job_policy_and_limit(tmp_path):
    store = tmp_path / "store"
    x = driver.inputs()
    ibm = IBMBackend("fake_manila", shots=100, seed=1, store=store, resubmit_failed=False)
    failing_collect(ibm, {1}, RuntimeJobFailureError)
    with pytest.raises(JobFailedError, match="will not be resubmitted"):
        QRNN(1, 2, seed=0, backend=ibm).transform(x)
    with pytest.raises(JobFailedError, match="resubmit_failed=False: pass resubmit_failed=True"):
        QRNN(1, 2, seed=0, backend=ibm).transform(x)
    del ibm
    gc.collect()
    ibm = IBMBackend("fake_manila", shots=100, seed=1, store=store, max_resubmits=1)
    failing_collect(ibm, {1, 2, 3}, RuntimeJobFailureError)
    with pytest.raises(JobFailedError, match="0 resubmission"):
        QRNN(1, 2, seed=0, backend=ibm).transform(x)  # the one resubmission fails too
    with pytest.raises(JobFailedError, match=r"failed 2 times.*max_resubmits=1"):
        QRNN(1, 2, seed=0, backend=ibm).transform(x)
    submitting = [r for r in ibm.ledger.records() if r["status"] == "submitting"]
    assert [r["attempt"] for r in submitting] == [1, 2]  # two paid attempts, both counted
    assert ibm.qpu_seconds_spent == pytest.approx(sum(r["qpu_seconds"] for r in submitting))


def test_lost_submit_response_is_found_by_tag_not_paid_twice(tmp_path, expected):
    ibm = driver.backend(tmp_path / "store")
    runner, accepted = ibm._runner_for(), []
    original = runner.submit

    def submit(pubs, seed, tag):  # the service accepts the job, the response never arrives
        job = original(pubs, seed, tag)
        accepted.append(tag)
        if len(accepted) == 2:
            raise TimeoutError("read timed out")
        return job

    runner.submit = submit
    feats = driver.reservoir(ibm).transform(driver.inputs())
    np.testing.assert_array_equal(feats, expected)
    assert len(accepted) == len(set(accepted)) == 2 * driver.T
    assert [c["how"] for c in ibm.calls][1] == "found"


@pytest.mark.parametrize("damage", ["deleted", "truncated", "swapped"])
def test_damaged_result_files_are_recovered_not_used(damage, tmp_path, expected):
    store = tmp_path / "store"
    ibm = driver.backend(store)
    driver.reservoir(ibm).transform(driver.inputs())
    keys = [c["key"] for c in ibm.calls]
    del ibm
    gc.collect()
    a, b = store / f"{keys[2]}.npz", store / f"{keys[4]}.npz"
    if damage == "deleted":
        a.unlink()
    elif damage == "truncated":
        a.write_bytes(a.read_bytes()[:100])
    else:
        tmp = a.read_bytes()
        a.write_bytes(b.read_bytes())
        b.write_bytes(tmp)
    ibm = driver.backend(store)
    submits = []
    runner = ibm._runner_for()
    original = runner.submit
    runner.submit = lambda *args: submits.append(args) or original(*args)
    with pytest.warns(RuntimeWarning, match="fetching job"):
        feats = driver.reservoir(ibm).transform(driver.inputs())
    np.testing.assert_array_equal(feats, expected)
    assert submits == []
    recovered = {c["key"] for c in ibm.calls if c["how"] == "recovered"}
    assert recovered == ({keys[2]} if damage != "swapped" else {keys[2], keys[4]})
    del ibm
    gc.collect()
    ibm = driver.backend(store)  # the recovered files were rewritten
    np.testing.assert_array_equal(driver.reservoir(ibm).transform(driver.inputs()), expected)
    assert {c["how"] for c in ibm.calls} == {"replayed"}


def test_torn_ledger_line_loses_nothing(tmp_path, expected):
    store = tmp_path / "store"
    ibm = driver.backend(store)
    failing_collect(ibm, {3}, KeyboardInterrupt)  # stopped while waiting for call 3
    with pytest.raises(KeyboardInterrupt):
        driver.reservoir(ibm).transform(driver.inputs())
    del ibm
    gc.collect()
    with open(store / "ledger.jsonl", "ab") as fh:  # a crash in the middle of the next record
        fh.write(b'{"key": "abc", "status": "subm')
    ibm = driver.backend(store)
    assert (store / "ledger.jsonl.torn").read_bytes() == b'{"key": "abc", "status": "subm\n'
    submits = []
    runner = ibm._runner_for()
    original = runner.submit
    runner.submit = lambda *args: submits.append(args) or original(*args)
    np.testing.assert_array_equal(driver.reservoir(ibm).transform(driver.inputs()), expected)
    assert [c["how"] for c in ibm.calls][:3] == ["replayed", "replayed", "fetched"]
    assert len(submits) == 2 * driver.T - 3
    del ibm
    gc.collect()
    ibm = driver.backend(store)  # every record after the torn line is readable
    assert all(r["status"] in ("submitting", "submitted", "done") for r in ibm.ledger.records())
    driver.reservoir(ibm).transform(driver.inputs())
    assert {c["how"] for c in ibm.calls} == {"replayed"}


@pytest.mark.parametrize("tamper, match", [
    (lambda s: (s / "header.json").write_text("[]"), r"header\.json.* must be a JSON object"),
    (lambda s: (s / "header.json").write_text('{"config": {}}'), r"header\.json.* has no valid 'groups'"),
    (lambda s: (s / "header.json").write_text("{not json"), r"header\.json.* is not valid JSON"),
    (lambda s: (s / "header.json").unlink(), r"header\.json is missing but ledger\.jsonl holds records"),
    (lambda s: open(s / "ledger.jsonl", "a").write("[1, 2]\n"), r"ledger\.jsonl', line 7 is not a ledger record"),
    (lambda s: open(s / "ledger.jsonl", "a").write('{"key": "k", "status": "submitted"}\n'),
     r"line 7: a 'submitted' record needs 'job_id'"),
    (lambda s: open(s / "ledger.jsonl", "a").write(
        '{"key": "k", "status": "submitting", "attempt": 1, "qpu_seconds": NaN}\n'), r"line 7 is not a ledger record"),
    (lambda s: open(s / "ledger.jsonl", "a").write(
        '{"key": "k", "status": "submitting", "attempt": 1, "qpu_seconds": -3}\n'), "qpu_seconds must be a finite"),
    (lambda s: open(s / "ledger.jsonl", "a").write('{"key": "k", "status": "submitted", "job_id": "j"}\n'),
     r"line 7: a 'submitted' record needs 'sim_seed'"),
    (lambda s: open(s / "ledger.jsonl", "a").write(
        '{"key": "k", "status": "done", "job_id": "j", "sim_seed": "x"}\n'), r"line 7: a 'done' record needs 'sim_seed'"),
    (lambda s: (s / "header.json").write_text(json.dumps(
        {**json.loads((s / "header.json").read_text()), "calibrations": [1]})), "'calibrations' must be a list of"),
])
def test_tampered_stores_are_a_clear_error(tamper, match, tmp_path):
    store = tmp_path / "store"
    ibm = IBMBackend("fake_manila", shots=100, seed=0, store=store)
    QRNN(1, 2, seed=0, backend=ibm).transform(np.ones((2, 2, 1)))  # 2 calls: 8 records
    del ibm
    gc.collect()
    tamper(store)
    with pytest.raises(ValueError, match=match):
        IBMBackend("fake_manila", shots=100, seed=0, store=store)


def test_a_damaged_fake_service_record_is_a_clear_error(tmp_path):
    store = tmp_path / "store"
    proc, _ = run_driver(store, "after-submit", call=2)
    assert proc.returncode == -9
    for f in (store / "fake-service-jobs").glob("*.json"):
        f.write_text("{}")
    gc.collect()
    ibm = driver.backend(store)
    with pytest.raises(ValueError, match="job record .* is damaged"):
        driver.reservoir(ibm).transform(driver.inputs())


def test_used_ibm_reservoir_pickles_and_copies(tmp_path, rng):
    x = rng.normal(size=(3, 2, 1))
    res = QLSTM(1, 3, seed=0, backend=IBMBackend("fake_manila", noise=False, seed=1, store=tmp_path / "s"))
    feats = res.transform(x)
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(back.transform(x), feats)
    assert {c["how"] for c in back.backend.calls} == {"replayed"}  # the same store, shared in this process
    np.testing.assert_array_equal(copy.deepcopy(res).transform(x), feats)


def test_provenance_calibration_and_version(tmp_path):
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    ibm = IBMBackend("fake_manila", shots=100, seed=0, store=tmp_path)
    QRNN(1, 2, seed=0, backend=ibm).transform(np.ones((2, 2, 1)))
    header = json.loads((tmp_path / "header.json").read_text())
    assert header["qrnn_version"] and header["format"] == 2
    [cal] = header["calibrations"]
    dev = FakeManilaV2()
    assert cal["timestamp"] == dev._load_json(dev.props_filename)["last_update_date"]
    snapshot = ibm.calibration(cal["id"])
    assert snapshot["errors"]["cx"] and snapshot["backend_version"] == dev.backend_version
    assert {c["calibration"] for c in ibm.calls} == {cal["id"]}
    assert {r.get("calibration") for r in ibm.ledger.records() if r["status"] == "done"} == {cal["id"]}


def ensemble_exact_parts(ens, arrays):
    """The torch engine's values of each member's readout circuit, at the stored parameter values."""
    import torch

    from qrnn.backends import TorchBackend

    out = []
    for i, member in enumerate(ens.members):
        x = np.tan(arrays[f"values_{i}"][:, 0, 0::2])
        run = TorchBackend().compile(member._readout_vqc, member.weights[0:1])
        out.append(run(torch.as_tensor(x)).numpy())
    return out


@pytest.mark.parametrize("point", ["after-submit", "after-collect"])
def test_recommended_ensemble_killed_and_resumed(point, tmp_path, monkeypatch):
    """A real SIGKILL in the middle of the recommended ensemble's run: one call per step, nothing paid twice."""
    monkeypatch.setenv("QRNN_FAULT_MODEL", "ensemble")
    expected = driver.reservoir(driver.backend(None)).transform(driver.inputs())
    store, log = tmp_path / "store", tmp_path / "submissions.log"
    proc, _ = run_driver(store, point, call=2, log=log)
    assert proc.returncode == -9, proc.stderr[-2000:]
    ibm, feats = resume_in_process(store, log)
    np.testing.assert_array_equal(feats, expected)
    tags = submitted_tags(log)
    assert len(tags) == len(set(tags)) == driver.T  # T calls for T steps, for all 5 members
    assert len(ibm.calls) == driver.T and all(len(c["round"]) == 5 for c in ibm.calls)


def test_recommended_ensemble_on_a_fake_device_with_a_store(tmp_path, rng):
    x = rng.normal(size=(4, 3, 1))
    store = tmp_path / "store"
    ibm = IBMBackend("fake_manila", precision=0.02, noise=False, seed=3, store=store)
    ens = recommended_reservoir("QRNN", 1, seed=0, backend=ibm)
    cost = ibm.check_budget(ens, x)
    assert cost["calls"] == cost["new_calls"] == 3  # T calls for T steps, whatever the number of members
    assert cost["pubs"] == 3 * len(ens.members)
    failing_collect(ibm, {2}, KeyboardInterrupt)  # killed waiting for step 2
    with pytest.raises(KeyboardInterrupt):
        ens.transform(x)
    del ibm, ens
    gc.collect()
    ibm = IBMBackend("fake_manila", precision=0.02, noise=False, seed=3, store=store)
    ens = recommended_reservoir("QRNN", 1, seed=0, backend=ibm)
    submits = []
    runner = ibm._runner_for()
    original = runner.submit
    runner.submit = lambda *args: submits.append(args) or original(*args)
    feats = ens.transform(x)
    assert [c["how"] for c in ibm.calls] == ["replayed", "fetched", "submitted"] and len(submits) == 1
    assert all(len(c["round"]) == len(ens.members) for c in ibm.calls)
    exact = recommended_reservoir("QRNN", 1, seed=0).transform(x)
    assert feats.shape == exact.shape
    worst = 0.0
    for call in ibm.calls:  # every member's every value within shot noise of the exact engine
        arrays = ibm.ledger.arrays(call["key"])
        for i, ref in enumerate(ensemble_exact_parts(ens, arrays)):
            worst = max(worst, float(np.max(np.abs(arrays[f"evs_{i}"] - ref) / arrays[f"stds_{i}"])))
    assert worst < 5
    # a rerun of the whole ensemble pays nothing, so a ceiling at the spend does not refuse it
    tight = IBMBackend("fake_manila", precision=0.02, noise=False, seed=3, store=store,
                       max_qpu_seconds=ibm.qpu_seconds_spent)
    assert tight.check_budget(ens, x)["new_calls"] == 0
