"""origin: serves published objects from the media bucket over correct HTTP."""
