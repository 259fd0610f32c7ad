from __future__ import annotations

from cdn_edge.routing import owner, rank


def test_adding_an_edge_moves_about_one_nth_of_keys() -> None:
    keys = [f"asset{i // 50}/360p/seg_{i:05d}.m4s" for i in range(20_000)]
    before = ["edge-a", "edge-b", "edge-c", "edge-d"]
    after = [*before, "edge-e"]
    moved = [k for k in keys if owner(k, before) != owner(k, after)]
    assert abs(len(moved) / len(keys) - 1 / 5) < 0.02
    assert all(owner(k, after) == "edge-e" for k in moved)  # only onto the new edge
    share = sum(owner(k, before) == "edge-a" for k in keys) / len(keys)
    assert abs(share - 0.25) < 0.02


def test_rank_is_a_fallback_order() -> None:
    nodes = ["x", "y", "z"]
    order = rank("k", nodes)
    assert order[0] == owner("k", nodes) and sorted(order) == nodes
    assert owner("k", [n for n in nodes if n != order[0]]) == order[1]
