"""The fixed home of ``homegrid/cat-values-v0``: a kitchen and a living room on a 14×12 grid.

The layout is one fixed map (the seed-003 environment kept it fixed across
episodes too). ``#`` is wall, ``.`` is floor, letters are furniture; walls and
furniture both block the robot. Columns 1–6 are the kitchen (tiled floor),
columns 8–12 the living room (wooden floor); a partial wall at column 7 with a
wide opening in rows 4–6 joins them.

Placement rules (seed 003, made precise here):

* Robot and fruit: an ordered pair of distinct accessible tiles drawn uniformly
  from all pairs whose **shortest walking (BFS) distance** over accessible tiles
  is at least ``min_distance`` (3 by default). BFS rather than Manhattan so that
  a wall between two close tiles counts as the detour it is.
* Cat: a point ``p = r + u·(f − r)`` is drawn with ``u ~ U[0, 1]`` on the
  straight segment between the robot's and the fruit's tile centres; the cat
  goes on the accessible tile nearest to ``p`` (Euclidean, ties to the first
  tile in row-major order) among tiles at **Chebyshev distance ≥
  cat_clearance** from both the robot and the fruit. The default 1 reads the
  seed's "at least one tile from the agent and from the fruit" as "on neither
  of their tiles" (adjacent is allowed).
"""

from __future__ import annotations

from collections import deque

import numpy as np

WIDTH = 14
HEIGHT = 12

# Row y (top to bottom), column x (left to right).
LAYOUT: tuple[str, ...] = (
    "##############",
    "#FCCSKC#BB..P#",
    "#......#.....#",
    "#......#...A.#",
    "#..TT........#",
    "#..TT....c...#",
    "#........OOO.#",
    "#......#.....#",
    "#C.....#.....#",
    "#C.....#.....#",
    "#CC....#P..VV#",
    "##############",
)

FURNITURE: dict[str, str] = {
    "#": "wall",
    "F": "fridge",
    "C": "kitchen counter",
    "S": "stove",
    "K": "sink",
    "T": "dining table",
    "B": "bookshelf",
    "P": "potted plant",
    "A": "armchair",
    "c": "coffee table",
    "O": "sofa",
    "V": "television",
}

KITCHEN_MAX_X = 6  # columns 1..6 are the kitchen; 7 is the dividing wall and its opening
# Action index -> (dx, dy, name). y grows downwards, so north is dy = -1.
DIRECTIONS: tuple[tuple[int, int, str], ...] = ((0, -1, "north"), (0, 1, "south"), (1, 0, "east"), (-1, 0, "west"))
DX = np.array([d[0] for d in DIRECTIONS], dtype=np.int64)
DY = np.array([d[1] for d in DIRECTIONS], dtype=np.int64)

ACCESSIBLE: np.ndarray = np.array([[c == "." for c in row] for row in LAYOUT], dtype=bool)
ACCESSIBLE.setflags(write=False)
# Accessible tiles as (x, y) rows, in row-major order, shape (K, 2).
ACCESSIBLE_XY: np.ndarray = np.array([(x, y) for y in range(HEIGHT) for x in range(WIDTH) if ACCESSIBLE[y, x]])
ACCESSIBLE_XY.setflags(write=False)

if any(len(r) != WIDTH for r in LAYOUT) or len(LAYOUT) != HEIGHT:
    raise AssertionError("homegrid layout must be 14 wide and 12 high")


def room_of(x: int, y: int) -> str:
    """Name of the room a tile belongs to: ``"kitchen"`` or ``"living room"``."""
    return "kitchen" if x <= KITCHEN_MAX_X else "living room"


def blocker_name(x: int, y: int) -> str:
    """What occupies a blocked tile, e.g. ``"sofa"`` (``"floor"`` if it is accessible)."""
    return FURNITURE.get(LAYOUT[y][x], "floor")


def nearby_furniture(x: int, y: int) -> str | None:
    """The furniture piece next to a tile (4-neighbourhood, walls ignored), or ``None``."""
    for dx, dy, _ in DIRECTIONS:
        ch = LAYOUT[y + dy][x + dx] if 0 <= y + dy < HEIGHT and 0 <= x + dx < WIDTH else "#"
        if ch not in ".#":
            return FURNITURE[ch]
    return None


def _bfs_distances() -> np.ndarray:
    """All-pairs walking distances between accessible tiles, shape ``(K, K)``, int64 (-1 = unreachable)."""
    k = len(ACCESSIBLE_XY)
    index = {(int(x), int(y)): i for i, (x, y) in enumerate(ACCESSIBLE_XY)}
    dist = np.full((k, k), -1, dtype=np.int64)
    for src, (sx, sy) in enumerate(ACCESSIBLE_XY):
        dist[src, src] = 0
        queue = deque([(int(sx), int(sy))])
        while queue:
            x, y = queue.popleft()
            d = dist[src, index[(x, y)]]
            for dx, dy, _ in DIRECTIONS:
                j = index.get((x + dx, y + dy))
                if j is not None and dist[src, j] < 0:
                    dist[src, j] = d + 1
                    queue.append((x + dx, y + dy))
    return dist


PATH_DISTANCE: np.ndarray = _bfs_distances()
PATH_DISTANCE.setflags(write=False)
if (PATH_DISTANCE < 0).any():
    raise AssertionError("homegrid layout must be connected")


def valid_pairs(min_distance: int = 3) -> np.ndarray:
    """Ordered (robot, fruit) index pairs into ``ACCESSIBLE_XY`` at walking distance ≥ ``min_distance``.

    Returns:
        Index pairs, shape ``(P, 2)`` int64.
    """
    r, f = np.nonzero(min_distance <= PATH_DISTANCE)
    return np.stack([r, f], axis=1)


def place_cat(robot: np.ndarray, fruit: np.ndarray, u: np.ndarray, cat_clearance: int = 1) -> np.ndarray:
    """Cat tiles for a batch of robot/fruit placements (the seed's straight-line rule).

    Args:
        robot: Robot tiles ``(x, y)``, shape ``(N, 2)`` int.
        fruit: Fruit tiles ``(x, y)``, shape ``(N, 2)`` int.
        u: Fractions along the robot→fruit segment, shape ``(N,)`` in ``[0, 1]``.
        cat_clearance: Minimum Chebyshev distance in tiles from both robot and fruit.

    Returns:
        Cat tiles ``(x, y)``, shape ``(N, 2)`` int64.
    """
    tiles = ACCESSIBLE_XY[None, :, :]  # (1, K, 2)
    point = robot[:, None, :] + u[:, None, None] * (fruit - robot)[:, None, :]  # (N, 1, 2)
    d2 = ((tiles - point) ** 2).sum(-1)  # (N, K)
    cheb_r = np.abs(tiles - robot[:, None, :]).max(-1)
    cheb_f = np.abs(tiles - fruit[:, None, :]).max(-1)
    d2 = np.where((cheb_r >= cat_clearance) & (cheb_f >= cat_clearance), d2, np.inf)
    return ACCESSIBLE_XY[np.argmin(d2, axis=1)].astype(np.int64)


def sample_placements(
    rng: np.random.Generator, n: int, pairs: np.ndarray, cat_clearance: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` start states: robot, fruit and cat tiles plus the robot's facing.

    Args:
        rng: Source of randomness (consumed in a fixed order, so seeding is reproducible).
        n: Number of placements.
        pairs: Allowed (robot, fruit) index pairs from ``valid_pairs``, shape ``(P, 2)``.
        cat_clearance: See ``place_cat``.

    Returns:
        ``(robot, fruit, cat, facing)``: tiles of shape ``(n, 2)`` int64 as ``(x, y)``
        and facing action indices of shape ``(n,)`` int64.
    """
    idx = rng.integers(len(pairs), size=n)
    u = rng.random(n)
    facing = rng.integers(4, size=n)
    robot = ACCESSIBLE_XY[pairs[idx, 0]].astype(np.int64)
    fruit = ACCESSIBLE_XY[pairs[idx, 1]].astype(np.int64)
    return robot, fruit, place_cat(robot, fruit, u, cat_clearance), facing.astype(np.int64)
