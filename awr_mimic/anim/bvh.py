"""BVH motion capture files: parsing, writing and forward kinematics.

A BVH file has two sections::

    HIERARCHY
    ROOT Hips
    {
      OFFSET 0 0 0
      CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
      JOINT LeftUpLeg
      {
        OFFSET 9 -2 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 -40 0
        }
      }
    }
    MOTION
    Frames: 2
    Frame Time: 0.033333
    0 90 0 0 0 0 0 0 0
    0 90 0 0 5 0 0 10 0

Conventions, as in Blender's importer and most tools:

* OFFSET places a joint in its parent's frame; the rest pose (every rotation
  zero) is the skeleton drawn by the offsets.
* A joint's rotation channels compose in the order listed, the first one
  outermost: ``Zrotation Xrotation Yrotation`` is R = Rz * Rx * Ry (intrinsic
  z-x'-y'', scipy's ``"ZXY"``). Angles are in degrees. Any order, any subset
  and 6-channel joints anywhere are accepted.
* Position channels *replace* the joint's OFFSET along their axis (the root's
  channels are its position in the world).
* Joint names may contain spaces (``JOINT Bip01 L Thigh``); they must be unique.
* The MOTION section has one line per frame with one number per channel, in
  hierarchy order.

Every problem with a file raises :class:`BVHError` (a :class:`ClipError`) with
one line that names the file and the line number.
"""
from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.errors import ClipError

CHANNELS = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CHANNEL_BY_KEY = {c.lower(): c for c in CHANNELS}
_AXES = np.eye(3)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: str.isdigit() also accepts "²", which int() rejects


class BVHError(ClipError):
    """A BVH file is malformed; the message names the file and the line."""

    def __init__(self, source: str, line: int | None, message: str):
        self.source, self.line, self.problem = source, line, message
        super().__init__(f"{source}: line {line}: {message}" if line else f"{source}: {message}")


@dataclass
class BVH:
    """A parsed BVH file: the skeleton (joints in file order, parents first) and its motion."""

    names: list[str]
    parents: np.ndarray  # (J,) parent joint index, -1 for the root
    offsets: np.ndarray  # (J, 3) in the parent's frame, file units
    channels: list[tuple[str, ...]]  # per joint, e.g. ("Zrotation", "Xrotation", "Yrotation")
    end_sites: list[np.ndarray]  # per joint: (k, 3) End Site offsets (k is usually 0 or 1)
    frame_time: float  # seconds
    motion: np.ndarray  # (F, C) channel values, C = total channels
    source: str = "<string>"
    lines: list[int] = field(default_factory=list)  # the line that declares each joint

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_frames(self) -> int:
        return len(self.motion)

    @property
    def channel_starts(self) -> np.ndarray:
        """First motion column of each joint."""
        counts = np.array([len(c) for c in self.channels], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, joint: int) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.parents == joint)]

    # ------------------------------------------------------------ kinematics

    def local_transforms(self, frames=slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Per-joint local translations (F, J, 3) and rotations (F, J, 4) of the chosen frames."""
        values = self.motion[frames]
        num = len(values)
        trans = np.broadcast_to(self.offsets, (num,) + self.offsets.shape).copy()
        rots = np.broadcast_to(quat.IDENTITY, (num, self.num_joints, 4)).copy()
        for j, (names, start) in enumerate(zip(self.channels, self.channel_starts)):
            rotation_axes, rotation_cols = [], []
            for k, channel in enumerate(names):
                axis = "XYZ".index(channel[0])
                if channel.endswith("position"):
                    trans[:, j, axis] = values[:, start + k]
                else:
                    rotation_axes.append(channel[0])
                    rotation_cols.append(start + k)
            if rotation_axes:
                rots[:, j] = euler_to_quat(values[:, rotation_cols], "".join(rotation_axes))
        return trans, rots

    def forward_kinematics(self, frames=slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """World positions (F, J, 3) and rotations (F, J, 4) of every joint, file units."""
        trans, rots = self.local_transforms(frames)
        pos = np.empty_like(trans)
        rot = np.empty_like(rots)
        for j, parent in enumerate(self.parents):  # parents come first: one pass
            if parent < 0:
                pos[:, j], rot[:, j] = trans[:, j], rots[:, j]
            else:
                pos[:, j] = pos[:, parent] + quat.rotate(rot[:, parent], trans[:, j])
                rot[:, j] = quat.multiply(rot[:, parent], rots[:, j])
        return pos, rot

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions of the rest pose (every rotation zero), the root at its OFFSET."""
        pos = np.zeros_like(self.offsets)
        for j, parent in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[parent] if parent >= 0 else 0.0)
        return pos


# ---------------------------------------------------------------- Euler angles


def euler_to_quat(degrees: np.ndarray, axes: str) -> np.ndarray:
    """Quaternions (..., 4) of Euler angles (..., k) applied in BVH order.

    ``axes`` names each angle's axis ("ZXY"); the rotation is R_1 * R_2 * ... * R_k,
    the first axis outermost, i.e. intrinsic rotations (scipy's upper-case orders).
    """
    degrees = np.asarray(degrees, dtype=np.float64)
    half = np.deg2rad(degrees) * 0.5
    out = None
    for k, axis in enumerate(axes.upper()):
        q = np.zeros(degrees.shape[:-1] + (4,))
        q[..., "XYZ".index(axis)] = np.sin(half[..., k])
        q[..., 3] = np.cos(half[..., k])
        out = q if out is None else quat.multiply(out, q)
    if out is None:
        return np.broadcast_to(quat.IDENTITY, degrees.shape[:-1] + (4,)).copy()
    return out


def quat_to_euler(q: np.ndarray, axes: str) -> np.ndarray:
    """Euler angles in degrees (..., 3) for three distinct BVH-ordered axes; inverse of euler_to_quat."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: the angles still give the rotation
        angles = Rotation.from_quat(q.reshape(-1, 4)).as_euler(axes.upper(), degrees=True)
    return angles.reshape(q.shape[:-1] + (3,))


# ---------------------------------------------------------------- parsing


class _Lines:
    """Tokens of the HIERARCHY section, with their line numbers."""

    def __init__(self, lines: list[str], source: str):
        self.lines, self.source = lines, source
        self.row = 0  # index of the current line
        self.tokens: list[str] = []
        self.pos = 0

    def fail(self, message: str, line: int | None = None) -> BVHError:
        return BVHError(self.source, line or self.line, message)

    @property
    def line(self) -> int:
        return self.row  # 1-based: row was advanced past the line being read

    def next(self, what: str) -> str:
        while self.pos >= len(self.tokens):
            if self.row >= len(self.lines):
                raise self.fail(f"the file ends where {what} was expected", line=max(len(self.lines), 1))
            self.tokens = self.lines[self.row].split()
            self.row += 1
            self.pos = 0
        self.pos += 1
        return self.tokens[self.pos - 1]

    def rest_of_line(self) -> list[str]:
        rest = self.tokens[self.pos:]
        self.pos = len(self.tokens)
        return rest

    def number(self, what: str) -> float:
        tok = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            raise self.fail(f"expected a number for {what}, got {tok!r}") from None
        if not math.isfinite(value):
            raise self.fail(f"{what} is not finite: {tok!r}")
        return value


def read_bvh(path: str | Path) -> BVH:
    """Parse a BVH file (see the module docstring for the conventions)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BVHError(str(path), None, "no such file") from None
    except OSError as exc:
        raise BVHError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # never fails; old exporters write Latin-1 names
    return parse_bvh(text, source=str(path))


def parse_bvh(text: str, source: str = "<string>") -> BVH:
    """Parse BVH text; raises BVHError naming `source` and the line of any problem."""
    lines = _LINE_BREAK.split(text.lstrip("\ufeff"))
    tokens = _Lines(lines, source)
    first = tokens.next("HIERARCHY")
    if first.upper() != "HIERARCHY":
        raise tokens.fail(f"expected HIERARCHY, got {first!r}")

    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray | None] = []
    channels: list[tuple[str, ...]] = []
    end_sites: list[list[np.ndarray]] = []
    declared_on: list[int] = []
    seen: dict[str, int] = {}
    # open blocks: ("joint", index) or ("end", parent index, [offset or None], line)
    stack: list[tuple] = []
    root_seen = False

    def open_brace(what: str):
        tok = tokens.next(f"'{{' after {what}")
        if tok != "{":
            raise tokens.fail(f"expected '{{' after {what}, got {tok!r}")

    while True:
        tok = tokens.next("ROOT" if not root_seen else "MOTION")
        key = tok.upper()
        if key in ("ROOT", "JOINT"):
            line = tokens.line
            if key == "ROOT" and (root_seen or stack):
                raise tokens.fail("a second ROOT: only one skeleton per file is supported" if not stack
                                  else "ROOT inside a joint (use JOINT)")
            if key == "JOINT" and not stack:
                raise tokens.fail("JOINT outside any joint's braces" if root_seen else "JOINT before ROOT")
            if key == "JOINT" and stack[-1][0] == "end":
                raise tokens.fail("JOINT inside an End Site")
            rest = tokens.rest_of_line()
            brace_here = bool(rest) and rest[-1] == "{"
            name = " ".join(rest[:-1] if brace_here else rest)
            if not name:
                raise tokens.fail(f"{key} without a name")
            if name in seen:
                raise tokens.fail(f"joint name {name!r} is used twice (first on line {seen[name]})")
            seen[name] = line
            parents.append(stack[-1][1] if stack else -1)
            names.append(name)
            offsets.append(None)
            channels.append(())
            end_sites.append([])
            declared_on.append(line)
            if not brace_here:
                open_brace(f"{key} {name}")
            stack.append(("joint", len(names) - 1))
            root_seen = True
        elif key == "END":
            if not stack:
                raise tokens.fail("End Site outside any joint's braces")
            if stack[-1][0] == "end":
                raise tokens.fail("End Site inside an End Site")
            site = tokens.next("'Site' after 'End'")
            if site.upper() != "SITE":
                raise tokens.fail(f"expected 'End Site', got 'End {site}'")
            line = tokens.line
            open_brace("End Site")
            stack.append(("end", stack[-1][1], [None], line))
        elif tok == "}":
            if not stack:
                raise tokens.fail("'}' without a matching '{'")
            block = stack.pop()
            if block[0] == "end":
                if block[2][0] is None:
                    raise tokens.fail("End Site without an OFFSET", line=block[3])
                end_sites[block[1]].append(block[2][0])
            elif offsets[block[1]] is None:
                raise tokens.fail(f"joint {names[block[1]]!r} has no OFFSET", line=declared_on[block[1]])
            if not stack:
                break  # the root's block is closed
        elif key == "OFFSET":
            if not stack:
                raise tokens.fail("OFFSET outside any joint's braces")
            value = np.array([tokens.number(f"OFFSET {axis}") for axis in "xyz"])
            block = stack[-1]
            if block[0] == "end":
                if block[2][0] is not None:
                    raise tokens.fail("a second OFFSET in the End Site")
                block[2][0] = value
            else:
                if offsets[block[1]] is not None:
                    raise tokens.fail(f"a second OFFSET in joint {names[block[1]]!r}")
                offsets[block[1]] = value
        elif key == "CHANNELS":
            if not stack or stack[-1][0] == "end":
                raise tokens.fail("CHANNELS outside a joint" if not stack else "CHANNELS in an End Site")
            joint = stack[-1][1]
            if channels[joint]:
                raise tokens.fail(f"a second CHANNELS in joint {names[joint]!r}")
            count_tok = tokens.next("the number of channels")
            if not _DIGITS.fullmatch(count_tok) or not 0 < int(count_tok) <= 6:
                raise tokens.fail(f"the channel count must be 1 to 6, got {count_tok!r}")
            found = []
            for _ in range(int(count_tok)):
                name = tokens.next("a channel name")
                channel = _CHANNEL_BY_KEY.get(name.lower())
                if channel is None:
                    raise tokens.fail(f"unknown channel {name!r} (known: {', '.join(CHANNELS)})")
                if channel in found:
                    raise tokens.fail(f"channel {channel} twice in joint {names[joint]!r}")
                found.append(channel)
            channels[joint] = tuple(found)
        elif key == "MOTION":
            raise tokens.fail("MOTION before the hierarchy is closed (a '}' is missing)" if stack
                              else "MOTION before any ROOT")
        elif tok == "{":
            raise tokens.fail("'{' without a ROOT, JOINT or End Site before it")
        else:
            raise tokens.fail(f"unexpected {tok!r} in the hierarchy")

    # ---- MOTION
    tok = tokens.next("MOTION")
    if tok.upper() != "MOTION":
        raise tokens.fail(f"expected MOTION after the hierarchy, got {tok!r}"
                          + (" (a second ROOT? only one skeleton per file is supported)" if tok.upper() == "ROOT" else ""))
    if tokens.rest_of_line():
        raise tokens.fail("unexpected text after MOTION")
    row = tokens.row
    num_channels = sum(len(c) for c in channels)
    if num_channels == 0:
        raise tokens.fail("the hierarchy has no CHANNELS", line=declared_on[0])

    def header(label: str) -> tuple[str, int]:
        nonlocal row
        while row < len(lines) and not lines[row].strip():
            row += 1
        if row >= len(lines):
            raise BVHError(source, len(lines), f"the file ends where '{label}' was expected")
        line_text, line_no = lines[row].strip(), row + 1
        row += 1
        if not line_text.lower().startswith(label.lower()):
            raise BVHError(source, line_no, f"expected '{label}', got {line_text[:40]!r}")
        return line_text[len(label):].strip(), line_no

    value, line_no = header("Frames:")
    if not _DIGITS.fullmatch(value) or int(value) < 1:
        raise BVHError(source, line_no, f"'Frames:' needs a positive whole number, got {value[:40]!r}")
    num_frames = int(value)
    value, line_no = header("Frame Time:")
    try:
        frame_time = float(value)
    except ValueError:
        raise BVHError(source, line_no, f"'Frame Time:' needs a number of seconds, got {value[:40]!r}") from None
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise BVHError(source, line_no, f"'Frame Time:' must be positive, got {value[:40]!r}")

    motion = _motion_values(lines, row, num_frames, num_channels, source)
    return BVH(
        names=names,
        parents=np.array(parents, dtype=np.int64),
        offsets=np.array(offsets, dtype=np.float64).reshape(-1, 3),
        channels=channels,
        end_sites=[np.array(e, dtype=np.float64).reshape(-1, 3) for e in end_sites],
        frame_time=frame_time,
        motion=motion,
        source=source,
        lines=declared_on,
    )


def _motion_values(lines: list[str], row: int, num_frames: int, num_channels: int, source: str) -> np.ndarray:
    """(F, C) values: exactly one line of C numbers per frame (blank lines are skipped)."""
    rows, numbers = [], []
    for i in range(row, len(lines)):
        parts = lines[i].split()
        if not parts:
            continue
        if len(rows) == num_frames:
            raise BVHError(source, i + 1, f"more frame lines than the {num_frames} declared by 'Frames:'")
        if len(parts) != num_channels:
            raise BVHError(source, i + 1, f"frame {len(rows)} has {len(parts)} values; "
                                          f"the hierarchy has {num_channels} channels")
        rows.append(i + 1)
        numbers.append(parts)
    if len(rows) < num_frames:
        raise BVHError(source, len(lines), f"'Frames:' declares {num_frames} frames but {len(rows)} follow")
    try:
        motion = np.array(numbers, dtype=np.float64)
    except (ValueError, OverflowError):  # numpy's parser is stricter than float(): redo it line by line
        motion = None
    if motion is None or not np.all(np.isfinite(motion)):
        converted = []
        for line_no, parts in zip(rows, numbers):
            try:
                values = [float(tok) for tok in parts]
            except ValueError:
                values = [math.nan]
            if not all(math.isfinite(v) for v in values):
                bad = next(tok for tok in parts if not _finite(tok))
                raise BVHError(source, line_no, f"not a finite number: {bad[:40]!r}")
            converted.append(values)
        motion = np.array(converted, dtype=np.float64)
    return motion.reshape(num_frames, num_channels)


def _finite(tok: str) -> bool:
    try:
        return math.isfinite(float(tok))
    except ValueError:
        return False


# ---------------------------------------------------------------- writing


def format_bvh(bvh: BVH, digits: int = 6) -> str:
    """BVH text of `bvh` (tabs for indentation, one line per frame)."""
    out = ["HIERARCHY"]
    children = {j: bvh.children(j) for j in range(bvh.num_joints)}
    written: list[int] = []  # joints in the order the hierarchy lists them: the motion columns follow it

    def number(v: float) -> str:
        text = f"{v:.{digits}f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text

    def emit(j: int, depth: int):
        written.append(j)
        pad = "\t" * depth
        out.append(f"{pad}{'ROOT' if bvh.parents[j] < 0 else 'JOINT'} {bvh.names[j]}")
        out.append(pad + "{")
        out.append(f"{pad}\tOFFSET {' '.join(number(v) for v in bvh.offsets[j])}")
        if bvh.channels[j]:
            out.append(f"{pad}\tCHANNELS {len(bvh.channels[j])} {' '.join(bvh.channels[j])}")
        for c in children[j]:
            emit(c, depth + 1)
        for site in bvh.end_sites[j]:
            out.extend([f"{pad}\tEnd Site", pad + "\t{",
                        f"{pad}\t\tOFFSET {' '.join(number(v) for v in site)}", pad + "\t}"])
        out.append(pad + "}")

    for root in np.flatnonzero(bvh.parents < 0):
        emit(int(root), 0)
    out += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.9g}"]
    body = io.StringIO()
    starts = bvh.channel_starts
    columns = [c for j in written for c in range(starts[j], starts[j] + len(bvh.channels[j]))]
    np.savetxt(body, bvh.motion[:, columns], fmt=f"%.{digits}f", delimiter=" ")
    return "\n".join(out) + "\n" + body.getvalue()


def write_bvh(bvh: BVH, path: str | Path, digits: int = 6) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_bvh(bvh, digits))
    return path
