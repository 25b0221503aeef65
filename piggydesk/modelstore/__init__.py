"""The model store: catalogue, resumable downloads, and installed model bundles."""
