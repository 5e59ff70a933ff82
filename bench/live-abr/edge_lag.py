"""How far each rendition's live edge (newest part, by program date time) is behind the
source's, sampled ten times from the master playlist's variants, source first."""
import datetime
import sys
import time
import urllib.request

base, master = sys.argv[1], sys.argv[2]
text = urllib.request.urlopen(base + master).read().decode()
uris = [line for line in text.splitlines() if line and not line.startswith("#")]


def edge(playlist):
    pdt, parts = None, 0.0
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            value = line.split(":", 1)[1].replace("Z", "+00:00")
            pdt, parts = datetime.datetime.fromisoformat(value).timestamp(), 0.0
        elif line.startswith("#EXT-X-PART:DURATION="):
            parts += float(line.split("=")[1].split(",")[0])
    return pdt + parts


samples = []
for _ in range(10):
    edges = [edge(urllib.request.urlopen(base + u).read().decode()) for u in uris]
    samples.append([round(edges[0] - e, 3) for e in edges[1:]])
    time.sleep(0.5)
print("renditions' live edge behind the source's, seconds, per sample:", samples)
