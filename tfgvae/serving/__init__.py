"""Serving a trained model: SavedModels with tensor-only signatures, exported atomically."""
