"""pyepics (libca from its wheel) and caproto (pure Python, no libca) as command-line
Channel Access clients for the tests, run with the python of
tests/integration/ca-clients-venv.sh. EPICS_CA_* in the environment say where to search.

  caclients.py pyepics PV...    one JSON line per PV: {"name", "value", "severity"}
  caclients.py caproto PV...    the same through caproto's threading client

A PV that does not connect within 5 s gives {"name", "error"}."""
import json
import sys


def with_pyepics(names):
    import epics
    for name in names:
        pv = epics.PV(name, form="ctrl")
        if not pv.wait_for_connection(timeout=5.0):
            print(json.dumps({"name": name, "error": "not connected"}), flush=True)
            continue
        value = pv.get(as_string=True, timeout=5.0)
        print(json.dumps({"name": name, "value": value, "severity": pv.severity}), flush=True)


def with_caproto(names):
    from caproto import ChannelType
    from caproto.threading.client import Context
    ctx = Context()
    pvs = ctx.get_pvs(*names, timeout=5.0)
    for name, pv in zip(names, pvs):
        try:
            pv.wait_for_connection(timeout=5.0)
            r = pv.read(data_type=ChannelType.CTRL_ENUM if pv.channel.native_data_type == ChannelType.ENUM
                        else ChannelType.STS_STRING, timeout=5.0)
            value = r.data[0]
            if pv.channel.native_data_type == ChannelType.ENUM:
                value = r.metadata.enum_strings[value]
            if isinstance(value, bytes):
                value = value.decode()
            print(json.dumps({"name": name, "value": value, "severity": int(r.metadata.severity)}), flush=True)
        except Exception as e:      # a name that is not served: say so and go on
            print(json.dumps({"name": name, "error": f"{type(e).__name__}: {e}"}), flush=True)


if __name__ == "__main__":
    {"pyepics": with_pyepics, "caproto": with_caproto}[sys.argv[1]](sys.argv[2:])
