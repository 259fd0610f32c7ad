"""Edge purges: removing a deleted asset from every shield and edge cache, retried until each answered."""
