"""Images made on demand from the published ladder: thumbnails at any time, animated previews."""
