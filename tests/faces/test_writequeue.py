"""The writer threads of extract: every job runs, the first failure reaches the caller."""
import threading

import pytest

from faceplate.errors import OutputError
from faceplate.faces.writequeue import WriteQueue


@pytest.mark.parametrize("threads", [0, 2])
def test_every_job_runs_and_the_queue_stays_bounded(threads):
    done, lock = [], threading.Lock()

    def job(i):
        with lock:
            done.append(i)

    with WriteQueue(threads=threads, pending=2) as q:
        for i in range(20):
            q.submit(job, i)
            assert len(q._inflight) <= 2
    assert sorted(done) == list(range(20))


@pytest.mark.parametrize("threads", [0, 2])
def test_a_failed_write_is_raised_in_the_caller(threads):
    def job(i):
        if i == 3:
            raise OutputError(f"output {i}: disk full")

    with pytest.raises(OutputError, match="output 3: disk full"):
        with WriteQueue(threads=threads, pending=2) as q:
            for i in range(10):
                q.submit(job, i)
