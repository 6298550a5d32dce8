"""p4p (PyPI) as a command-line pvAccess client for the tests and the benchmark: an
independent client (pvxs underneath, its own EPICS libraries), run with the python of
tests/pva/venv.sh. The EPICS_PVA_* environment says where to search.

  p4pclient.py get PV...              one JSON line per PV
  p4pclient.py put PV VALUE           prints {"ok": true} or {"error": "..."}; exit 1 on error
  p4pclient.py monitor PV SECONDS     one JSON line per update, with "t" = time.time() on arrival

A JSON line: {"name", "id", "severity", "status", "message", "time"} plus, for an
NTTable, "labels" and "columns" ({field: [values]}), for an NTEnum "index" and
"choice", else "value"."""
import json
import sys
import time

from p4p.client.thread import Context


def plain(v):
    return v.tolist() if hasattr(v, "tolist") else v


def describe(name, v):
    out = {"name": name, "id": v.getID()}
    if "alarm" in v:
        out.update(severity=v["alarm.severity"], status=v["alarm.status"], message=v["alarm.message"])
    if "timeStamp" in v:
        out["time"] = v["timeStamp.secondsPastEpoch"] + v["timeStamp.nanoseconds"] * 1e-9
    if v.getID().startswith("epics:nt/NTTable:"):
        out["labels"] = plain(v["labels"])
        out["columns"] = {f: plain(v["value." + f]) for f in v["value"].keys()}
    elif v.getID().startswith("epics:nt/NTEnum:"):
        out["index"] = v["value.index"]
        out["choice"] = v["value.choices"][v["value.index"]]
    else:
        out["value"] = plain(v["value"])
    return out


def main(argv):
    ctxt = Context("pva", nt=False)
    try:
        if argv[0] == "get":
            for name, v in zip(argv[1:], ctxt.get(argv[1:], timeout=10.0)):
                print(json.dumps(describe(name, v)), flush=True)
        elif argv[0] == "put":
            try:
                # an NTEnum takes its index, anything else its value
                kind = ctxt.get(argv[1], timeout=10.0).getID()
                field = "value.index" if kind.startswith("epics:nt/NTEnum:") else "value"
                ctxt.put(argv[1], {field: argv[2]}, timeout=10.0)
            except Exception as e:  # noqa: BLE001 (the server's words are the result)
                print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
                return 1
            print(json.dumps({"ok": True}), flush=True)
        elif argv[0] == "monitor":
            def update(v):
                if isinstance(v, Exception):
                    print(json.dumps({"t": time.time(), "error": str(v)}), flush=True)
                else:
                    print(json.dumps({"t": time.time(), **describe(argv[1], v)}), flush=True)
            sub = ctxt.monitor(argv[1], update, notify_disconnect=True)
            time.sleep(float(argv[2]))
            sub.close()
        else:
            sys.exit(__doc__)
    finally:
        ctxt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
