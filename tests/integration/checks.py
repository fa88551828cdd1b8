"""Checks shared by the robustness tests (worker kill, reconnect storm, fault isolation): what a
user would notice about the recordings once the daemon has stopped.

Camera i of fakecam (started with the default --first-code 1) shows ID code i, and the tests name
it cam<i>, so a segment's expected code comes from its camera's name."""

import os
from concurrent.futures import ThreadPoolExecutor

from harness import check, idread, log
from mp4tracks import by_handler, tracks


def code_of(camera_name):
    return int(camera_name.removeprefix("cam"))


def catalog_matches_disk(h):
    """Every row is complete, has its file, and every file has its row. Returns the rows."""
    rows = h.segments()
    disk = h.files_on_disk()
    paths = {r["path"] for r in rows}
    check(all(r["state"] == "complete" for r in rows),
          f"rows still 'recording': {[r['path'] for r in rows if r['state'] != 'complete']}")
    check(paths == disk, f"catalog and disk disagree: rows-only {sorted(paths - disk)}, "
                         f"files-only {sorted(disk - paths)}")
    ids = [r["id"] for r in rows]
    check(len(ids) == len(set(ids)), "duplicate segment ids")
    for r in rows:
        size = os.path.getsize(os.path.join(h.root, r["path"]))
        check(r["bytes"] == size, f"{r['path']}: catalog says {r['bytes']} bytes, disk {size}")
    return rows


def every_file_shows_its_own_camera(h, rows, min_readable=1.0, duration_slack_s=1.0):
    """Decodes every frame of every segment (two idread processes at a time) and checks that it
    plays, that every video sample the file holds decodes (decoded frames = samples, counted from
    the file's boxes by mp4tracks), that at least @min_readable of the frames (all of them by
    default: issue 13's "every frame of every file decodes") show their camera's code and no
    other, and that it lasts what the catalog says.
    Returns (files checked, frames decoded, foreign frames found)."""
    def one(r):
        path = os.path.join(h.root, r["path"])
        video = by_handler(tracks(path), "vide")
        return r, idread(path), video[0]["samples"] if video else 0

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, rows))
    frames = foreign = samples_total = unreadable = 0
    problems = []
    for r, info, samples in results:
        own = code_of(r["camera"])
        codes = {int(k): v for k, v in info["codes"].items()}
        frames += info["frames"]
        samples_total += samples
        unreadable += info["unreadable"]
        foreign += sum(v for k, v in codes.items() if k != own)
        if info["frames"] == 0:
            problems.append(f"{r['path']} does not play")
        elif set(codes) != {own}:
            problems.append(f"{r['path']} ({r['camera']}) shows codes {codes}")
        elif info["frames"] != samples:
            problems.append(f"{r['path']}: {info['frames']} of its {samples} video samples decode")
        elif codes[own] < min_readable * info["frames"]:
            problems.append(f"{r['path']}: only {codes[own]} of {info['frames']} frames readable")
        elif abs(info["duration_s"] - r["duration_us"] / 1e6) > duration_slack_s:
            problems.append(f"{r['path']}: decoded {info['duration_s']:.2f} s, catalog "
                            f"{r['duration_us'] / 1e6:.2f} s")
    log(f"idread: {len(results)} files, {frames} of {samples_total} video samples decoded, "
        f"{unreadable} unreadable, {foreign} foreign frames")
    check(not problems, "; ".join(problems[:10]))
    return len(results), frames, foreign


def gaps(segs):
    """[(gap_s, segment before, segment after)] between consecutive segments of one camera,
    ordered by start. A negative gap is an overlap."""
    segs = sorted(segs, key=lambda s: s["start_us"])
    return [((b["start_us"] - a["end_us"]) / 1e6, a, b) for a, b in zip(segs, segs[1:])]


def no_gap(name, segs, slack_s=1.0, max_gap_s=0.5):
    """The camera recorded continuously: durations sum to the span within @slack_s and no two
    consecutive segments are more than @max_gap_s apart."""
    check(len(segs) >= 1, f"{name}: no segments")
    segs = sorted(segs, key=lambda s: s["start_us"])
    total_s = sum(s["duration_us"] for s in segs) / 1e6
    span_s = (segs[-1]["end_us"] - segs[0]["start_us"]) / 1e6
    worst = max((g for g, _, _ in gaps(segs)), default=0.0)
    log(f"{name}: {len(segs)} segments, durations {total_s:.2f} s over a span of {span_s:.2f} s, "
        f"largest gap {worst:.2f} s")
    check(abs(total_s - span_s) <= slack_s,
          f"{name}: durations {total_s:.2f} s vs span {span_s:.2f} s (gap or overlap)")
    check(worst <= max_gap_s, f"{name}: a gap of {worst:.2f} s between segments")
    return total_s, span_s
