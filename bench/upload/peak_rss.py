#!/usr/bin/env python3
"""Peak resident memory of one process while a command runs.

Two measures, both from /proc/PID/status:
  - VmHWM, the kernel's own high-water mark, reset before the command by writing 5 to
    /proc/PID/clear_refs (so it is the peak during this command, not since the process started);
  - the largest VmRSS seen by sampling every INTERVAL seconds (a check on the first, and the only
    measure if the reset is not permitted).
Idle is VmRSS just before the command.

  peak_rss.py PID JSON_OUT [--interval 0.02] -- command args...

The command's output passes through; JSON_OUT gets {"idle_kib", "hwm_kib", "sampled_peak_kib",
"hwm_reset", "rc"}.
"""
import json
import subprocess
import sys
import threading
import time


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def main():
    args = sys.argv[1:]
    if "--" not in args or not args:
        sys.exit(__doc__)
    split = args.index("--")
    opts, cmd = args[:split], args[split + 1:]
    pid, json_out = int(opts[0]), opts[1]
    interval = 0.02
    if "--interval" in opts:
        interval = float(opts[opts.index("--interval") + 1])

    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    idle = status(pid, "VmRSS")
    peak = [idle]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], status(pid, "VmRSS"))
            except (OSError, KeyError):
                return
            time.sleep(interval)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    rc = subprocess.call(cmd)
    done.set()
    t.join()
    hwm = status(pid, "VmHWM")
    with open(json_out, "w") as f:
        json.dump({"idle_kib": idle, "hwm_kib": hwm, "sampled_peak_kib": peak[0],
                   "hwm_reset": reset, "rc": rc}, f)
    sys.exit(rc)


if __name__ == "__main__":
    main()
