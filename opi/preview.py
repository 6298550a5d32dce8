"""HTML preview of a Phoebus .bob screen with live values, for screenshots where
Phoebus itself is not available (docs/images/*.png).

    python3 opi/preview.py OPI_DIR FILE OUT.html [MACRO=VALUE ...]
    chromium --headless --screenshot=OUT.png --window-size=W,H file://OUT.html

It prints W,H. Values come from `caget` (PATH and EPICS_CA_* as for any CA
client). Not Phoebus: the widgets these screens use are placed at their
coordinates with Phoebus' default colours; rules are evaluated only in the
`pvInt0 == N` form the STATUS colours use."""
import html, re, subprocess, sys
import xml.etree.ElementTree as ET
from pathlib import Path

MACRO = re.compile(r"\$\((\w+)\)")
SEV = {"MINOR": "#ff8000", "MAJOR": "#ff0000", "INVALID": "#ff00ff"}


def expand(t, m):
    for _ in range(5):
        n = MACRO.sub(lambda g: m.get(g.group(1), g.group(0)), t)
        if n == t:
            return n
        t = n
    return t


def macros_of(el, base):
    out = dict(base)
    ms = el.find("macros")
    if ms is not None:
        for c in ms:
            out[c.tag] = expand(c.text or "", base)
    return out


def caget(args, pvs):
    out = {}
    for i in range(0, len(pvs), 40):
        r = subprocess.run(["caget", "-F", "|", *args, *pvs[i:i + 40]], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            parts = line.split("|")
            out[parts[0]] = parts[1:]
    return out


def color(el, tag, default):
    c = el.find(f"{tag}/color")
    if c is None:
        return default
    return f"rgb({c.get('red')},{c.get('green')},{c.get('blue')})"


def font(el):
    f = el.find("font/font")
    if f is None:
        return "font: 14px 'Liberation Sans'"
    style = f.get("style")
    return (f"font: {'italic ' if style == 'ITALIC' else ''}{'bold ' if style == 'BOLD' else ''}"
            f"{float(f.get('size')):.0f}px '{f.get('family')}'")


class Renderer:
    def __init__(self, opi):
        self.opi, self.pvs, self.items = Path(opi), set(), []

    def collect(self, file, macros, ox=0, oy=0):
        root = ET.parse(self.opi / file).getroot()
        m = macros_of(root, {})
        m.update(macros)
        for w in root.findall("widget"):
            x, y = ox + int(w.findtext("x", "0")), oy + int(w.findtext("y", "0"))
            wd, ht = int(w.findtext("width", "100")), int(w.findtext("height", "20"))
            t = w.get("type")
            if t == "embedded":
                self.collect(w.findtext("file"), macros_of(w, m), x, y)
                continue
            pv = expand(w.findtext("pv_name") or "", m)
            if pv and t != "action_button":
                self.pvs.add(pv)
            self.items.append((t, w, x, y, wd, ht, m, pv))
        return root

    def render(self, file, macros, out):
        root = self.collect(file, macros)
        pvs = sorted(self.pvs)
        text = caget(["-S"], pvs)
        recs = sorted({p.split(".")[0] for p in pvs})
        alarm = caget(["-a", "-n"], recs)
        W, H = int(root.findtext("width")), int(root.findtext("height"))
        body = []
        for t, w, x, y, wd, ht, m, pv in self.items:
            st = f"position:absolute;left:{x}px;top:{y}px;width:{wd}px;height:{ht}px;box-sizing:border-box;{font(w)};overflow:hidden;"
            align = {"0": "flex-start", "1": "center", "2": "flex-end"}[w.findtext("horizontal_alignment", "0")]
            valign = {"0": "flex-start", "1": "center", "2": "flex-end"}[w.findtext("vertical_alignment", "0" if t != "textupdate" else "1")]
            rec = pv.split(".")[0]
            a = alarm.get(rec, [])
            sev = a[3] if len(a) > 3 else ""
            border = f"border:2px solid {SEV[sev]};" if sev in SEV else ""
            if t == "label":
                bg = "" if w.findtext("transparent", "true") == "true" else f"background:{color(w, 'background_color', 'transparent')};"
                body.append(f'<div style="{st}{bg}color:{color(w, "foreground_color", "black")};display:flex;align-items:{valign};justify-content:{align};white-space:pre">{html.escape(expand(w.findtext("text", ""), m))}</div>')
            elif t == "rectangle":
                body.append(f'<div style="{st}background:{color(w, "background_color", "#1e90ff")}"></div>')
            elif t in ("textupdate", "textentry"):
                vals = text.get(pv, ["?"])
                # string arrays come as count|a|b|...; caget escapes newlines in char arrays
                v = ", ".join(x for x in vals[1:] if x) if len(vals) > 2 else (vals[0] if vals else "")
                v = v.encode().decode("unicode_escape", errors="replace") if "\\" in v else v
                bg = color(w, "background_color", "rgb(240,240,240)" if t == "textupdate" else "rgb(128,255,255)")
                rule = w.find("rules/rule")
                if rule is not None and len(a) > 1:
                    n = a[1]
                    for exp in rule.findall("exp"):
                        cond = exp.get("bool_exp").replace("pvInt0", n).replace("||", " or ")
                        if eval(cond):
                            c = exp.find("value/color")
                            bg = f"rgb({c.get('red')},{c.get('green')},{c.get('blue')})"
                            break
                wrap = "pre-wrap" if w.findtext("wrap_words") == "true" else "pre"
                body.append(f'<div style="{st}background:{bg};{border}padding:0 3px;display:flex;align-items:{valign};justify-content:{align};white-space:{wrap};word-break:break-all">{html.escape(v)}</div>')
            elif t == "led":
                on = a[1] not in ("0", "") if len(a) > 1 else False
                c = "rgb(0,255,0)" if on else "rgb(60,100,60)"
                body.append(f'<div style="{st}border-radius:50%;background:{c};border:{"2px solid " + SEV[sev] if sev in SEV else "1px solid #555"}"></div>')
            elif t == "action_button":
                body.append(f'<div style="{st}background:rgb(210,210,210);border:1px solid #999;border-radius:3px;display:flex;align-items:center;justify-content:center">{html.escape(expand(w.findtext("text", ""), m))}</div>')
        Path(out).write_text(f'<!doctype html><html><body style="margin:0;background:white"><div style="position:relative;width:{W}px;height:{H}px">{"".join(body)}</div></body></html>')
        return W, H


if __name__ == "__main__":
    opi, file, out = sys.argv[1:4]
    macros = dict(kv.split("=", 1) for kv in sys.argv[4:])
    w, h = Renderer(opi).render(file, macros, out)
    print(f"{w},{h}")
