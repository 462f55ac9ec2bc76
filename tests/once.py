"""One expensive run per pytest session, shared by xdist's workers
(pytest-xdist's recipe): the first worker to ask runs it and writes its
JSON-able result beside the session's temporary directories; the others
wait on a lock for that file.  The Linux boots of tests/test_linux.py and
tests/test_linux_arm64.py use it."""

import fcntl
import json


def once_per_session(tmp_path_factory, worker_id, name, run):
    """run()'s result, computed once for the whole session under `name`."""
    if worker_id == "master":
        return run()
    shared = tmp_path_factory.getbasetemp().parent / ("%s.json" % name)
    with open(str(shared) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shared.exists():
            shared.write_text(json.dumps(run()))
        return json.loads(shared.read_text())
