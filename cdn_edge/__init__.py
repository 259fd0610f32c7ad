"""cdn_edge: the caching tier (edges and the origin shield are the same component, two roles)."""
