"""What tracks a recorded MP4 holds and how long each is, read from its boxes with nothing but the
standard library: an oracle independent of nvr/mp4probe.c and of GStreamer. Works on a cleanly
closed segment and on one cut off by a crash (only whole fragments count), and decodes the audio
track with GStreamer to check what it sounds like.

tracks(path) -> {track_id: {"handler": "vide"|"soun"|..., "format": "avc1"|"mp4a"|...,
                            "timescale": N, "samples": N, "duration_s": float,
                            "start_s": float or None, "edit_s": float or None,
                            "max_sample_s": float}}
start_s is where the track's first fragment starts on the file's timeline (its first tfdt, the
base media decode time a player places it at), edit_s the media time of its first edit (elst) if
the track has an edit list; a player shifts the track by -edit_s. max_sample_s is the longest
sample: a hole in a track's timestamps shows as one sample stretched over it (the muxer gives
each sample the time to the next), which its total duration alone does not show."""

import os
import statistics
import struct
import subprocess
import tempfile
import wave

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts"}


def _boxes(data, start, end):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return   # cut off: a crash left it unfinished
        yield kind, pos + header, pos + size
        pos += size


def tracks(path):
    with open(path, "rb") as f:
        data = f.read()
    out = {}
    trex = {}

    def walk_trak(start, end):
        t = {"handler": "", "format": "", "timescale": 0, "samples": 0, "ticks": 0,
             "tfdt": None, "elst": None, "max_ticks": 0}
        tid = None
        stack = [(start, end)]
        while stack:
            s, e = stack.pop()
            for kind, bs, be in _boxes(data, s, e):
                if kind in CONTAINERS:
                    stack.append((bs, be))
                elif kind == b"tkhd":
                    v = data[bs]
                    tid = struct.unpack_from(">I", data, bs + (20 if v == 1 else 12))[0]
                elif kind == b"mdhd":
                    v = data[bs]
                    t["timescale"] = struct.unpack_from(">I", data, bs + (20 if v == 1 else 12))[0]
                elif kind == b"elst" and t["elst"] is None:
                    v = data[bs]
                    if struct.unpack_from(">I", data, bs + 4)[0] > 0:
                        if v == 1:
                            t["elst"] = struct.unpack_from(">q", data, bs + 16)[0]
                        else:
                            t["elst"] = struct.unpack_from(">i", data, bs + 12)[0]
                elif kind == b"hdlr":
                    t["handler"] = data[bs + 8:bs + 12].decode("latin-1")
                elif kind == b"stsd":
                    t["format"] = data[bs + 12:bs + 16].decode("latin-1")
                elif kind == b"stts":
                    n = struct.unpack_from(">I", data, bs + 4)[0]
                    for i in range(n):
                        count, delta = struct.unpack_from(">II", data, bs + 8 + 8 * i)
                        t["samples"] += count
                        t["ticks"] += count * delta
                        if count:
                            t["max_ticks"] = max(t["max_ticks"], delta)
        if tid is not None:
            out[tid] = t

    def walk_moof(start, end, moof_end):
        for kind, bs, be in _boxes(data, start, end):
            if kind != b"traf":
                continue
            tid = None
            def_dur = 0
            for k2, s2, e2 in _boxes(data, bs, be):
                if k2 == b"tfhd":
                    flags = struct.unpack_from(">I", data, s2)[0] & 0xFFFFFF
                    tid = struct.unpack_from(">I", data, s2 + 4)[0]
                    def_dur = trex.get(tid, 0)
                    off = s2 + 8
                    if flags & 0x1:
                        off += 8
                    if flags & 0x2:
                        off += 4
                    if flags & 0x8:
                        def_dur = struct.unpack_from(">I", data, off)[0]
                elif k2 == b"tfdt" and tid in out and out[tid]["tfdt"] is None:
                    v = data[s2]
                    out[tid]["tfdt"] = struct.unpack_from(">Q" if v == 1 else ">I", data, s2 + 4)[0]
                elif k2 == b"trun" and tid in out:
                    flags = struct.unpack_from(">I", data, s2)[0] & 0xFFFFFF
                    count = struct.unpack_from(">I", data, s2 + 4)[0]
                    off = s2 + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
                    per = 4 * sum(1 for b in (0x100, 0x200, 0x400, 0x800) if flags & b)
                    for i in range(count):
                        d = struct.unpack_from(">I", data, off + per * i)[0] if flags & 0x100 \
                            else def_dur
                        out[tid]["ticks"] += d
                        out[tid]["max_ticks"] = max(out[tid]["max_ticks"], d)
                    out[tid]["samples"] += count

    top = list(_boxes(data, 0, len(data)))
    for i, (kind, bs, be) in enumerate(top):
        if kind == b"moov":
            for k2, s2, e2 in _boxes(data, bs, be):
                if k2 == b"trak":
                    walk_trak(s2, e2)
                elif k2 == b"mvex":
                    for k3, s3, e3 in _boxes(data, s2, e2):
                        if k3 == b"trex":
                            tid, _, dur = struct.unpack_from(">III", data, s3 + 4)
                            trex[tid] = dur
        elif kind == b"moof":
            # only a fragment whose mdat follows whole counts (what a player can use)
            if i + 1 < len(top) and top[i + 1][0] == b"mdat":
                walk_moof(bs, be, be)
    for t in out.values():
        ts = t["timescale"] or 1
        t["duration_s"] = t["ticks"] / t["timescale"] if t["timescale"] else 0.0
        t["start_s"] = None if t["tfdt"] is None else t["tfdt"] / ts
        t["edit_s"] = None if t["elst"] is None else t["elst"] / ts
        t["max_sample_s"] = t["max_ticks"] / ts
        del t["ticks"], t["tfdt"], t["elst"], t["max_ticks"]
    return out


def runs(path, track_id, timescale):
    """Each fragment's run of track @track_id in file order, as (start_s, end_s): its tfdt and
    that plus its samples' durations (trun, else tfhd default, else trex default)."""
    with open(path, "rb") as f:
        data = f.read()
    trex, out = {}, []
    top = list(_boxes(data, 0, len(data)))
    for i, (kind, bs, be) in enumerate(top):
        if kind == b"moov":
            for k2, s2, e2 in _boxes(data, bs, be):
                if k2 == b"mvex":
                    for k3, s3, e3 in _boxes(data, s2, e2):
                        if k3 == b"trex":
                            tid, _, dur = struct.unpack_from(">III", data, s3 + 4)
                            trex[tid] = dur
        elif kind == b"moof" and i + 1 < len(top) and top[i + 1][0] == b"mdat":
            for k2, s2, e2 in _boxes(data, bs, be):
                if k2 != b"traf":
                    continue
                tid, def_dur, tfdt, ticks = None, 0, None, 0
                for k3, s3, e3 in _boxes(data, s2, e2):
                    if k3 == b"tfhd":
                        flags = struct.unpack_from(">I", data, s3)[0] & 0xFFFFFF
                        tid = struct.unpack_from(">I", data, s3 + 4)[0]
                        def_dur = trex.get(tid, 0)
                        off = s3 + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
                        if flags & 0x8:
                            def_dur = struct.unpack_from(">I", data, off)[0]
                    elif k3 == b"tfdt":
                        tfdt = struct.unpack_from(">Q" if data[s3] == 1 else ">I", data, s3 + 4)[0]
                    elif k3 == b"trun" and tid == track_id:
                        flags = struct.unpack_from(">I", data, s3)[0] & 0xFFFFFF
                        count = struct.unpack_from(">I", data, s3 + 4)[0]
                        off = s3 + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
                        per = 4 * sum(1 for b in (0x100, 0x200, 0x400, 0x800) if flags & b)
                        for j in range(count):
                            ticks += struct.unpack_from(">I", data, off + per * j)[0] \
                                if flags & 0x100 else def_dur
                if tid == track_id and tfdt is not None:
                    out.append((tfdt / timescale, (tfdt + ticks) / timescale))
    return out


def by_handler(info, handler):
    return [t for t in info.values() if t["handler"] == handler]


def audio_tone_hz(path, skip_s=0.5, seconds=1.0):
    """Decodes the first audio track (qtdemux ! avdec_aac) and returns its dominant frequency,
    or None when it does not decode. The frequency is the median over 100 ms windows (from
    @skip_s, up to @seconds of them) of each window's zero crossings: a camera's audio may jump
    (a late RTP sender skips ahead) and the decoder's transient at the jump fills one window
    with crossings; the median reports the tone, not the jump."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        wav = os.path.join(d, "a.wav")
        r = subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!",
                            "qtdemux", "name=d", "d.audio_0", "!", "queue", "!", "aacparse", "!",
                            "avdec_aac", "!", "audioconvert", "!", "audio/x-raw,format=S16LE,channels=1",
                            "!", "wavenc", "!", "filesink", f"location={wav}"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or not os.path.exists(wav):
            return None
        w = wave.open(wav)
        rate = w.getframerate()
        n = w.getnframes()
        first = int(skip_s * rate)
        count = min(int(seconds * rate), n - first)
        if count < rate // 4:
            return None
        w.setpos(first)
        s = struct.unpack(f"<{count}h", w.readframes(count))
        win = rate // 10
        rates = []
        for i in range(0, count - win + 1, win):
            part = s[i:i + win]
            crossings = sum(1 for a, b in zip(part, part[1:]) if (a < 0) != (b < 0))
            rates.append(crossings / 2 / (win / rate))
        return statistics.median(rates)
